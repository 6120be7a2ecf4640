//! HTML building blocks: escaping, the page frame, responses with security
//! headers. Every piece of text that comes from the store (production inputs and
//! outputs are untrusted user content) goes through [`esc`].

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::auth::Session;

/// Escapes text for HTML element content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// Percent-encodes a query-string value.
pub fn qv(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                o.push(b as char)
            }
            _ => o.push_str(&format!("%{b:02X}")),
        }
    }
    o
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;color:#222;background:#f6f7f9}\
main{max-width:1200px;margin:0 auto;padding:16px 24px}\
nav{background:#1f2937;color:#eee;padding:10px 24px;display:flex;gap:18px;align-items:center}\
nav a{color:#fff;text-decoration:none;font-weight:600}nav .who{margin-left:auto;font-size:14px}\
nav form{display:inline}nav button{background:none;border:1px solid #888;color:#eee;border-radius:4px;cursor:pointer}\
h1{font-size:22px}h2{font-size:18px;margin-top:28px}\
table{border-collapse:collapse;width:100%;font-size:14px;background:#fff}\
th,td{border-bottom:1px solid #e3e3e3;padding:6px 8px;text-align:left;vertical-align:top}\
.b{display:inline-block;padding:1px 8px;border-radius:9px;font-size:12px;font-weight:600}\
.drifted,.rejected,.failed{background:#fde2e1;color:#a50e0e}.ok,.accepted,.succeeded{background:#e6f4ea;color:#137333}\
.skipped,.aborted{background:#eee;color:#666}.pending,.running{background:#fff4ce;color:#7a5d00}.excluded{background:#e8eaf6;color:#303f9f}form.exclude{margin-top:6px}\
del{background:#fde2e1;color:#a50e0e}ins{background:#e6f4ea;color:#137333;text-decoration:none}.proposal.skipped{opacity:.7}.why{margin:4px 0}\
.flash{padding:8px 12px;border-radius:6px;background:#e6f4ea;border:1px solid #b7dfc3;margin:12px 0}\
.flash.err{background:#fde2e1;border-color:#f3b7b3}\
.card{background:#fff;border:1px solid #ddd;border-radius:8px;padding:12px 16px;margin:14px 0}\
.card.cur{border-color:#2563eb;box-shadow:0 0 0 2px #93c5fd}\
.cols{display:grid;grid-template-columns:1fr 1fr 1fr;gap:12px}\
.cols h4{margin:4px 0;font-size:12px;text-transform:uppercase;color:#666}\
.tx{font-family:ui-monospace,monospace;font-size:12px;white-space:pre-wrap;word-break:break-word;background:#fafafa;border-left:3px solid #ccc;padding:6px 8px;margin:0;max-height:14em;overflow:auto}\
.acts{display:flex;gap:16px;margin-top:10px;flex-wrap:wrap}.acts form{display:flex;gap:6px;align-items:flex-start}\
textarea{font-family:ui-monospace,monospace;font-size:12px;width:420px;height:4.5em}\
input[type=text],input[type=password],select{padding:4px}\
button{padding:4px 10px;border-radius:4px;border:1px solid #888;background:#fff;cursor:pointer}\
button.acc{background:#137333;color:#fff;border-color:#137333}button.rej{background:#a50e0e;color:#fff;border-color:#a50e0e}\
.muted{color:#777;font-size:13px}.filters{display:flex;gap:10px;align-items:center;flex-wrap:wrap}\
kbd{border:1px solid #bbb;border-bottom-width:2px;border-radius:3px;padding:0 4px;font-size:12px;background:#fff}\
button kbd{background:transparent;color:inherit;border-color:currentColor;margin-left:4px}";

/// A whole page: navigation (with the signed-in person and sign-out), an
/// optional flash message and the body.
pub fn frame(title: &str, session: Option<&Session>, flash: Option<&str>, body: &str) -> String {
    let who = match session {
        Some(s) => format!(
            "<span class='who'>signed in as <b>{}</b> ({}) <form method='post' action='/logout'><input type='hidden' name='csrf' value='{}'><button type='submit'>Sign out</button></form></span>",
            esc(&s.name),
            if s.can_decide() { "reviewer" } else { "viewer, read-only" },
            esc(&s.csrf)
        ),
        None => String::new(),
    };
    let flash = match flash {
        Some(f) => format!("<div class='flash' id='flash'>{}</div>", esc(f)),
        None => String::new(),
    };
    format!(
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><meta name='viewport' content='width=device-width'>\
         <title>{} — driftwatch</title><style>{STYLE}</style><script src='/review/app.js' defer></script></head>\
         <body><nav><span>driftwatch</span><a href='/review'>Review</a><a href='/runs'>Runs</a>{who}</nav><main>{flash}{body}</main></body></html>",
        esc(title)
    )
}

/// An HTML response with the page's security headers: nothing cached, no
/// framing, scripts only from this origin.
pub fn html(status: StatusCode, body: String) -> Response {
    with_headers(
        (status, body).into_response(),
        "default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    )
}

/// Like [`html`] for a run report, which carries its own inline styles and SVG.
pub fn report(body: String) -> Response {
    with_headers(
        (StatusCode::OK, body).into_response(),
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    )
}

fn with_headers(mut r: Response, csp: &'static str) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    r
}

/// A short page that says one thing, with a link back.
pub fn message(
    status: StatusCode,
    title: &str,
    text: &str,
    session: Option<&Session>,
    back: Option<&str>,
) -> Response {
    let back = back
        .map(|b| format!("<p><a href='{}'>Back</a></p>", esc(b)))
        .unwrap_or_default();
    let cls = if status.is_success() {
        "flash"
    } else {
        "flash err"
    };
    html(
        status,
        frame(
            title,
            session,
            None,
            &format!(
                "<h1>{}</h1><div class='{cls}' id='message'>{}</div>{back}",
                esc(title),
                esc(text)
            ),
        ),
    )
}

/// 303 to `to`, optionally setting a cookie.
pub fn see_other(to: &str, cookie: Option<String>) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    if let Some(c) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        r.headers_mut().insert(header::SET_COOKIE, c);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// The review page's script: keyboard shortcuts over the proposal cards.
/// Everything works without it; it only focuses and submits the forms.
pub const APP_JS: &str = r#"(function () {
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
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"y\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;y&quot;"
        );
        assert_eq!(qv("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
    }
}
