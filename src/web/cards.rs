//! One proposal as a reviewer sees it: why it was proposed (its gap, the
//! gap's size and coverage, its rank among the gap's picks, its nearest golden
//! example), the trace behind it (time, model, user feedback), the texts, and
//! the actions — accept with a pretty-printed, validated expected output (the
//! production output kept only when the reviewer says it is right), reject,
//! skip, exclude the topic, or undo a decision. A decided accept shows the
//! production output and the expected output side by side, differences
//! marked (`similar`'s word diff).

use serde::Serialize;
use similar::{ChangeTag, TextDiff};

use super::auth::Session;
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

/// One card as `card.html` draws it: plain values, no markup.
#[derive(Debug, Serialize)]
pub struct CardView {
    id: i64,
    status: String,
    kind: String,
    job: String,
    run_id: i64,
    skipped: bool,
    why: Why,
    trace: Option<TraceView>,
    nearest: Option<NearestView>,
    input: String,
    output: String,
    ensemble: Option<EnsembleView>,
    /// Pending and the session may decide: the forms.
    decide: Option<DecideView>,
    /// Decided: who, when, why, and what was accepted.
    decided: Option<DecidedView>,
    can_decide: bool,
}

#[derive(Debug, Serialize)]
struct Why {
    /// The gap it was proposed from: id, label.
    cluster: Option<i64>,
    label: String,
    /// The gap's size: production, golden, coverage.
    gap: Option<(u64, u64, String)>,
    pick: Option<(usize, usize)>,
    /// "a random spot check" or "an outlier …" when not from a gap.
    source: &'static str,
    similarity: Option<String>,
}

#[derive(Debug, Serialize)]
struct TraceView {
    external_id: String,
    at: String,
    model: Option<String>,
    latency: Option<String>,
    feedback: Option<f64>,
    negative: bool,
    error: bool,
}

#[derive(Debug, Serialize)]
struct NearestView {
    id: i64,
    similarity: String,
    archived: bool,
    input: String,
    expected_output: String,
}

#[derive(Debug, Serialize)]
struct EnsembleView {
    agrees: bool,
    share: String,
    labels: Vec<LabelView>,
}

#[derive(Debug, Serialize)]
struct LabelView {
    model: String,
    usage: String,
    output: Option<String>,
    error: Option<String>,
}

#[derive(Debug, Serialize)]
struct DecideView {
    prefill: String,
    rows: usize,
    json: bool,
    /// From a gap: the topic can be excluded.
    topic: bool,
}

#[derive(Debug, Serialize)]
struct DecidedView {
    by: String,
    at: Option<String>,
    reason: Option<String>,
    golden_example_id: Option<i64>,
    /// Accepted with the production output as it is.
    unchanged: bool,
    diff: Option<Diff>,
}

/// The ensemble's answers side by side, and its verdict.
fn ensemble_view(p: &Proposal, labels: &[Label]) -> Option<EnsembleView> {
    let status = p.ensemble_status.as_deref()?;
    Some(EnsembleView {
        agrees: status == "agrees",
        share: format!("{:.0}%", p.ensemble_share.unwrap_or(0.0) * 100.0),
        labels: labels
            .iter()
            .map(|l| LabelView {
                model: l.model.clone(),
                usage: match (l.prompt_tokens, l.completion_tokens, l.latency_ms) {
                    (Some(pt), Some(ct), Some(ms)) => format!(" · {pt}+{ct} tokens · {ms} ms"),
                    (_, _, Some(ms)) => format!(" · {ms} ms"),
                    _ => String::new(),
                },
                output: match &l.error {
                    None => l.output.as_deref().map(pretty_json),
                    Some(_) => l.output.clone(),
                },
                error: l.error.clone(),
            })
            .collect(),
    })
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

/// A word diff for `card.html`: the old text's pieces (`changed` = removed)
/// and the new text's pieces (`changed` = added).
#[derive(Debug, Default, Serialize)]
pub struct Diff {
    old: Vec<Piece>,
    new: Vec<Piece>,
}

#[derive(Debug, Serialize)]
struct Piece {
    text: String,
    changed: bool,
}

/// Side by side: `old` with its removed words marked, `new` with its added
/// words marked. JSON on either side is compared pretty-printed, so a field
/// that changed is one marked line, not a changed blob.
pub fn diff(old: &str, new: &str) -> Diff {
    let (old, new) = (pretty_json(old), pretty_json(new));
    let text = TextDiff::from_words(old.as_str(), new.as_str());
    let mut d = Diff::default();
    for c in text.iter_all_changes() {
        let piece = |changed| Piece {
            text: c.value().to_string(),
            changed,
        };
        match c.tag() {
            ChangeTag::Equal => {
                d.old.push(piece(false));
                d.new.push(piece(false));
            }
            ChangeTag::Delete => d.old.push(piece(true)),
            ChangeTag::Insert => d.new.push(piece(true)),
        }
    }
    d
}

fn why(p: &Proposal, cx: &CardContext<'_>) -> Why {
    let label = p
        .cluster_label
        .as_deref()
        .or(cx.gap.and_then(|g| g.label.as_deref()))
        .filter(|l| !l.is_empty())
        .unwrap_or("(no label)")
        .to_string();
    let gap = cx.gap.filter(|_| p.cluster_id.is_some()).map(|g| {
        let covered = g.production_count.saturating_sub(g.uncovered_count);
        let coverage = match g.production_count {
            0 => "-".to_string(),
            n => format!("{:.0}%", 100.0 * covered as f64 / n as f64),
        };
        (g.production_count, g.golden_count, coverage)
    });
    Why {
        cluster: p.cluster_id,
        label,
        gap,
        pick: cx.pick.filter(|_| p.cluster_id.is_some()),
        source: if p.kind == "spot_check" {
            "a random spot check"
        } else {
            "an outlier far from every golden example"
        },
        similarity: p.nearest_golden_similarity.map(|s| format!("{s:.3}")),
    }
}

fn trace_view(t: &Trace) -> TraceView {
    TraceView {
        external_id: t.external_id.clone(),
        at: t.ts.format("%Y-%m-%d %H:%M UTC").to_string(),
        model: t.model.clone(),
        latency: t.latency_ms.map(|l| format!("{l:.0} ms")),
        feedback: t.feedback,
        negative: t.feedback.is_some_and(|f| f <= 0.0),
        error: t.is_error == Some(true),
    }
}

/// One proposal as `card.html` draws it, with the forms the session may use.
pub fn card_view(p: &Proposal, cx: &CardContext<'_>, s: &Session) -> CardView {
    let pending = p.status == ProposalStatus::Pending.as_str();
    let decide = (pending && s.can_decide()).then(|| {
        // The ensemble's agreed answer when there is one, else the
        // production output to edit.
        let agreed = p
            .ensemble_output
            .as_deref()
            .filter(|_| p.ensemble_status.as_deref() == Some("agrees"));
        let prefill = pretty_json(agreed.unwrap_or(&p.output));
        DecideView {
            rows: prefill.lines().count().clamp(3, 24),
            prefill,
            json: crate::text::is_json_document(&p.output),
            topic: p.cluster_id.is_some(),
        }
    });
    let decided = (!pending).then(|| {
        let unchanged = p
            .expected_output
            .as_deref()
            .is_some_and(|e| same_output(e, &p.output));
        DecidedView {
            by: p.decided_by.clone().unwrap_or_else(|| "someone".into()),
            at: p
                .decided_at
                .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string()),
            reason: p.reason.clone(),
            golden_example_id: p.golden_example_id,
            unchanged,
            diff: p
                .expected_output
                .as_deref()
                .filter(|_| !unchanged)
                .map(|e| diff(&p.output, e)),
        }
    });
    CardView {
        id: p.id,
        status: p.status.clone(),
        kind: p.kind.clone(),
        job: p.job.clone(),
        run_id: p.run_id,
        skipped: cx.skipped,
        why: why(p, cx),
        trace: cx.trace.map(trace_view),
        nearest: cx.nearest.as_ref().map(|g| NearestView {
            id: g.id,
            similarity: g
                .similarity
                .map(|s| format!("{s:.3}"))
                .unwrap_or_else(|| "?".into()),
            archived: g.archived,
            input: g.input.clone(),
            expected_output: pretty_json(&g.expected_output),
        }),
        input: p.input.clone(),
        output: pretty_json(&p.output),
        ensemble: ensemble_view(p, cx.labels),
        decide,
        decided,
        can_decide: s.can_decide(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_json_field_is_one_marked_word_on_each_side() {
        let d = diff(
            r#"{"intent":"card_arrival","answer":"It <b>arrives</b> soon."}"#,
            r#"{"answer":"It <b>arrives</b> soon.","intent":"card_delivery_estimate"}"#,
        );
        let html = super::super::pages::fragment("diff.html", minijinja::context! { diff => d });
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
        assert!(html.contains("&lt;b&gt;arrives&lt;&#x2f;b&gt;"), "{html}");
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
