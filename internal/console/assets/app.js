// The console page's script: fetches /console/data.json every five seconds
// and redraws the page from it. Every text from the data goes into the
// page through text nodes (append, textContent), never as markup, so a
// policy title such as "<b>" shows as written.
(() => {
  'use strict';

  const REFRESH_MS = 5000;
  const TIMEOUT_MS = 10000; // a stuck request must not stop the refreshes
  const SLOW_DUE_SECONDS = 300; // an oldest due notice older than this is flagged

  const nf = new Intl.NumberFormat('zh-CN');

  const SUBJECTS = { resident: '个人', enterprise: '企业' };
  const STATUSES = { active: '生效', draft: '草案', repealed: '已废止' };
  const CHANNELS = { wechat: '微信', sms: '短信' };
  const ROLES = { viewer: '查看', reviewer: '审核', publisher: '发布', admin: '管理员' };
  const SWEEP_KINDS = { backfill: '存量补推', time: '定期复查' };
  const SWEEP_STATUSES = { running: '进行中', done: '已完成' };
  const FUNNEL = [
    ['matched', '匹配'],
    ['sent', '已发送'],
    ['delivered', '已送达'],
    ['clicked', '已点击'],
  ];
  // The answers people gave on the notice page (确认申领 / 信息有误 / 不再接收).
  const ANSWERS = [
    ['claimed', '已申领'],
    ['disputed', '信息有误'],
    ['stopped', '不再接收'],
  ];
  const OTHER = [
    ['waiting', '待发送'],
    ['waiting_for_channel', '待渠道'],
    ['waiting_for_consent', '待同意'],
    ['failed', '失败'],
    ['suppressed', '已屏蔽'],
    ['cancelled', '已撤销'],
  ];

  let shownAt = null; // generated_at of the data on screen

  // el builds an element. attrs are set with setAttribute (class via
  // className); children are nodes or strings, and strings become text.
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else e.setAttribute(k, String(v));
    }
    e.append(...children.filter((c) => c !== null && c !== undefined));
    return e;
  }

  function label(map, key) {
    return Object.prototype.hasOwnProperty.call(map, key) ? map[key] : String(key || '—');
  }

  function num(n) {
    return nf.format(Number(n) || 0);
  }

  function pct(part, whole) {
    if (!(whole > 0)) return '—';
    return (Math.round((1000 * part) / whole) / 10).toString() + '%';
  }

  function pad(n) {
    return String(n).padStart(2, '0');
  }

  // when formats an RFC 3339 time in local time, or returns null for Go's
  // zero time (year 1), which means "never".
  function when(iso) {
    const d = new Date(iso);
    if (!iso || Number.isNaN(d.getTime()) || d.getFullYear() < 2000) return null;
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
      `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }

  // age says how long in the largest two units that matter.
  function age(seconds) {
    if (!(seconds >= 1)) return '不到 1 秒';
    const s = Math.floor(seconds);
    const d = Math.floor(s / 86400);
    const h = Math.floor((s % 86400) / 3600);
    const m = Math.floor((s % 3600) / 60);
    const x = s % 60;
    if (d > 0) return `${d} 天 ${h} 小时`;
    if (h > 0) return `${h} 小时 ${m} 分`;
    if (m > 0) return `${m} 分 ${x} 秒`;
    return `${x} 秒`;
  }

  function setText(id, text, cls) {
    const e = document.getElementById(id);
    e.textContent = text;
    e.className = cls || '';
  }

  function emptyRow(cols, text) {
    return el('tr', null, el('td', { colspan: cols, class: 'empty' }, text));
  }

  function renderBacklog(b) {
    setText('outbox-waiting', num(b.outbox_waiting));
    if (!(b.outbox_waiting > 0) && !(b.oldest_due_seconds > 0)) {
      setText('oldest-due', '无待发通知');
    } else {
      setText('oldest-due', age(b.oldest_due_seconds), b.oldest_due_seconds > SLOW_DUE_SECONDS ? 'warn' : '');
    }
    setText('dlq', num(b.dlq_messages), b.dlq_messages > 0 ? 'bad' : '');
    setText('unknown-outcome', num(b.unknown_outcome), b.unknown_outcome > 0 ? 'bad' : '');
  }

  function renderRules(r) {
    const at = when(r.last_reload);
    setText('reload-at', at || '启动后尚未重载');
    if (at) setText('reload-ok', r.last_reload_ok ? '成功' : '失败，沿用原规则', r.last_reload_ok ? 'ok' : 'bad');
    else setText('reload-ok', '—');
    setText('rules-loaded', `${num(r.loaded)} 条`);
  }

  function policyRow(p, max) {
    const id = String(p.id);
    const state = p.in_force ? '生效中' : `未生效 · ${label(STATUSES, p.status)}`;
    const head = el('th', { scope: 'row', class: 'policy' },
      el('span', { class: 'title', 'data-key': `policy/${id}/title` }, String(p.title || id)),
      el('span', { class: 'meta' },
        el('span', { class: 'tag' }, label(SUBJECTS, p.subject)),
        el('span', { class: p.in_force ? 'tag' : 'tag off', 'data-key': `policy/${id}/state` }, state),
        el('code', null, id)));

    // The bars overlay one another, longest first, each as long as its
    // stage's count relative to the largest match count on the page.
    const bar = el('div', { class: 'bar', 'aria-hidden': 'true' });
    for (const [stage] of FUNNEL) {
      const n = Number(p[stage]) || 0;
      if (n <= 0) continue;
      const seg = el('span', { class: `seg ${stage}` });
      seg.style.width = `${Math.max(0.5, (100 * n) / max)}%`; // CSSOM, which the CSP allows
      bar.append(seg);
    }

    const cells = FUNNEL.map(([stage], i) => {
      const td = el('td', { class: 'num' },
        el('span', { 'data-policy': id, 'data-stage': stage, 'data-key': `policy/${id}/${stage}` }, num(p[stage])));
      if (i > 0) td.append(el('span', { class: 'rate' }, pct(p[stage], p[FUNNEL[i - 1][0]])));
      return td;
    });
    const answers = ANSWERS.map(([stage]) => el('td', { class: 'num' },
      el('span', { 'data-policy': id, 'data-stage': stage, 'data-key': `policy/${id}/${stage}` }, num(p[stage]))));
    const others = OTHER.map(([stage]) => el('td', { class: stage === 'failed' && p.failed > 0 ? 'num bad' : 'num' },
      el('span', { 'data-policy': id, 'data-stage': stage, 'data-key': `policy/${id}/${stage}` }, num(p[stage]))));

    return el('tr', { class: p.in_force ? null : 'not-in-force' }, head, el('td', { class: 'chart' }, bar), ...cells, ...answers, ...others);
  }

  function renderPolicies(list) {
    const body = document.getElementById('policies');
    if (list.length === 0) {
      body.replaceChildren(emptyRow(15, '暂无政策'));
      return;
    }
    const max = list.reduce((m, p) => Math.max(m, Number(p.matched) || 0), 1);
    body.replaceChildren(...list.map((p) => policyRow(p, max)));
  }

  function channelRow(c) {
    const ch = String(c.channel);
    const cell = (stage, cls) => el('td', { class: cls || 'num' },
      el('span', { 'data-channel': ch, 'data-stage': stage, 'data-key': `channel/${ch}/${stage}` }, num(c[stage])));
    const rate = pct(c.delivered, c.sent);
    const meter = el('div', { class: 'meter', 'aria-hidden': 'true' });
    if (c.sent > 0) {
      const fill = el('span', null);
      fill.style.width = `${(100 * c.delivered) / c.sent}%`;
      meter.append(fill);
    }
    return el('tr', null,
      el('th', { scope: 'row' }, label(CHANNELS, ch)),
      cell('sent'),
      cell('delivered'),
      el('td', null, el('div', { class: 'rate-box' }, meter,
        el('span', { 'data-channel': ch, 'data-stage': 'rate', 'data-key': `channel/${ch}/rate` }, rate))),
      cell('failed', c.failed > 0 ? 'num bad' : 'num'),
      cell('waiting'),
      cell('suppressed'),
      cell('fallbacks'));
  }

  function renderChannels(list) {
    const body = document.getElementById('channels');
    body.replaceChildren(...(list.length ? list.map(channelRow) : [emptyRow(8, '暂无发送记录')]));
  }

  function sweepRow(s) {
    const id = String(s.id);
    const total = Math.max(0, Number(s.total_chunks) || 0);
    const done = Math.min(total, Math.max(0, Number(s.done_chunks) || 0));
    const progress = el('progress', { max: total || 1, value: total ? done : 0, 'aria-label': `任务 ${id} 进度` });
    return el('tr', null,
      el('td', { class: 'num' }, id),
      el('td', null, label(SWEEP_KINDS, s.kind)),
      el('td', null, label(SUBJECTS, s.subject_type)),
      el('td', { 'data-key': `sweep/${id}/status`, class: s.status === 'running' ? 'running' : '' }, label(SWEEP_STATUSES, s.status)),
      el('td', { class: 'progress-cell' }, progress,
        el('span', { 'data-key': `sweep/${id}/progress` }, `${num(done)} / ${num(total)} 批（${pct(done, total)}）`)),
      el('td', { class: 'num', 'data-key': `sweep/${id}/profiles` }, num(s.profiles)),
      el('td', { class: 'num', 'data-key': `sweep/${id}/matched` }, num(s.matched)));
  }

  function renderSweeps(list) {
    const body = document.getElementById('sweeps');
    body.replaceChildren(...(list.length ? list.map(sweepRow) : [emptyRow(7, '暂无回溯任务')]));
  }

  function render(data) {
    renderBacklog(data.backlog || {});
    renderRules(data.rules || {});
    renderPolicies(data.policies || []);
    renderChannels(data.channels || []);
    renderSweeps(data.sweeps || []);
    const t = document.getElementById('updated');
    t.textContent = when(data.generated_at) || '—';
    t.setAttribute('datetime', String(data.generated_at || ''));
    shownAt = when(data.generated_at);
  }

  // showError shows the banner, or hides it for null. It is the page's only
  // way of reporting trouble: an officer does not open the developer tools.
  function showError(msg) {
    const b = document.getElementById('error');
    if (msg === null) {
      b.hidden = true;
      b.textContent = '';
      return;
    }
    const shown = shownAt ? `页面上仍是 ${shownAt} 的数据。` : '暂时没有可显示的数据。';
    const text = `数据刷新失败：${msg}。${shown}${REFRESH_MS / 1000} 秒后自动重试。`;
    // Rewritten only when it changes: a screen reader announces the
    // alert again on every change.
    if (b.textContent !== text) b.textContent = text;
    b.hidden = false;
  }

  async function load() {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), TIMEOUT_MS);
    let res;
    try {
      res = await fetch('/console/data.json', { cache: 'no-store', signal: ctl.signal, headers: { Accept: 'application/json' } });
    } catch (err) {
      throw new Error(err && err.name === 'AbortError' ? '服务器响应超时' : '无法连接服务器');
    } finally {
      clearTimeout(timer);
    }
    let body = null;
    try {
      body = await res.json();
    } catch (err) {
      // Not JSON (a proxy's error page, say): the status below says enough.
    }
    if (res.status === 401) {
      // The session ended (logout elsewhere, or its 8 hours are up).
      window.location.assign('/console/login');
      throw new Error('登录已过期，正在转到登录页');
    }
    if (!res.ok) {
      const why = body && typeof body.error === 'string' ? `（${body.error}）` : '';
      throw new Error(`服务器返回 ${res.status}${why}`);
    }
    if (!body || typeof body !== 'object') throw new Error('服务器返回的数据无法解析');
    return body;
  }

  async function refresh() {
    try {
      render(await load());
      showError(null);
      document.body.dataset.state = 'ok';
    } catch (err) {
      showError(err && err.message ? err.message : String(err));
      document.body.dataset.state = 'error';
    } finally {
      // Scheduled after the answer rather than on an interval, so that a
      // slow server never has two requests from one page at once.
      setTimeout(refresh, REFRESH_MS);
    }
  }

  // showOfficer shows who is signed in and arms the logout form with the
  // session's CSRF token (from /console/session.json, so the page itself
  // stays a static file).
  async function showOfficer() {
    try {
      const res = await fetch('/console/session.json', { cache: 'no-store', headers: { Accept: 'application/json' } });
      if (!res.ok) return; // data.json's refresh deals with a lost session
      const s = await res.json();
      document.getElementById('officer').textContent = String(s.name || '');
      document.getElementById('officer-role').textContent = label(ROLES, s.role);
      document.getElementById('logout-csrf').value = String(s.csrf || '');
      document.getElementById('session').hidden = false;
    } catch (err) {
      // The header stays without a name; the data's banner reports trouble.
    }
  }

  showOfficer();
  refresh();
})();
