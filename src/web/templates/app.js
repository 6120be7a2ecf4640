(function () {
  'use strict';
  var cards = Array.prototype.slice.call(document.querySelectorAll('.proposal'));
  var cur = -1;
  function select(i) {
    if (!cards.length) return;
    i = Math.max(0, Math.min(cards.length - 1, i));
    if (cur >= 0) cards[cur].classList.remove('cur');
    cur = i;
    cards[cur].classList.add('cur');
    cards[cur].scrollIntoView({block: 'nearest'});
  }
  if (cards.length) select(0);
  // JSON expected outputs are checked as they are typed.
  Array.prototype.forEach.call(document.querySelectorAll('textarea[data-json]'), function (x) {
    var note = x.parentNode.querySelector('.jsonstate');
    function check() {
      if (!note) return;
      try { JSON.parse(x.value); note.textContent = 'valid JSON'; note.className = 'jsonstate b ok'; }
      catch (err) { note.textContent = 'not valid JSON: ' + err.message; note.className = 'jsonstate b drifted'; }
    }
    x.addEventListener('input', check);
    check();
  });
  document.addEventListener('keydown', function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    var t = e.target;
    var typing = t && (t.tagName === 'TEXTAREA' || t.tagName === 'INPUT' || t.tagName === 'SELECT');
    if (typing) {
      if (e.key === 'Escape') t.blur();
      return;
    }
    if (e.key === '/') {
      var q = document.getElementById('search');
      if (q) { q.focus(); e.preventDefault(); }
      return;
    }
    if (cur < 0) return;
    var card = cards[cur];
    if (e.key === 'j') { select(cur + 1); e.preventDefault(); }
    else if (e.key === 'k') { select(cur - 1); e.preventDefault(); }
    else if (e.key === 'a') {
      var f = card.querySelector('form.accept');
      if (f) { f.submit(); e.preventDefault(); }
    } else if (e.key === 'e') {
      var x = card.querySelector('form.accept textarea');
      if (x) { x.focus(); e.preventDefault(); }
    } else if (e.key === 'r') {
      var r = card.querySelector('form.reject input[name=reason]');
      if (r) {
        if (r.value.trim()) { r.form.submit(); } else { r.focus(); }
        e.preventDefault();
      }
    } else if (e.key === 's') {
      var k = card.querySelector('form.skip');
      if (k) { k.submit(); e.preventDefault(); }
    } else if (e.key === 'o') {
      var l = card.querySelector('a.open');
      if (l) { window.location = l.href; e.preventDefault(); }
    }
  });
})();
