//! The trace record reader (JSONL and CSV) with its field mapping, on any bytes.
//!
//! The first byte picks the format and one of several field maps (flat,
//! nested paths with a negative index, a small size cap); the rest is the
//! file. Besides not panicking, the reader must keep its promises: no stored
//! text over `max_text_bytes`, every rejection names a line ≥ 1, and no more
//! traces than records read.
#![no_main]

use driftwatch::ingest::{parse_records, FieldMap, IngestConfig, IngestOptions, InputFormat};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let mut cfg = IngestConfig::default();
    match (sel >> 1) % 3 {
        0 => {}
        1 => {
            cfg.input_field = "request.messages.-1.content".into();
            cfg.output_field = "response.choices.0.message.content".into();
            cfg.id_field = "meta.id".into();
        }
        _ => cfg.max_text_bytes = 16,
    }
    let format = if sel & 1 == 0 {
        InputFormat::Jsonl
    } else {
        InputFormat::Csv
    };
    let opts = IngestOptions {
        format,
        map: FieldMap::new(&cfg),
        source: "fuzz".into(),
        batch_size: 64,
    };
    let (traces, read, errors) =
        parse_records(Box::new(std::io::Cursor::new(body.to_vec())), &opts);
    assert!(
        traces.len() as u64 <= read,
        "{} traces of {read} records",
        traces.len()
    );
    for t in &traces {
        assert!(t.input.len() <= cfg.max_text_bytes && t.output.len() <= cfg.max_text_bytes);
    }
    for (line, reason) in &errors {
        assert!(*line >= 1 && !reason.is_empty(), "line {line}: {reason}");
    }
});
