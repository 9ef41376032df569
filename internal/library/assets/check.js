// The self-check without a reload: after each answer the form is posted in
// the background, as the plain form would post it, and the results and the
// next question are taken from the page the server answers. Without this
// script the form works the same, one submit at a time.
(function () {
  'use strict';
  var form = document.getElementById('check-form');
  if (!form || !window.fetch || !window.DOMParser) return;
  var live = document.getElementById('live');
  var seq = 0;
  function update() {
    var mine = ++seq;
    var body = new URLSearchParams(new FormData(form));
    fetch(form.action, {method: 'POST', body: body, credentials: 'same-origin'})
      .then(function (r) { return r.text(); })
      .then(function (html) {
        if (mine !== seq) return; // a later answer's response wins
        var doc = new DOMParser().parseFromString(html, 'text/html');
        var fresh = doc.getElementById('results') || doc.getElementById('form-error');
        var old = document.getElementById('results') || document.getElementById('form-error');
        if (fresh) {
          if (old) old.replaceWith(document.importNode(fresh, true));
          else live.after(document.importNode(fresh, true));
        }
        var next = doc.querySelector('.q.next');
        document.querySelectorAll('.q.next').forEach(function (q) { q.classList.remove('next'); });
        if (next) {
          var q = document.getElementById(next.id);
          if (q) q.classList.add('next');
        }
        live.textContent = fresh ? (fresh.querySelector('#summary') || fresh).textContent : '';
      })
      .catch(function () { /* the submit button still works */ });
  }
  form.addEventListener('change', update);
})();
