//! The OTLP/HTTP body decoder and span mapping (`POST /v1/otlp/traces`) on any
//! bytes: the first byte picks protobuf or JSON and plain or gzip. Decoding
//! returns a request or an error, never panics; every record made from a
//! decoded request has an id, an input and an output, and the mapping never
//! yields more records than spans.
#![no_main]

use driftwatch::ingest::otlp::{decode, span_records, Encoding, OtlpConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let enc = if mode & 1 == 0 {
        Encoding::Protobuf
    } else {
        Encoding::Json
    };
    let Ok(req) = decode(body, enc, mode & 2 != 0, 1 << 16) else {
        return;
    };
    let spans: usize = req
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum();
    let cfg = OtlpConfig {
        input_attributes: vec!["q".into()],
        output_attributes: vec!["a".into()],
    };
    let out = span_records(&req, &cfg);
    assert_eq!(out.records.len() as u64 + out.skipped, spans as u64);
    for r in &out.records {
        assert!(r["id"].is_string() && r["input"].is_string() && r["output"].is_string(), "{r}");
    }
});
