//! Run reports: text (terminal), Markdown, JSON and one self-contained HTML file
//! with inline SVG charts. Pure rendering of a [`Run`] and its [`Finding`]s; it
//! reads nothing from the store itself.

mod html;

use std::fmt::Write;

use serde_json::json;

use crate::store::{Finding, Run, Verdict};

pub use html::render_html;

/// Output formats of `driftwatch report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Markdown,
    Html,
}

pub fn render(format: Format, run: &Run, findings: &[Finding]) -> String {
    match format {
        Format::Text => render_text(run, findings),
        Format::Json => serde_json::to_string_pretty(&json!({ "run": run, "findings": findings }))
            .unwrap_or_default(),
        Format::Markdown => render_markdown(run, findings),
        Format::Html => render_html(run, findings),
    }
}

pub(crate) fn num(x: Option<f64>) -> String {
    x.map_or_else(|| "-".into(), crate::store::short_num)
}

pub(crate) fn verdict_mark(v: Verdict) -> &'static str {
    match v {
        Verdict::Drifted => "DRIFTED",
        Verdict::Ok => "ok",
        Verdict::Skipped => "skipped",
    }
}

fn header(run: &Run) -> String {
    let s = run.summary.clone().unwrap_or_default();
    let (start, end) = s.window_text();
    format!(
        "run {} of job {} — {} — golden {} v{} ({} examples) vs {} sampled of {} traces in window {start} … {end}",
        run.id,
        run.job,
        run.status.as_str(),
        if s.golden_set.is_empty() { "?" } else { &s.golden_set },
        s.golden_version,
        s.golden_examples,
        s.sampled,
        s.window_traces,
    )
}

/// The terminal table, verdicts first.
pub fn render_text(run: &Run, findings: &[Finding]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", header(run));
    if let Some(e) = &run.error {
        let _ = writeln!(out, "error: {e}");
    }
    out.push_str(&findings_table(findings));
    let drifted: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.verdict == Verdict::Drifted)
        .collect();
    for f in drifted {
        let ex = f.details.examples();
        if !ex.is_empty() {
            let _ = writeln!(out, "\nexamples for {}:", f.metric);
            for e in ex {
                let text = crate::text::truncate(e.text(), 120);
                let external = match e {
                    crate::store::Example::Trace(t) => t.external_id.as_deref().unwrap_or(""),
                    _ => "",
                };
                let _ = match e.trace_id() {
                    Some(id) => writeln!(out, "  trace {id} ({external}): {text}"),
                    None => writeln!(out, "  {text}"),
                };
            }
        }
    }
    out
}

/// The findings as a plain-text table, one line each (verdict, kind, metric,
/// test, p, adjusted p, effect, floor, change).
pub fn findings_table(findings: &[Finding]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<8} {:<12} {:<32} {:<19} {:>9} {:>9} {:>8} {:>6}  CHANGE",
        "VERDICT", "KIND", "METRIC", "TEST", "P", "P_ADJ", "EFFECT", "FLOOR"
    );
    for f in findings {
        let _ = writeln!(
            out,
            "{:<8} {:<12} {:<32} {:<19} {:>9} {:>9} {:>8} {:>6}  {}",
            verdict_mark(f.verdict),
            f.kind.as_str(),
            f.metric,
            f.test,
            num(f.p_value),
            num(f.p_adjusted),
            num(f.effect_size),
            num(f.threshold),
            f.change_text()
        );
    }
    out
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

pub fn render_markdown(run: &Run, findings: &[Finding]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# driftwatch run {} — {}\n", run.id, run.job);
    let _ = writeln!(out, "{}\n", header(run));
    let _ = writeln!(
        out,
        "| verdict | kind | metric | test | p | p adj | effect | floor | change |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|");
    for f in findings {
        let _ = writeln!(
            out,
            "| {} | {} | `{}` | {} | {} | {} | {} | {} | {} |",
            verdict_mark(f.verdict),
            f.kind.as_str(),
            f.metric,
            f.test,
            num(f.p_value),
            num(f.p_adjusted),
            num(f.effect_size),
            num(f.threshold),
            md_escape(&f.change_text())
        );
    }
    for f in findings.iter().filter(|f| f.verdict == Verdict::Drifted) {
        let ex = f.details.examples();
        if !ex.is_empty() {
            let _ = writeln!(out, "\n## Examples: `{}`\n", f.metric);
            for e in ex {
                let id = e
                    .trace_id()
                    .map_or_else(|| "null".to_string(), |id| id.to_string());
                let _ = writeln!(
                    out,
                    "- trace {id}: `{}`",
                    md_escape(&crate::text::truncate(e.text(), 200)).replace('`', "'")
                );
            }
        }
    }
    out
}

/// Rewrites every example text a report would show (`details.examples` of
/// each finding, the gap clusters' examples) as `policy` lets it be shown:
/// redacted, or dropped (an example object keeps its trace id). For a served
/// report whose reader may not see production text in full.
pub fn restrict_examples(
    policy: crate::notify::ExamplesPolicy,
    run: &mut crate::store::Run,
    findings: &mut [crate::store::Finding],
) {
    if policy == crate::notify::ExamplesPolicy::Full {
        return;
    }
    for f in findings.iter_mut() {
        let Some(items) = f.details.examples.as_mut() else {
            continue;
        };
        items.retain_mut(|e| match e {
            crate::store::Example::Text(t) => match policy.apply(t) {
                Some(r) => {
                    *t = r;
                    true
                }
                None => false,
            },
            crate::store::Example::Trace(o) => {
                for t in [&mut o.text, &mut o.input, &mut o.output] {
                    *t = t.as_deref().and_then(|s| policy.apply(s));
                }
                true
            }
            _ => true,
        });
    }
    if let Some(sem) = run.summary.as_mut().and_then(|s| s.semantic.as_mut()) {
        for c in sem.clusters.iter_mut() {
            c.examples = c.examples.iter().filter_map(|t| policy.apply(t)).collect();
        }
    }
}
