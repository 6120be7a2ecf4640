//! Pages from templates that escape by default (minijinja).
//!
//! Every template of the review pages, the run report and the alert e-mail is
//! rendered through [`Templates`]: each value a template prints is
//! HTML-escaped whatever the template's name (not only `*.html`), an undefined
//! variable is an error rather than an empty string, and no caller passes
//! markup in as a string. Markup comes only from template text, or from
//! another template (a macro or an `include`), so untrusted production text
//! cannot reach a page unescaped by construction.

use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;

/// A set of templates compiled once (keep it in a `LazyLock`).
pub struct Templates(Environment<'static>);

impl Templates {
    /// Compiles `sources` (name, text). A template that does not compile is a
    /// bug in the binary, caught by the tests that render it: this panics.
    pub fn new(sources: &[(&'static str, &'static str)]) -> Templates {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|_| AutoEscape::Html);
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.add_filter("qv", qv);
        env.add_filter("pct", pct);
        env.add_filter("num", num);
        for (name, text) in sources {
            if let Err(e) = env.add_template(name, text) {
                panic!("template {name} does not compile: {e:#}");
            }
        }
        Templates(env)
    }

    /// Renders `name` with `ctx`. A failure (a template bug) is logged and
    /// becomes a short escaped note, so a page never half-renders silently.
    pub fn render(&self, name: &str, ctx: impl Serialize) -> String {
        match self.0.get_template(name).and_then(|t| t.render(ctx)) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(message = "A page template failed to render.", template = name, error = %format!("{e:#}"));
                format!(
                    "<!doctype html><p>This page could not be rendered ({}); the error is in the log.</p>",
                    escape(&format!("template {name}: {e}"))
                )
            }
        }
    }
}

/// Escapes text for HTML content and quoted attributes (minijinja's own
/// escaper, the one the templates use).
pub fn escape(s: &str) -> String {
    minijinja::HtmlEscape(s).to_string()
}

/// Percent-encodes a query-string value (the `qv` filter).
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

/// A share as a whole percentage, "-" when absent (the `pct` filter).
pub fn pct(x: Option<f64>) -> String {
    x.filter(|v| v.is_finite())
        .map(|v| format!("{:.0}%", v * 100.0))
        .unwrap_or_else(|| "-".into())
}

/// A number with two decimals, "-" when absent (the `num` filter).
pub fn num(x: Option<f64>) -> String {
    x.filter(|v| v.is_finite())
        .map(|v| format!("{v:.2}"))
        .unwrap_or_else(|| "-".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_printed_value_is_escaped_and_markup_only_comes_from_templates() {
        let t = Templates::new(&[
            ("m.txt", "{% macro b(x) %}<b>{{ x }}</b>{% endmacro %}"),
            (
                "page.svg",
                "{% import 'm.txt' as m %}<p title='{{ v }}'>{{ v }}</p>{{ m.b(v) }}<a href='/r?q={{ v|qv }}'>{{ n|pct }} {{ n|num }} {{ none|num }}</a>",
            ),
        ]);
        let out = t.render(
            "page.svg",
            minijinja::context! { v => "<script>alert('x')</script> & \"y\"", n => 0.256, none => () },
        );
        assert_eq!(
            out,
            "<p title='&lt;script&gt;alert(&#x27;x&#x27;)&lt;&#x2f;script&gt; &amp; &quot;y&quot;'>&lt;script&gt;alert(&#x27;x&#x27;)&lt;&#x2f;script&gt; &amp; &quot;y&quot;</p>\
             <b>&lt;script&gt;alert(&#x27;x&#x27;)&lt;&#x2f;script&gt; &amp; &quot;y&quot;</b>\
             <a href='/r?q=%3Cscript%3Ealert%28%27x%27%29%3C%2Fscript%3E%20%26%20%22y%22'>26% 0.26 -</a>"
        );
    }

    #[test]
    fn an_undefined_variable_is_an_error_not_an_empty_string() {
        let t = Templates::new(&[("a.html", "<p>{{ missing }}</p>")]);
        let out = t.render("a.html", minijinja::context! {});
        assert!(out.contains("could not be rendered"), "{out}");
        assert!(!out.contains("<p></p>"));
    }

    #[test]
    fn query_values_and_numbers() {
        assert_eq!(qv("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
        assert_eq!(pct(Some(0.5)), "50%");
        assert_eq!(pct(None), "-");
        assert_eq!(num(Some(f64::NAN)), "-");
        assert_eq!(escape("<a href='x'>"), "&lt;a href=&#x27;x&#x27;&gt;");
    }
}
