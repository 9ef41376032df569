package console

const reviewHTML = `
{{define "head"}}<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · 政策推送</title>
<link rel="icon" href="/console/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/console/style.css">
<link rel="stylesheet" href="/console/review.css">
</head>
<body data-state="ok">
<header class="top">
  <div>
    <h1>{{.Title}}</h1>
    <nav class="tabs">
      <a href="/">运行看板</a>
      <a href="/console/review"{{if eq .Nav "review"}} aria-current="page"{{end}}>案件审核</a>
      <a href="/console/disputes"{{if eq .Nav "disputes"}} aria-current="page"{{end}}>信息有误</a>
      <a href="/console/funnel"{{if eq .Nav "funnel"}} aria-current="page"{{end}}>漏斗与趋势</a>
    </nav>
  </div>
  <div class="top-side">
    {{if .Officer.Name}}<form class="session" method="post" action="/console/logout">
      <span class="who">当前用户：<strong id="officer">{{.Officer.Name}}</strong>（{{.Officer.Role}}）</span>
      <input type="hidden" name="csrf" value="{{.CSRF}}">
      <button type="submit">退出登录</button>
    </form>{{end}}
  </div>
</header>
{{if .Error}}<div id="error" class="banner" role="alert">{{.Error}}</div>{{end}}
{{if .Notice}}<div id="notice" class="banner ok-banner" role="status" data-done="{{.Notice}}">{{.Notice}}</div>{{end}}
<main>
{{end}}

{{define "foot"}}</main>
</body>
</html>
{{end}}

{{define "error"}}{{template "head" .}}<p>请稍后刷新本页。</p>{{template "foot" .}}{{end}}

{{define "queue"}}{{template "head" .}}
<section class="panel">
  <h2>政策</h2>
  <ul class="policy-list">
  {{range .Policies}}<li><a href="/console/review?policy={{.ID}}&amp;status={{$.Status}}"{{if eq .ID $.Policy.ID}} aria-current="page"{{end}}>{{.Title}}</a>{{if .Review}} <span class="tag">需审核</span>{{end}}</li>
  {{end}}</ul>
</section>
{{if .Policy.ID}}
<section class="panel">
  <div class="panel-head">
    <h2 id="queue-title">{{.Policy.Title}}：{{status .Status}}</h2>
    <p class="filters">{{range .Statuses}}<a href="/console/review?policy={{$.Policy.ID}}&amp;status={{.}}"{{if eq . $.Status}} aria-current="page"{{end}}>{{status .}}</a> {{end}}</p>
  </div>
  {{if not .Policy.Review}}<p class="note">本政策不需审核：申领即通过。</p>{{end}}
  <form id="decide" method="post" action="/console/review/decide">
    <input type="hidden" name="csrf" value="{{.CSRF}}">
    <input type="hidden" name="policy" value="{{.Policy.ID}}">
    <input type="hidden" name="status" value="{{.Status}}">
    {{if .Cases}}
    <div class="table-wrap">
    <table class="cases">
      <thead><tr>{{if .CanAct}}<th scope="col"><span class="visually-hidden">选择</span></th>{{end}}<th scope="col">案件</th><th scope="col">对象</th><th scope="col">状态</th><th scope="col">金额（元）</th><th scope="col">判断依据</th><th scope="col">数据日期</th><th scope="col">更新时间</th>{{if .CanAct}}<th scope="col">操作</th>{{end}}</tr></thead>
      <tbody>
      {{range .Cases}}<tr id="case-{{.ID}}" data-case="{{.ID}}" data-status="{{.Status}}">
        {{if $.CanAct}}<td><input type="checkbox" name="id" value="{{.ID}}" id="pick-{{.ID}}" aria-label="选择案件 {{.ID}}"></td>{{end}}
        <td>{{.ID}}</td>
        <td>{{.SubjectMasked}}</td>
        <td class="status">{{status .Status}}{{if .Reason}}<br><small>理由：{{.Reason}}</small>{{end}}{{if .DecidedBy}}<br><small>经办：{{.DecidedBy}}</small>{{end}}</td>
        <td class="num">{{.AmountText}}</td>
        <td><ul class="conds">{{range .Conditions}}<li class="v-{{.Verdict}}"><span aria-hidden="true">{{.Mark}}</span> {{.Name}}</li>{{end}}</ul></td>
        <td>{{if .DataDate}}{{.DataDate}}{{else}}—{{end}}</td>
        <td>{{.Updated}}</td>
        {{if $.CanAct}}<td class="row-actions"><button type="submit" name="decision" value="approve:{{.ID}}" id="approve-{{.ID}}">通过</button> <button type="submit" name="decision" value="reject:{{.ID}}" id="reject-{{.ID}}" class="reject">不通过</button></td>{{end}}
      </tr>
      {{end}}</tbody>
    </table>
    </div>
    {{if .CanAct}}
    <div class="batch">
      <label for="reason">理由（不通过时必填，记入案件和审计记录）</label>
      <textarea id="reason" name="reason" rows="2" maxlength="500"></textarea>
      <div class="batch-buttons">
        <button type="submit" name="decision" value="approve" id="approve-selected">通过所选</button>
        <button type="submit" name="decision" value="reject" id="reject-selected" class="reject">不通过所选</button>
      </div>
    </div>
    {{end}}
    {{else}}<p id="empty" class="note">没有{{status .Status}}的案件。</p>{{end}}
  </form>
  <p class="note"><a href="/api/policies/{{.Policy.ID}}/cases.csv">导出已通过名单（CSV，供拨付）</a> · <a href="/policies/{{.Policy.ID}}/publicity">公示页</a></p>
</section>
{{end}}
{{template "foot" .}}{{end}}

{{define "disputes"}}{{template "head" .}}
{{range .Sources}}<section class="panel" id="source-{{.Source}}">
  <div class="panel-head"><h2>数据来源：{{.Source}}</h2><p>待更正 <strong>{{.Open}}</strong> · 已更正 <strong>{{.Fixed}}</strong></p></div>
  <div class="table-wrap"><table>
    <thead><tr><th scope="col">编号</th><th scope="col">政策</th><th scope="col">对象</th><th scope="col">字段</th><th scope="col">条件</th><th scope="col">说明</th><th scope="col">状态</th><th scope="col">提出</th><th scope="col">已发送</th><th scope="col">更正</th></tr></thead>
    <tbody>{{range .Requests}}<tr><td>{{.ID}}</td><td>{{.PolicyID}}</td><td>{{.SubjectMasked}}</td><td>{{join .Fields "、"}}</td><td>{{join .Conditions "、"}}</td><td>{{.Note}}</td><td>{{if eq .Status "open"}}待更正{{else}}已更正{{end}}</td><td>{{.ReportedAt.Format "2006-01-02"}}</td><td>{{time .PublishedAt}}</td><td>{{time .FixedAt}}</td></tr>
    {{end}}</tbody>
  </table></div>
</section>
{{else}}<p class="note" id="empty">还没有更正请求。</p>{{end}}
{{template "foot" .}}{{end}}

{{define "funnelrow"}}<tr{{if .Flagged}} class="flagged"{{end}} data-policy="{{.PolicyID}}">
  <th scope="row"><a href="/console/funnel{{with .PolicyID}}?policy={{.}}{{end}}#trend"{{if eq .PolicyID .Selected}} aria-current="true"{{end}}>{{if .Flagged}}<span class="bad" aria-hidden="true">⚠ </span>{{end}}{{.Title}}</a>{{if .Flagged}}<br><strong class="bad flag">{{.FlagReason}}</strong>{{end}}</th>
  {{$r := .Report}}{{$k := pid .PolicyID}}{{range $s := $.Steps}}<td class="num"><span data-key="funnel/{{$k}}/{{$s}}">{{count $r.Steps $s}}</span>{{with conv $r $s}}<br><small data-key="funnel/{{$k}}/{{$s}}/conv">{{.}}</small>{{end}}</td>{{end}}
  <td class="num granted" data-key="funnel/{{$k}}/granted_yuan">{{yuan .GrantedAmount}}</td>
  <td class="num">{{hours .MedianMatchToGrantHours}}</td>
  <td class="num">{{per .DisputesPer1000}}</td>
  <td class="num">{{per .StopsPer1000}}</td>
  <td class="num" data-key="funnel/{{$k}}/backfill">{{(index .Sources "backfill").Matched}}</td>
  <td class="num">{{(index .Sources "time").Matched}}</td>
</tr>{{end}}

{{define "funnel"}}{{template "head" .}}
{{with .Flagged}}<div id="flagged" class="banner" role="note">
  <strong>⚠ {{len .}} 项政策的信息有误或不再接收率远高于其他政策</strong>，多半是规则或数据来源有误：
  {{range $i, $p := .}}{{if $i}}、{{end}}<a href="/console/funnel?policy={{$p.PolicyID}}#trend">{{$p.Title}}</a>{{end}}。它们排在表的最前面。
</div>{{end}}
<section class="panel" id="trend" data-policy="{{.Selected}}">
  <div class="panel-head">
    <h2 id="trend-heading">近30天趋势：{{.Chart.Title}}</h2>
    <form class="trend-pick" method="get" action="/console/funnel#trend">
      <label for="trend-policy">看哪项政策</label>
      <select id="trend-policy" name="policy">
        <option value=""{{if not .Selected}} selected{{end}}>全部政策</option>
        {{with .Flagged}}<optgroup label="已标出（率远高于其他政策）">{{range .}}<option value="{{.PolicyID}}"{{if eq .PolicyID $.Selected}} selected{{end}}>⚠ {{.Title}}</option>{{end}}</optgroup>{{end}}
        <optgroup label="{{if .Flagged}}其他政策{{else}}各项政策{{end}}">{{range .Policies}}{{if not .Flagged}}<option value="{{.PolicyID}}"{{if eq .PolicyID $.Selected}} selected{{end}}>{{.Title}}</option>{{end}}{{end}}</optgroup>
        {{with .Quiet}}<optgroup label="还没有案件">{{range .}}<option value="{{.ID}}"{{if eq .ID $.Selected}} selected{{end}}>{{.Title}}</option>{{end}}</optgroup>{{end}}
      </select>
      <button type="submit">查看</button>
    </form>
  </div>
  {{with .Chart}}
  {{if .Missing}}<p id="trend-missing" class="banner" role="alert">{{.Missing}}</p>
  {{else}}
  {{with .Flag}}<p class="bad flag" id="trend-flag">⚠ {{.}}</p>{{end}}
  <figure id="trend-chart">
    {{.Trend.SVG}}
    <figcaption class="note">{{if eq .Trend.DataDays 0}}{{.Trend.From}}至{{.Trend.To}}没有数据。{{else if eq .Trend.DataDays 1}}近30天中只有 {{(index .Trend.Days 0).Day}} 一天有数据。{{else}}近30天中 {{.Trend.DataDays}} 天有数据。{{end}}
    左边的条按环节合计画在同一刻度上，像一个漏斗；右边每天一根柱，每行按本行的最高值画，所以小数字的环节也看得清。信息有误、不再接收的比例按每千条通知（‰）计。“发放”的比例按可发放数计：免申即享政策是匹配数（找到的人里多少拿到了钱），其他政策是通过数加未申领即发放的数。{{if .Trend.Unclaimed}}“其中未申领”是未经申领就发放的（免申即享，或金保直接发放），比例是占发放的多少。{{end}}{{if .Trend.Over}}标 * 的转化率超过100%：有的案件没经过上一环节（如审核通过前已发放），或上一环节早于这30天。{{end}}</figcaption>
  </figure>
  {{with .Trend.Days}}<details class="trend-days">
    <summary>逐日数字（{{len .}} 天）</summary>
    <div class="table-wrap"><table>
      <thead><tr><th scope="col">日期</th>{{range $.Steps}}<th scope="col">{{step .}}</th>{{end}}<th scope="col">信息有误</th><th scope="col">不再接收</th><th scope="col">发放金额（元）</th></tr></thead>
      <tbody>{{range $d := .}}<tr><th scope="row">{{$d.Day}}</th>{{range $.Steps}}<td class="num">{{count $d.Steps .}}</td>{{end}}<td class="num">{{$d.Disputes}}</td><td class="num">{{$d.Stops}}</td><td class="num">{{yuan $d.GrantedAmount}}</td></tr>
      {{end}}</tbody>
    </table></div>
  </details>{{end}}
  {{end}}
  {{end}}
</section>
<section class="panel">
  <h2>各政策漏斗（匹配 → 发放，直到元）</h2>
  <p class="note">每格下方是相对上一环节的转化率；“发放”的是占可发放数：免申即享政策（标“占匹配”）是占匹配数，即找到的人里多少拿到了钱，其他政策是占通过数加未申领即发放的数。{{if .Unclaimed}}“其中未申领”是未经申领就发放的案件（免申即享，或金保直接发放），也计在“发放”里。{{end}}{{if .Over}}标 * 的超过100%：有的案件没经过上一环节就到了这一环节（如审核通过前已发放）。{{end}}信息有误、不再接收按每千条通知计；远高于其他政策的标 ⚠ 并排在最前，多半是规则或数据来源有误。“回溯匹配”是政策发布（或改版）后对存量数据回溯产生的匹配，“定期重算”是每日按时间重算产生的，其余来自实时数据事件。点政策名，上面的趋势图就换成它的。</p>
  <div class="table-wrap"><table class="funnel" id="funnel-table">
    <thead><tr><th scope="col">政策</th>{{range .Steps}}<th scope="col">{{step .}}</th>{{end}}<th scope="col">发放金额（元）</th><th scope="col">匹配至发放（中位）</th><th scope="col">信息有误/千条</th><th scope="col">不再接收/千条</th><th scope="col">其中回溯匹配</th><th scope="col">其中定期重算</th></tr></thead>
    <tbody>
    {{range .Policies}}{{template "funnelrow" (row $ .)}}{{end}}
    </tbody>
    <tfoot>{{template "funnelrow" (row $ .Total)}}</tfoot>
  </table></div>
  {{with .Quiet}}<p class="note">还没有案件的政策：{{range $i, $p := .}}{{if $i}}、{{end}}{{$p.Title}}{{end}}。</p>{{end}}
</section>
{{template "foot" .}}{{end}}
`
