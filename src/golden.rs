//! Golden-set files: reading `{input, expected_output, tags}` records from JSONL or
//! CSV for `golden import`, and writing them back for `golden export`. Each import
//! becomes one new version of the set through [`Store::apply_golden_change`]; a
//! record whose input is already an active example of the set is skipped, so
//! importing a file twice adds nothing.

use std::collections::HashSet;
use std::io::{BufRead, Write};

use serde_json::Value;

use crate::ingest::{IngestReport, InputFormat};
use crate::store::{
    content_hash, GoldenChange, GoldenExample, GoldenVersion, NewGoldenExample, Store, StoreError,
};

/// Parses golden records; bad ones are reported by line, never fatal. A line
/// or record longer than `max_record` bytes is rejected without being held
/// (CSV: reading stops there, as a quoted record's end cannot be known).
pub fn read_golden(
    input: impl BufRead,
    format: InputFormat,
    max_record: usize,
) -> (Vec<NewGoldenExample>, IngestReport) {
    let mut report = IngestReport::default();
    let mut out = Vec::new();
    let mut take = |report: &mut IngestReport, line: u64, v: Value| {
        let text = |k: &str| match v.get(k) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Null) | None => None,
            Some(other) => Some(other.to_string()),
        };
        let Some(input) = text("input") else {
            report.reject(line, "missing field `input`");
            return;
        };
        let expected = text("expected_output")
            .or_else(|| text("output"))
            .unwrap_or_default();
        let tags = match v.get("tags") {
            Some(Value::Array(a)) => a
                .iter()
                .map(|t| {
                    t.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| t.to_string())
                })
                .collect(),
            Some(Value::String(s)) => s
                .split([',', ';'])
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
                .collect(),
            _ => Vec::new(),
        };
        out.push(NewGoldenExample {
            input,
            expected_output: expected,
            tags,
            proposal_id: None,
        });
    };
    match format {
        InputFormat::Jsonl => {
            let failed = crate::ingest::for_each_json_object(input, max_record, |line, rec| {
                report.read += 1;
                match rec {
                    Ok(o) => take(&mut report, line, Value::Object(o)),
                    Err(reason) => report.reject(line, reason),
                }
            });
            if let Some((line, reason)) = failed {
                report.reject(line, reason);
            }
        }
        InputFormat::Csv => {
            let mut csv = crate::ingest::CappedCsv::new(input, max_record);
            let headers = match csv.rdr.headers() {
                Ok(h) => h.clone(),
                Err(e) => {
                    report.reject(1, format!("cannot read CSV header: {}", csv.reason(&e)));
                    return (out, report);
                }
            };
            let mut rec = csv::StringRecord::new();
            loop {
                let line = csv.rdr.position().line();
                csv.arm();
                match csv.rdr.read_record(&mut rec) {
                    Ok(false) => break,
                    Ok(true) => {
                        report.read += 1;
                        let line = rec.position().map_or(line, |p| p.line());
                        let obj: serde_json::Map<String, Value> = headers
                            .iter()
                            .zip(rec.iter())
                            .map(|(h, v)| (h.trim().to_string(), Value::String(v.to_string())))
                            .collect();
                        take(&mut report, line, Value::Object(obj));
                    }
                    Err(e) => {
                        report.read += 1;
                        let line = e.position().map_or(line, |p| p.line());
                        report.reject(line, csv.reason(&e));
                        if !crate::ingest::csv_can_go_on(&e) {
                            break;
                        }
                    }
                }
            }
        }
    }
    (out, report)
}

/// Adds `examples` to `set` as one new version, skipping inputs already active in
/// the set (and duplicates within the file). Returns the version (None when
/// nothing was new) and how many were skipped.
pub async fn import(
    store: &Store,
    set: &str,
    examples: Vec<NewGoldenExample>,
    description: &str,
) -> Result<(Option<GoldenVersion>, u64), StoreError> {
    let existing: HashSet<String> = store
        .golden_examples(set, None)
        .await?
        .into_iter()
        .map(|e| e.input_hash)
        .collect();
    let mut seen = HashSet::new();
    let mut fresh = Vec::new();
    let mut skipped = 0u64;
    for e in examples {
        let h = content_hash(&e.input);
        if existing.contains(&h) || !seen.insert(h) {
            skipped += 1;
        } else {
            fresh.push(e);
        }
    }
    if fresh.is_empty() {
        return Ok((None, skipped));
    }
    let change = GoldenChange {
        description: description.to_string(),
        add: fresh,
        archive: Vec::new(),
    };
    Ok((
        Some(store.apply_golden_change(set, &change).await?),
        skipped,
    ))
}

/// Writes examples as JSONL `{id, input, expected_output, tags, provenance, version_added}`.
pub fn write_jsonl(out: &mut impl Write, examples: &[GoldenExample]) -> std::io::Result<()> {
    for e in examples {
        let v = serde_json::json!({
            "id": e.id,
            "input": e.input,
            "expected_output": e.expected_output,
            "tags": e.tags,
            "provenance": e.provenance,
            "proposal_id": e.proposal_id,
            "version_added": e.version_added,
        });
        writeln!(out, "{v}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_and_csv_golden_parse_with_line_errors() {
        let text = "{\"input\":\"a\",\"expected_output\":\"b\",\"tags\":[\"x\"]}\nnot json\n{\"expected_output\":\"c\"}\n";
        let (ex, rep) = read_golden(text.as_bytes(), InputFormat::Jsonl, 1 << 20);
        assert_eq!(ex.len(), 1);
        assert_eq!(ex[0].tags, vec!["x"]);
        assert_eq!(rep.rejected, 2);
        assert_eq!(rep.errors[0].line, 2);
        assert_eq!(rep.errors[1].line, 3);
        let csv = "input,expected_output,tags\nq1,a1,\"t1,t2\"\nq2,a2,\n";
        let (ex, rep) = read_golden(csv.as_bytes(), InputFormat::Csv, 1 << 20);
        assert_eq!(rep.rejected, 0);
        assert_eq!(ex[0].tags, vec!["t1", "t2"]);
        assert_eq!(ex[1].input, "q2");
    }
}
