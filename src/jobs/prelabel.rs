//! LLM-ensemble pre-labels: each new proposal is sent to every model of
//! `[review.ensemble]` with the golden set's output contract and its nearest
//! golden examples as few-shot. When enough models give the same answer
//! (`llm::consensus`), the proposal is marked "ensemble agrees" with that
//! answer, which the review page pre-fills (still validated on accept);
//! otherwise every answer is shown and the proposal ranks first. Cost is
//! bounded: calls in flight, a timeout and retries per call, and a daily cap
//! over all models, counted in the store so restarts and replicas share it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use futures::StreamExt;
use serde::Serialize;

use super::embedding::{embed_cached, SharedEmbedder};
use super::error::JobError;
use crate::config::ConfigError;
use crate::llm::{
    consensus, render_prompt, Agreement, ChatClient, Endpoint, EnsembleConfig, FewShot, Vote,
};
use crate::review::ContractViolation;
use crate::store::{EnsembleVerdict, GoldenExample, NewLabel, Proposal, Store};

/// The system message of every call.
const SYSTEM: &str = "You answer exactly in the format of the examples. You never explain.";

/// `[review.ensemble]` ready to call: its endpoints with keys read.
#[derive(Debug, Clone)]
pub struct Prelabeler {
    pub cfg: EnsembleConfig,
    pub endpoints: Vec<Endpoint>,
    pub client: ChatClient,
}

impl Prelabeler {
    /// Checks `cfg` and reads its keys.
    pub fn build(
        cfg: &EnsembleConfig,
        base_dir: &Path,
    ) -> Result<Arc<Prelabeler>, Vec<ConfigError>> {
        cfg.check("review.ensemble")?;
        Ok(Arc::new(Prelabeler {
            endpoints: cfg.endpoints(base_dir)?,
            client: cfg.client(),
            cfg: cfg.clone(),
        }))
    }
}

/// What one pre-labelling pass did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PrelabelReport {
    /// Proposals that got the ensemble's verdict.
    pub labelled: u64,
    pub agreed: u64,
    pub disagreed: u64,
    /// Proposals left unlabelled because the daily cap was reached.
    pub capped: u64,
    /// Model calls made, and how many gave no usable answer.
    pub calls: u64,
    pub failed_calls: u64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
}

/// An LLM answer often comes in a Markdown code fence; the golden set's
/// format is checked on what is inside.
fn unfenced(text: &str) -> &str {
    let t = text.trim();
    if let Some(rest) = t.strip_prefix("```") {
        let body = rest.split_once('\n').map_or("", |(_, b)| b);
        return body.trim_end().strip_suffix("```").unwrap_or(body).trim();
    }
    t
}

/// The `k` golden examples nearest each proposal's input (by embedding when an
/// embedder is given, else its recorded nearest example first).
async fn few_shots(
    store: &Store,
    embedder: Option<&SharedEmbedder>,
    golden: &[GoldenExample],
    proposals: &[&Proposal],
    k: usize,
) -> Result<Vec<Vec<FewShot>>, JobError> {
    let shot = |g: &GoldenExample| FewShot {
        input: g.input.clone(),
        expected_output: g.expected_output.clone(),
    };
    if let (Some(e), false) = (embedder, golden.is_empty()) {
        let gi: Vec<&str> = golden.iter().map(|g| g.input.as_str()).collect();
        let pi: Vec<&str> = proposals.iter().map(|p| p.input.as_str()).collect();
        let (gm, _) = embed_cached(store, e, &gi, None).await?;
        let (pm, _) = embed_cached(store, e, &pi, None).await?;
        let sims = pm.dot(&gm.t());
        return Ok(sims
            .rows()
            .into_iter()
            .map(|row| {
                let mut idx: Vec<usize> = (0..row.len()).collect();
                idx.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
                idx.iter().take(k).map(|&i| shot(&golden[i])).collect()
            })
            .collect());
    }
    Ok(proposals
        .iter()
        .map(|p| {
            let mut v: Vec<&GoldenExample> = golden
                .iter()
                .filter(|g| Some(g.id) == p.nearest_golden_id)
                .collect();
            v.extend(golden.iter().filter(|g| Some(g.id) != p.nearest_golden_id));
            v.into_iter().take(k).map(shot).collect()
        })
        .collect())
}

/// Pre-labels the pending `proposals` not labelled yet.
pub async fn prelabel(
    store: &Store,
    embedder: Option<&SharedEmbedder>,
    pl: &Prelabeler,
    proposals: &[Proposal],
) -> Result<PrelabelReport, JobError> {
    let mut report = PrelabelReport::default();
    let todo: Vec<&Proposal> = proposals
        .iter()
        .filter(|p| p.status == "pending" && p.ensemble_status.is_none())
        .collect();
    if todo.is_empty() || pl.endpoints.is_empty() {
        return Ok(report);
    }
    let midnight = Utc
        .from_utc_datetime(
            &Utc::now()
                .date_naive()
                .and_hms_opt(0, 0, 0)
                .unwrap_or_default(),
        )
        .timestamp_millis();
    let used = store.labels_since(midnight).await?.max(0) as u64;
    let per = pl.endpoints.len() as u64;
    let fits = (pl.cfg.daily_cap.saturating_sub(used) / per) as usize;
    report.capped = todo.len().saturating_sub(fits) as u64;
    if report.capped > 0 {
        tracing::warn!(
            message = "Ensemble daily cap reached; the rest wait for tomorrow.",
            cap = pl.cfg.daily_cap,
            used,
            left_unlabelled = report.capped
        );
    }
    let todo = &todo[..todo.len().min(fits)];
    // Prompts, per golden set.
    let mut by_set: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, p) in todo.iter().enumerate() {
        by_set.entry(p.golden_set.as_str()).or_default().push(i);
    }
    let mut prompts = vec![String::new(); todo.len()];
    let mut contracts = vec![None; todo.len()];
    for (set, idx) in by_set {
        let golden = store.golden_examples(set, None).await?;
        let contract =
            crate::review::output_contract(golden.iter().map(|g| g.expected_output.as_str()));
        let ps: Vec<&Proposal> = idx.iter().map(|&i| todo[i]).collect();
        let shots = few_shots(store, embedder, &golden, &ps, pl.cfg.few_shot).await?;
        for (&i, shots) in idx.iter().zip(shots) {
            contracts[i] = contract.clone();
            prompts[i] = render_prompt(
                pl.cfg.prompt_template(),
                &todo[i].input,
                &shots,
                &contract
                    .as_ref()
                    .map(|c| c.prompt_hint())
                    .unwrap_or_default(),
            )
            .map_err(|e| JobError::Internal(format!("review.ensemble.prompt: {e}")))?;
        }
    }
    // Every (proposal, model) call, at most `concurrency` in flight.
    let calls: Vec<(usize, usize)> = (0..todo.len())
        .flat_map(|i| (0..pl.endpoints.len()).map(move |m| (i, m)))
        .collect();
    let (prompts, contracts) = (&prompts, &contracts);
    let results: Vec<(usize, usize, NewLabel)> = futures::stream::iter(calls)
        .map(|(i, m)| async move {
            let ep = &pl.endpoints[m];
            let label = match pl.client.complete(ep, SYSTEM, &prompts[i]).await {
                Ok(r) => {
                    let answer = unfenced(&r.content).to_string();
                    let error = contracts[i]
                        .as_ref()
                        .and_then(|c| c.violation(&answer))
                        .map(|v| match v {
                            ContractViolation::NotJson(why) => format!(
                                "the answer is not valid JSON ({why}), but the golden set's outputs are"
                            ),
                            ContractViolation::Shape(why) => format!(
                                "the answer is not of the golden outputs' shape: {why}"
                            ),
                        });
                    NewLabel {
                        model: ep.name.clone(),
                        output: Some(answer),
                        error,
                        prompt_tokens: r.prompt_tokens,
                        completion_tokens: r.completion_tokens,
                        latency_ms: Some(r.latency_ms),
                    }
                }
                Err(e) => NewLabel {
                    model: ep.name.clone(),
                    output: None,
                    error: Some(e.to_string()),
                    prompt_tokens: None,
                    completion_tokens: None,
                    latency_ms: None,
                },
            };
            (i, m, label)
        })
        .buffer_unordered(pl.cfg.concurrency.max(1))
        .collect()
        .await;
    let mut per_proposal: Vec<Vec<(usize, NewLabel)>> = vec![Vec::new(); todo.len()];
    for (i, m, l) in results {
        report.calls += 1;
        report.failed_calls += u64::from(l.error.is_some());
        report.prompt_tokens += l.prompt_tokens.unwrap_or(0);
        report.completion_tokens += l.completion_tokens.unwrap_or(0);
        per_proposal[i].push((m, l));
    }
    for (i, mut labels) in per_proposal.into_iter().enumerate() {
        labels.sort_by_key(|(m, _)| *m);
        let labels: Vec<NewLabel> = labels.into_iter().map(|(_, l)| l).collect();
        let votes: Vec<Vote> = labels
            .iter()
            .map(|l| Vote {
                model: l.model.clone(),
                answer: l.output.clone().filter(|_| l.error.is_none()),
            })
            .collect();
        let cos = answer_cosines(store, embedder, pl.cfg.agreement, &votes).await?;
        let c = consensus(
            &votes,
            pl.cfg.agreement,
            &pl.cfg.fields,
            pl.cfg.min_cos,
            pl.cfg.agree_share,
            &|a, b| cos.get(&(a.min(b), a.max(b))).copied().unwrap_or(0.0),
        );
        let verdict = EnsembleVerdict {
            agrees: c.agrees,
            output: c.output,
            share: c.share,
        };
        store.record_labels(todo[i].id, &labels, &verdict).await?;
        report.labelled += 1;
        if verdict.agrees {
            report.agreed += 1;
        } else {
            report.disagreed += 1;
        }
    }
    tracing::info!(
        message = "Ensemble pre-labels recorded.",
        labelled = report.labelled,
        agreed = report.agreed,
        calls = report.calls,
        failed_calls = report.failed_calls,
        prompt_tokens = report.prompt_tokens,
        completion_tokens = report.completion_tokens
    );
    Ok(report)
}

/// Pairwise cosines of the answers (for `agreement = "cosine"`, with an embedder).
async fn answer_cosines(
    store: &Store,
    embedder: Option<&SharedEmbedder>,
    rule: Agreement,
    votes: &[Vote],
) -> Result<HashMap<(usize, usize), f64>, JobError> {
    let mut out = HashMap::new();
    let (Agreement::Cosine, Some(e)) = (rule, embedder) else {
        return Ok(out);
    };
    let idx: Vec<usize> = (0..votes.len())
        .filter(|&i| votes[i].answer.is_some())
        .collect();
    let texts: Vec<&str> = idx
        .iter()
        .map(|&i| votes[i].answer.as_deref().unwrap_or_default())
        .collect();
    if texts.is_empty() {
        return Ok(out);
    }
    let (m, _) = embed_cached(store, e, &texts, None).await?;
    for (a, &i) in idx.iter().enumerate() {
        for (b, &j) in idx.iter().enumerate().skip(a + 1) {
            out.insert((i, j), f64::from(m.row(a).dot(&m.row(b))));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_fences_around_an_answer_are_dropped() {
        assert_eq!(unfenced("```json\n{\"a\": 1}\n```"), "{\"a\": 1}");
        assert_eq!(unfenced("```\nplain\n```"), "plain");
        assert_eq!(unfenced("  {\"a\": 1} "), "{\"a\": 1}");
    }
}
