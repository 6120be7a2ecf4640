//! `kind = "jsonl"`: tails a glob of JSONL log files.
//!
//! A file is identified by a hash of its first line, not by its name or inode:
//! a renamed file (`app.jsonl` → `app.jsonl.1`) and a copy made by copytruncate
//! keep their first line, so reading resumes at the stored byte offset; a file
//! truncated in place or re-created starts with a different line (or is shorter
//! than the offset) and is read from the start. Only complete lines (ending in
//! `\n`) are consumed; a line still being written waits for the next poll.
//!
//! A record without an id of its own gets `j:<file>:<byte offset>`, so a line
//! read twice (a crash between storing traces and saving the offset, or a
//! rotated copy) is stored once.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::error::SourceError;
use super::{JsonlSourceConfig, PollReport};
use crate::config::ConfigError;
use crate::ingest::{FieldMap, IngestConfig};
use crate::store::Store;

/// Bytes read per step; a longer line is rejected.
const CHUNK: usize = 4 << 20;
/// Bytes of the first line hashed into the file identity.
const ID_BYTES: usize = 64 << 10;
/// Traces per insert.
const BATCH: usize = 2000;

/// A checked `jsonl` source.
#[derive(Debug, Clone)]
pub struct JsonlSpec {
    pattern: String,
    map: Arc<FieldMap>,
}

pub(super) fn check(
    c: &JsonlSourceConfig,
    at: &str,
    ingest: &IngestConfig,
    base_dir: &Path,
    errs: &mut Vec<ConfigError>,
) -> Option<JsonlSpec> {
    let n = errs.len();
    let pattern = if Path::new(&c.path).is_absolute() {
        c.path.clone()
    } else {
        base_dir.join(&c.path).to_string_lossy().into_owned()
    };
    if let Err(e) = glob::Pattern::new(&pattern) {
        errs.push(ConfigError::new(
            format!("{at}.path"),
            format!("invalid glob `{}`: {e}", c.path),
        ));
    }
    let mapping = c.mapping.as_ref().unwrap_or(ingest);
    errs.extend(
        mapping
            .check(&format!("{at}.mapping"))
            .err()
            .unwrap_or_default(),
    );
    if errs.len() > n {
        return None;
    }
    Some(JsonlSpec {
        pattern,
        map: Arc::new(FieldMap::new(mapping)),
    })
}

/// Where reading of one file stands.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FilePos {
    /// Last path the file was seen at (for logs; the key is its first line).
    pub path: String,
    /// Bytes consumed (always at a line boundary).
    pub offset: u64,
    /// Lines consumed.
    pub line: u64,
    /// Malformed lines skipped so far.
    pub rejected: u64,
}

fn is_compressed(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()),
        Some("gz" | "zst" | "bz2" | "xz" | "zip")
    )
}

/// Files matching the glob, oldest first (rotated files are drained first).
fn matching_files(pattern: &str) -> Result<Vec<PathBuf>, SourceError> {
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = Vec::new();
    let entries = glob::glob(pattern).map_err(|source| SourceError::Glob {
        pattern: pattern.to_string(),
        source,
    })?;
    for entry in entries {
        let Ok(p) = entry else { continue };
        if is_compressed(&p) {
            continue;
        }
        if let Ok(m) = std::fs::metadata(&p) {
            if m.is_file() {
                files.push((m.modified().unwrap_or(std::time::UNIX_EPOCH), p));
            }
        }
    }
    files.sort();
    Ok(files.into_iter().map(|(_, p)| p).collect())
}

/// The file's identity: a hash of its first line, `None` until it has one.
fn file_key(f: &mut std::fs::File) -> std::io::Result<Option<String>> {
    let mut buf = vec![0u8; ID_BYTES];
    f.seek(SeekFrom::Start(0))?;
    let mut filled = 0;
    while filled < buf.len() {
        let n = f.read(&mut buf[filled..])?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    let head = &buf[..filled];
    let first = match head.iter().position(|b| *b == b'\n') {
        Some(i) => &head[..=i],
        None if filled == ID_BYTES => head,
        None => return Ok(None),
    };
    Ok(Some(blake3::hash(first).to_hex()[..16].to_string()))
}

/// A line and the byte offset it starts at.
type Line = (u64, Vec<u8>);

/// Complete lines read from `offset`: (bytes consumed, lines).
fn read_lines(f: &mut std::fs::File, offset: u64) -> std::io::Result<(u64, Vec<Line>)> {
    f.seek(SeekFrom::Start(offset))?;
    let mut buf = Vec::with_capacity(64 << 10);
    f.take(CHUNK as u64).read_to_end(&mut buf)?;
    let Some(last_nl) = buf.iter().rposition(|b| *b == b'\n') else {
        if buf.len() == CHUNK {
            // One line longer than CHUNK: hand it over whole to be rejected.
            return Ok((buf.len() as u64, vec![(offset, buf)]));
        }
        return Ok((0, Vec::new()));
    };
    let mut lines = Vec::new();
    let mut start = 0usize;
    for (i, b) in buf[..=last_nl].iter().enumerate() {
        if *b == b'\n' {
            lines.push((offset + start as u64, buf[start..i].to_vec()));
            start = i + 1;
        }
    }
    Ok(((last_nl + 1) as u64, lines))
}

/// Reads every new complete line of every matching file.
pub async fn poll(
    store: &Store,
    name: &str,
    spec: &JsonlSpec,
    shutdown: &watch::Receiver<bool>,
) -> Result<PollReport, SourceError> {
    let mut positions: HashMap<String, FilePos> = store
        .source_state(name)
        .await?
        .into_iter()
        .filter_map(|r| Some((r.key, serde_json::from_value(r.state).ok()?)))
        .collect();
    let pattern = spec.pattern.clone();
    let files = tokio::task::spawn_blocking(move || matching_files(&pattern)).await??;
    let mut report = PollReport::default();
    let mut seen = HashSet::new();
    for path in files {
        if *shutdown.borrow() {
            break;
        }
        let p = path.clone();
        let opened = tokio::task::spawn_blocking(move || -> std::io::Result<_> {
            let mut f = std::fs::File::open(&p)?;
            let key = file_key(&mut f)?;
            let len = f.metadata()?.len();
            Ok((f, key, len))
        })
        .await?;
        let (file, key, len) = match opened {
            Ok(x) => x,
            // Rotated away between glob and open: the next poll sees its new name.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => return Err(SourceError::Read { path, source }),
        };
        let Some(key) = key else { continue };
        seen.insert(key.clone());
        let mut pos = positions.remove(&key).unwrap_or_default();
        pos.path = path.display().to_string();
        if len < pos.offset {
            tracing::warn!(
                message = "File is shorter than the stored offset (truncated); reading it from the start.",
                source = %name,
                file = %path.display()
            );
            pos.offset = 0;
            pos.line = 0;
        }
        let mut file = Some(file);
        while pos.offset < len && !*shutdown.borrow() {
            let mut f = file.take().expect("file handed back each step");
            let at = pos.offset;
            let (f, read) = tokio::task::spawn_blocking(move || {
                let r = read_lines(&mut f, at);
                (f, r)
            })
            .await?;
            file = Some(f);
            let (consumed, lines) = read.map_err(|source| SourceError::Read {
                path: path.clone(),
                source,
            })?;
            if consumed == 0 {
                break; // only a partial line left
            }
            let mut traces = Vec::with_capacity(lines.len().min(BATCH));
            for (start, bytes) in &lines {
                pos.line += 1;
                let text = String::from_utf8_lossy(bytes);
                // A byte-order mark at the start of the file is not part of line 1.
                let text = text.trim().trim_start_matches('\u{feff}');
                if text.is_empty() {
                    continue;
                }
                report.read += 1;
                let id = format!("j:{key}:{start}");
                let mapped = spec.map.parse_trace_or(text, name, Some(id.as_str()));
                match mapped {
                    Ok(t) => traces.push(t),
                    Err(why) => {
                        report.rejected += 1;
                        pos.rejected += 1;
                        tracing::warn!(
                            message = "Malformed line skipped.",
                            source = %name,
                            file = %path.display(),
                            line = pos.line,
                            reason = %why
                        );
                    }
                }
            }
            for chunk in traces.chunks(BATCH) {
                let s = store.insert_traces(chunk).await?;
                report.add(&s);
            }
            // Saved only after the traces are stored: a crash re-reads, never skips.
            pos.offset += consumed;
            store
                .put_source_state(name, &key, &serde_json::to_value(&pos)?)
                .await?;
        }
        positions.insert(key, pos);
    }
    // Files that left the glob (deleted, compressed) will not come back.
    if !seen.is_empty() {
        for key in positions.keys().filter(|k| !seen.contains(*k)) {
            store.delete_source_state(name, key).await?;
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn only_complete_lines_are_consumed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.jsonl");
        let mut f = std::fs::File::create(&p).unwrap();
        write!(f, "{{\"input\":\"a\"}}\n{{\"input\":\"b\"}}\n{{\"inp").unwrap();
        let mut r = std::fs::File::open(&p).unwrap();
        let (consumed, lines) = read_lines(&mut r, 0).unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1].0, 14);
        assert_eq!(consumed, 28);
        let (c2, l2) = read_lines(&mut r, consumed).unwrap();
        assert_eq!((c2, l2.len()), (0, 0));
    }

    #[test]
    fn identity_is_the_first_line_and_survives_rename() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.jsonl");
        std::fs::write(&p, "partial").unwrap();
        let key = |p: &Path| file_key(&mut std::fs::File::open(p).unwrap()).unwrap();
        assert_eq!(key(&p), None, "no complete first line yet");
        std::fs::write(&p, "{\"input\":\"a\"}\n{\"input\":\"b\"}\n").unwrap();
        let k1 = key(&p).unwrap();
        let q = dir.path().join("a.jsonl.1");
        std::fs::rename(&p, &q).unwrap();
        assert_eq!(key(&q).unwrap(), k1);
        std::fs::write(&p, "{\"input\":\"c\"}\n").unwrap();
        assert_ne!(key(&p).unwrap(), k1);
    }

    #[test]
    fn compressed_rotations_are_skipped() {
        assert!(is_compressed(Path::new("/x/app.jsonl.2.gz")));
        assert!(!is_compressed(Path::new("/x/app.jsonl.1")));
    }
}
