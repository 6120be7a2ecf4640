//! The pages' frame and responses: every page is a template in `templates/`
//! rendered through [`crate::html::Templates`], which escapes every value it
//! prints (production inputs and outputs are untrusted user content); the
//! responses carry the security headers.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use std::sync::LazyLock;

use minijinja::{context, Value};
use serde::Serialize;

use super::auth::Session;
use crate::html::Templates;

/// The review pages' templates, compiled once.
static TEMPLATES: LazyLock<Templates> = LazyLock::new(|| Templates::new(SOURCES));

/// Every file of `templates/` but the script, by name.
const SOURCES: &[(&str, &str)] = &[
    ("style.css", include_str!("templates/style.css")),
    ("base.html", include_str!("templates/base.html")),
    ("message.html", include_str!("templates/message.html")),
    ("login.html", include_str!("templates/login.html")),
    ("macros.html", include_str!("templates/macros.html")),
    ("diff.html", include_str!("templates/diff.html")),
    ("card.html", include_str!("templates/card.html")),
    ("gaps.html", include_str!("templates/gaps.html")),
    ("review.html", include_str!("templates/review.html")),
    ("proposal.html", include_str!("templates/proposal.html")),
    ("exclusions.html", include_str!("templates/exclusions.html")),
    ("runs.html", include_str!("templates/runs.html")),
    ("run_nav.html", include_str!("templates/run_nav.html")),
];

/// The signed-in person as the page frame shows them.
#[derive(Serialize)]
struct Who<'a> {
    name: &'a str,
    csrf: &'a str,
    can_decide: bool,
}

/// Renders the page template `name` (which extends `base.html`): navigation
/// with the signed-in person and sign-out, an optional flash message, and the
/// page's own `ctx`.
pub fn page(
    name: &str,
    title: &str,
    session: Option<&Session>,
    flash: Option<&str>,
    ctx: impl Serialize,
) -> String {
    let who = session.map(|s| Who {
        name: &s.name,
        csrf: &s.csrf,
        can_decide: s.can_decide(),
    });
    TEMPLATES.render(
        name,
        context! { title, session => who, flash, ..Value::from_serialize(&ctx) },
    )
}

/// Renders a template that is a fragment, not a page (`run_nav.html`).
pub fn fragment(name: &str, ctx: impl Serialize) -> String {
    TEMPLATES.render(name, ctx)
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
    html(
        status,
        page(
            "message.html",
            title,
            session,
            None,
            context! { text, back, ok => status.is_success() },
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
pub const APP_JS: &str = include_str!("templates/app.js");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_file_is_compiled_in() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/web/templates");
        for f in std::fs::read_dir(dir).unwrap() {
            let name = f.unwrap().file_name().into_string().unwrap();
            if name != "app.js" {
                assert!(
                    SOURCES.iter().any(|(n, _)| *n == name),
                    "{name} is not in SOURCES"
                );
            }
        }
        LazyLock::force(&TEMPLATES);
    }

    #[test]
    fn every_template_compiles_and_a_message_escapes_its_text() {
        let out = page(
            "message.html",
            "<t>",
            None,
            Some("<f>"),
            context! { text => "<script>x</script>", back => "/review?a=1&b=2", ok => false },
        );
        assert!(
            out.contains("<title>&lt;t&gt; — driftwatch</title>"),
            "{out}"
        );
        assert!(out.contains("&lt;script&gt;x&lt;&#x2f;script&gt;"), "{out}");
        assert!(
            out.contains("<div class='flash' id='flash'>&lt;f&gt;</div>"),
            "{out}"
        );
        assert!(out.contains("class='flash err'"), "{out}");
        assert!(!out.contains("<script>x"), "{out}");
    }
}
