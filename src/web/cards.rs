//! One proposal as a reviewer sees it: why it was proposed (its gap, the
//! gap's size and coverage, its rank among the gap's picks, its nearest golden
//! example), the trace behind it (time, model, user feedback), the texts, and
//! the actions — accept with a pretty-printed, validated expected output (the
//! production output kept only when the reviewer says it is right), reject,
//! skip, exclude the topic, or undo a decision. A decided accept shows the
//! production output and the expected output side by side, differences
//! marked (`similar`'s word diff).

use std::fmt::Write;

use similar::{ChangeTag, TextDiff};

use super::auth::Session;
use super::exclusions::exclude_form;
use super::pages::{esc, qv};
use crate::review::{NearestGolden, ProposalStatus};
use crate::store::{GapCluster, Label, Proposal, Trace};

/// What a card shows beside the proposal itself.
#[derive(Debug, Default)]
pub struct CardContext<'a> {
    pub nearest: Option<NearestGolden>,
    /// The production trace it came from (gone when the trace was pruned).
    pub trace: Option<&'a Trace>,
    /// Its gap in the run that proposed it.
    pub gap: Option<&'a GapCluster>,
    /// Its rank among its gap's proposals of that run, and how many there are.
    pub pick: Option<(usize, usize)>,
    /// The signed-in reviewer skipped it.
    pub skipped: bool,
    /// The LLM ensemble's answers, one per model.
    pub labels: &'a [Label],
}

/// The ensemble's answers side by side, and its verdict.
fn ensemble_html(p: &Proposal, labels: &[Label]) -> String {
    let mut o = String::new();
    let badge = match (p.ensemble_status.as_deref(), p.ensemble_share) {
        (Some("agrees"), Some(s)) => format!(
            "<span class='b ok ensemble'>ensemble agrees ({:.0}% of models)</span>",
            s * 100.0
        ),
        (Some(_), s) => format!(
            "<span class='b drifted ensemble'>ensemble disagrees (at most {:.0}% of models agree)</span>",
            s.unwrap_or(0.0) * 100.0
        ),
        (None, _) => return o,
    };
    let _ = write!(o, "<div class='labels'><h4>LLM ensemble {badge}</h4>");
    if !labels.is_empty() {
        o.push_str("<div class='cols'>");
        for l in labels {
            let body = match (&l.output, &l.error) {
                (Some(out), None) => format!("<pre class='tx'>{}</pre>", esc(&pretty_json(out))),
                (out, Some(e)) => format!(
                    "<p class='b drifted'>{}</p>{}",
                    esc(e),
                    out.as_deref()
                        .map(|t| format!("<pre class='tx'>{}</pre>", esc(t)))
                        .unwrap_or_default()
                ),
                (None, None) => "<p class='muted'>no answer</p>".into(),
            };
            let usage = match (l.prompt_tokens, l.completion_tokens, l.latency_ms) {
                (Some(pt), Some(ct), Some(ms)) => format!(" · {pt}+{ct} tokens · {ms} ms"),
                (_, _, Some(ms)) => format!(" · {ms} ms"),
                _ => String::new(),
            };
            let _ = write!(
                o,
                "<div class='label'><h4>{}<span class='muted'>{usage}</span></h4>{body}</div>",
                esc(&l.model)
            );
        }
        o.push_str("</div>");
    }
    o.push_str("</div>");
    o
}

/// `text` pretty-printed when it is a JSON object or array, else as it is.
pub fn pretty_json(text: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v @ (serde_json::Value::Object(_) | serde_json::Value::Array(_))) => {
            serde_json::to_string_pretty(&v).unwrap_or_else(|_| text.to_string())
        }
        _ => text.to_string(),
    }
}

/// The same answer: equal texts, or equal JSON documents however laid out.
pub fn same_output(a: &str, b: &str) -> bool {
    if a.trim() == b.trim() {
        return true;
    }
    match (
        serde_json::from_str::<serde_json::Value>(a),
        serde_json::from_str::<serde_json::Value>(b),
    ) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// Side by side: `old` with its removed words marked, `new` with its added
/// words marked. JSON on either side is compared pretty-printed, so a field
/// that changed is one marked line, not a changed blob.
pub fn diff_html(old: &str, new: &str) -> String {
    let (old, new) = (pretty_json(old), pretty_json(new));
    let diff = TextDiff::from_words(old.as_str(), new.as_str());
    let (mut left, mut right) = (String::new(), String::new());
    for c in diff.iter_all_changes() {
        let v = esc(c.value());
        match c.tag() {
            ChangeTag::Equal => {
                left.push_str(&v);
                right.push_str(&v);
            }
            ChangeTag::Delete => {
                let _ = write!(left, "<del>{v}</del>");
            }
            ChangeTag::Insert => {
                let _ = write!(right, "<ins>{v}</ins>");
            }
        }
    }
    format!(
        "<div class='cols diff'><div><h4>Production output</h4><pre class='tx'>{left}</pre></div><div><h4>Expected output</h4><pre class='tx'>{right}</pre></div></div>"
    )
}

fn why(p: &Proposal, cx: &CardContext<'_>) -> String {
    let mut o = String::new();
    match (p.cluster_id, cx.gap) {
        (Some(c), gap) => {
            let label = p
                .cluster_label
                .as_deref()
                .or(gap.and_then(|g| g.label.as_deref()))
                .filter(|l| !l.is_empty())
                .unwrap_or("(no label)");
            let _ = write!(
                o,
                "Proposed from gap <a href='/review?job={}&amp;run={}&amp;cluster={c}'>{c} «{}»</a>",
                esc(&qv(&p.job)),
                p.run_id,
                esc(label)
            );
            if let Some(g) = gap {
                let covered = g.production_count.saturating_sub(g.uncovered_count);
                let _ = write!(
                    o,
                    ": {} production traces, {} golden, coverage {}",
                    g.production_count,
                    g.golden_count,
                    match g.production_count {
                        0 => "-".to_string(),
                        n => format!("{:.0}%", 100.0 * covered as f64 / n as f64),
                    }
                );
            }
            if let Some((rank, n)) = cx.pick {
                let _ = write!(o, "; pick {rank} of {n}, densest first");
            }
        }
        (None, _) => {
            let _ = write!(
                o,
                "Proposed as {}",
                if p.kind == "spot_check" {
                    "a random spot check"
                } else {
                    "an outlier far from every golden example"
                }
            );
        }
    }
    if let Some(sim) = p.nearest_golden_similarity {
        let _ = write!(o, "; nearest golden similarity {sim:.3}");
    }
    o.push('.');
    o
}

fn trace_line(t: &Trace) -> String {
    let mut parts = vec![format!("trace {}", esc(&t.external_id))];
    parts.push(t.ts.format("%Y-%m-%d %H:%M UTC").to_string());
    if let Some(m) = &t.model {
        parts.push(format!("model {}", esc(m)));
    }
    if let Some(l) = t.latency_ms {
        parts.push(format!("{l:.0} ms"));
    }
    match t.feedback {
        Some(f) if f <= 0.0 => {
            parts.push(format!("<span class='b drifted'>user feedback {f}</span>"))
        }
        Some(f) => parts.push(format!("<span class='b ok'>user feedback {f}</span>")),
        None => parts.push("no user feedback".into()),
    }
    if t.is_error == Some(true) {
        parts.push("<span class='b failed'>error</span>".into());
    }
    parts.join(" · ")
}

/// One proposal: why and whence, the texts, and the forms the session may use.
pub fn proposal_card(p: &Proposal, cx: &CardContext<'_>, s: &Session, next: &str) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "<div class='card proposal{skip}' id='p{id}' data-id='{id}'><div><a class='open' href='/review/proposals/{id}'><b>#{id}</b></a> <span class='b {st}'>{st}</span>{skipped} {kind} · job {job} · run <a href='/runs/{run}'>{run}</a></div>\
         <p class='why muted'>{why}</p>",
        id = p.id,
        st = esc(&p.status),
        kind = esc(&p.kind),
        job = esc(&p.job),
        run = p.run_id,
        skip = if cx.skipped { " skipped" } else { "" },
        skipped = if cx.skipped {
            " <span class='b skipped'>skipped</span>"
        } else {
            ""
        },
        why = why(p, cx),
    );
    if let Some(t) = cx.trace {
        let _ = write!(o, "<p class='trace muted'>{}</p>", trace_line(t));
    }
    let golden = match &cx.nearest {
        Some(g) => format!(
            "<h4>Nearest golden example #{} · similarity {}{}</h4><pre class='tx'>{}</pre><h4>its expected output</h4><pre class='tx'>{}</pre>",
            g.id,
            g.similarity
                .map(|s| format!("{s:.3}"))
                .unwrap_or_else(|| "?".into()),
            if g.archived { " (archived since)" } else { "" },
            esc(&g.input),
            esc(&pretty_json(&g.expected_output))
        ),
        None => "<h4>Nearest golden example</h4><p class='muted'>none recorded</p>".into(),
    };
    let _ = write!(
        o,
        "<div class='cols'><div><h4>Input</h4><pre class='tx input'>{}</pre></div><div><h4>Production output</h4><pre class='tx output'>{}</pre></div><div>{golden}</div></div>",
        esc(&p.input),
        esc(&pretty_json(&p.output))
    );
    o.push_str(&ensemble_html(p, cx.labels));
    if p.status == ProposalStatus::Pending.as_str() {
        if s.can_decide() {
            // The ensemble's agreed answer when there is one, else the
            // production output to edit.
            let agreed = p
                .ensemble_output
                .as_deref()
                .filter(|_| p.ensemble_status.as_deref() == Some("agrees"));
            let prefill = pretty_json(agreed.unwrap_or(&p.output));
            let rows = prefill.lines().count().clamp(3, 24);
            let _ = write!(
                o,
                "<div class='acts'>\
                 <form method='post' class='accept' action='/review/proposals/{id}/accept'>\
                 <input type='hidden' name='csrf' value='{csrf}'><input type='hidden' name='next' value='{next}'>\
                 <textarea name='expected_output' rows='{rows}' spellcheck='false'{json} aria-label='expected output' title='The expected output: edit the production output into the correct answer'>{out}</textarea>{state}\
                 <label class='muted'><input type='checkbox' name='confirm_output' value='1'> the production output is correct as it is</label>\
                 <button type='submit' class='acc'>Accept <kbd>a</kbd></button></form>\
                 <form method='post' class='reject' action='/review/proposals/{id}/reject'>\
                 <input type='hidden' name='csrf' value='{csrf}'><input type='hidden' name='next' value='{next}'>\
                 <input type='text' name='reason' placeholder='reason' aria-label='reason' required>\
                 <button type='submit' class='rej'>Reject <kbd>r</kbd></button></form>\
                 <form method='post' class='skip' action='/review/proposals/{id}/skip'>\
                 <input type='hidden' name='csrf' value='{csrf}'><input type='hidden' name='next' value='{next}'>\
                 <button type='submit'>Skip <kbd>s</kbd></button></form>{topic}</div>",
                id = p.id,
                csrf = esc(&s.csrf),
                next = esc(next),
                out = esc(&prefill),
                json = if crate::text::is_json_document(&p.output) {
                    " data-json='1'"
                } else {
                    ""
                },
                state = if crate::text::is_json_document(&p.output) {
                    " <span class='jsonstate'></span>"
                } else {
                    ""
                },
                topic = if p.cluster_id.is_some() {
                    exclude_form(s, &p.job, None, Some(p.id), next)
                } else {
                    String::new()
                },
            );
        }
    } else {
        let _ = write!(
            o,
            "<p class='muted decided'>{} by <b>{}</b>{}{}</p>",
            esc(&p.status),
            esc(p.decided_by.as_deref().unwrap_or("someone")),
            p.decided_at
                .map(|t| format!(" at {}", t.format("%Y-%m-%d %H:%M UTC")))
                .unwrap_or_default(),
            match (&p.reason, &p.golden_example_id) {
                (Some(r), _) => format!(" — reason: {}", esc(r)),
                (None, Some(g)) => format!(" — golden example #{g}"),
                _ => String::new(),
            }
        );
        if let Some(e) = &p.expected_output {
            if same_output(e, &p.output) {
                o.push_str("<p class='muted'>Accepted with the production output as it is.</p>");
            } else {
                o.push_str(&diff_html(&p.output, e));
            }
        }
        if s.can_decide() {
            let _ = write!(
                o,
                "<form method='post' class='reopen' action='/review/proposals/{id}/reopen'>\
                 <input type='hidden' name='csrf' value='{csrf}'><input type='hidden' name='next' value='{next}'>\
                 <button type='submit'>Undo this decision</button> <span class='muted'>{what}</span></form>",
                id = p.id,
                csrf = esc(&s.csrf),
                next = esc(next),
                what = if p.golden_example_id.is_some() {
                    "(its golden example is archived in a new version)"
                } else {
                    "(it becomes pending again)"
                },
            );
        }
    }
    o.push_str("</div>");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_json_field_is_one_marked_word_on_each_side() {
        let html = diff_html(
            r#"{"intent":"card_arrival","answer":"It <b>arrives</b> soon."}"#,
            r#"{"answer":"It <b>arrives</b> soon.","intent":"card_delivery_estimate"}"#,
        );
        assert!(
            html.contains("<del>&quot;card_arrival&quot;</del>"),
            "{html}"
        );
        assert!(
            html.contains("<ins>&quot;card_delivery_estimate&quot;</ins>"),
            "{html}"
        );
        // Same keys in another order are no change; production text is escaped.
        assert!(!html.contains("<del>&quot;answer"), "{html}");
        assert!(html.contains("&lt;b&gt;arrives&lt;/b&gt;"), "{html}");
        assert!(!html.contains("<b>arrives"), "{html}");
    }

    #[test]
    fn json_outputs_are_the_same_however_laid_out() {
        assert!(same_output(
            "{\"a\": 1, \"b\": [2]}",
            "{\n  \"b\": [2],\n  \"a\": 1\n}"
        ));
        assert!(same_output(" plain ", "plain"));
        assert!(!same_output("{\"a\": 1}", "{\"a\": 2}"));
        assert_eq!(pretty_json("{\"a\":1}"), "{\n  \"a\": 1\n}");
        assert_eq!(pretty_json("not json"), "not json");
        assert_eq!(pretty_json("3"), "3", "scalars stay as they are");
    }
}
