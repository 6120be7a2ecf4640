//! Embedding ahead of time: `driftwatch embed backfill` fills the cache with
//! existing traces' texts, and a new golden version's examples are embedded as
//! soon as it is created, so later runs only embed what is really new.

use std::collections::HashSet;
use std::time::Instant;

use chrono::{DateTime, Utc};

use super::embedding::{embed_cached, EmbedStats, SharedEmbedder};
use super::error::JobError;
use crate::store::{content_hash, Store};

/// Texts handed to [`embed_cached`] per call (the progress bar moves per chunk).
const BACKFILL_CHUNK: usize = 512;

/// What to backfill.
#[derive(Debug, Clone, Default)]
pub struct BackfillOptions {
    /// Only traces at or after this time (all traces when `None`).
    pub since: Option<DateTime<Utc>>,
    /// At most this many traces, newest first (all when `None`).
    pub limit: Option<i64>,
    /// Embed outputs as well as inputs.
    pub outputs: bool,
}

/// Summary of a backfill: distinct texts, cache hits and misses, wall time.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct BackfillReport {
    pub texts: u64,
    pub hits: u64,
    pub misses: u64,
    pub seconds: f64,
}

/// Parses `--since`: an RFC 3339 timestamp, or a duration back from `now` (`24h`, `7d`).
pub fn parse_since(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let d = humantime::parse_duration(s).map_err(|e| {
        format!("--since {s}: expected an RFC 3339 time or a duration like 24h ({e})")
    })?;
    let d = chrono::Duration::from_std(d).map_err(|e| format!("--since {s}: {e}"))?;
    now.checked_sub_signed(d)
        .ok_or_else(|| format!("--since {s}: too far back"))
}

/// Distinct non-empty texts, in first-seen order.
fn distinct<'a>(texts: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen = HashSet::new();
    texts
        .into_iter()
        .filter(|t| !t.trim().is_empty() && seen.insert(content_hash(t)))
        .collect()
}

/// Embeds `texts` through the cache in chunks; `progress` counts texts.
async fn embed_chunked(
    store: &Store,
    embedder: &SharedEmbedder,
    texts: &[&str],
    progress: Option<&indicatif::ProgressBar>,
) -> Result<EmbedStats, JobError> {
    let mut stats = EmbedStats::default();
    if let Some(pb) = progress {
        pb.set_length(texts.len() as u64);
    }
    for chunk in texts.chunks(BACKFILL_CHUNK) {
        let (_, s) = embed_cached(store, embedder, chunk, None).await?;
        stats += s;
        if let Some(pb) = progress {
            pb.inc(chunk.len() as u64);
        }
    }
    Ok(stats)
}

/// Embeds stored traces' inputs (and outputs with `opts.outputs`) into the cache;
/// texts already cached are counted as hits and not embedded again.
pub async fn backfill(
    store: &Store,
    embedder: &SharedEmbedder,
    opts: &BackfillOptions,
    progress: Option<&indicatif::ProgressBar>,
) -> Result<BackfillReport, JobError> {
    let started = Instant::now();
    let traces = store
        .traces_since(opts.since.map(|t| t.timestamp_millis()), opts.limit)
        .await?;
    let inputs = traces.iter().map(|t| t.input.as_str());
    let texts = if opts.outputs {
        distinct(inputs.chain(traces.iter().map(|t| t.output.as_str())))
    } else {
        distinct(inputs)
    };
    let stats = embed_chunked(store, embedder, &texts, progress).await?;
    Ok(BackfillReport {
        texts: texts.len() as u64,
        hits: stats.hits,
        misses: stats.misses,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Embeds the inputs and expected outputs of the examples added in `version` of
/// `set`. Returns the number of distinct texts and the cache statistics.
pub async fn embed_golden_version(
    store: &Store,
    embedder: &SharedEmbedder,
    set: &str,
    version: i64,
) -> Result<(u64, EmbedStats), JobError> {
    let examples: Vec<_> = store
        .golden_examples(set, Some(version))
        .await?
        .into_iter()
        .filter(|e| e.version_added == version)
        .collect();
    let texts = distinct(
        examples
            .iter()
            .flat_map(|e| [e.input.as_str(), e.expected_output.as_str()]),
    );
    let stats = embed_chunked(store, embedder, &texts, None).await?;
    Ok((texts.len() as u64, stats))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn since_accepts_rfc3339_and_durations() {
        let now = Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap();
        assert_eq!(
            parse_since("2026-11-19T00:00:00Z", now).unwrap(),
            Utc.with_ymd_and_hms(2026, 11, 19, 0, 0, 0).unwrap()
        );
        assert_eq!(
            parse_since("24h", now).unwrap(),
            Utc.with_ymd_and_hms(2026, 11, 19, 12, 0, 0).unwrap()
        );
        assert!(parse_since("yesterday", now).is_err());
    }

    #[test]
    fn distinct_drops_duplicates_and_blanks() {
        assert_eq!(distinct(["a", "b", "a", " ", ""]), vec!["a", "b"]);
    }
}
