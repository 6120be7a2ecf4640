//! Streaming ingest of JSONL and CSV. A parser thread turns lines into batches of
//! traces while the async side inserts the previous batch, so parsing and SQLite
//! writes overlap on two cores.

use std::io::{BufRead, BufReader, Read};

use indicatif::ProgressBar;
use serde_json::Value;
use tokio::sync::mpsc;

use super::{FieldMap, IngestReport};
use crate::store::{NewTrace, Store, StoreError};

/// Input file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputFormat {
    Jsonl,
    Csv,
}

/// How to ingest one stream.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    pub format: InputFormat,
    pub map: FieldMap,
    pub source: String,
    pub batch_size: usize,
}

struct Batch {
    traces: Vec<NewTrace>,
    read: u64,
    errors: Vec<(u64, String)>,
    bytes: u64,
}

/// Parses every record of `input` without storing anything: the traces, how
/// many records were read, and the rejected ones with their 1-based lines.
/// The same reader as [`ingest_reader`], for tests and the fuzz targets
/// (`fuzz/`); ingest itself streams batches into the store instead.
pub fn parse_records(
    input: Box<dyn Read + Send>,
    opts: &IngestOptions,
) -> (Vec<NewTrace>, u64, Vec<(u64, String)>) {
    let (mut traces, mut read, mut errors) = (Vec::new(), 0, Vec::new());
    for_each_batch(input, opts, |batch, n, errs| {
        traces.extend(batch);
        read += n;
        errors.extend(errs);
    });
    (traces, read, errors)
}

/// Parses `input` on a parser thread, the reader [`ingest_reader`] uses, and
/// calls `f` on the calling thread with each batch of up to
/// `opts.batch_size` traces as it comes (the next batch is parsed meanwhile):
/// the traces, the records read, and the rejected ones with their 1-based
/// lines. Must not be called from an async worker (it blocks on the parser).
pub fn for_each_batch(
    input: Box<dyn Read + Send>,
    opts: &IngestOptions,
    mut f: impl FnMut(Vec<NewTrace>, u64, Vec<(u64, String)>),
) {
    let (tx, mut rx) = mpsc::channel::<Batch>(2);
    let opts2 = opts.clone();
    let parser = std::thread::spawn(move || match opts2.format {
        InputFormat::Jsonl => parse_jsonl(input, &opts2, &tx),
        InputFormat::Csv => parse_csv(input, &opts2, &tx),
    });
    while let Some(batch) = rx.blocking_recv() {
        f(batch.traces, batch.read, batch.errors);
    }
    if let Err(panic) = parser.join() {
        std::panic::resume_unwind(panic);
    }
}

/// Reads every record of `input`, stores the valid ones in batches and reports
/// the rest with their line numbers. Only a store failure is an `Err`: bad
/// records never are.
pub async fn ingest_reader(
    store: &Store,
    input: Box<dyn Read + Send>,
    opts: &IngestOptions,
    progress: Option<&ProgressBar>,
) -> Result<IngestReport, StoreError> {
    let (tx, mut rx) = mpsc::channel::<Batch>(2);
    let opts2 = opts.clone();
    let parser = std::thread::spawn(move || match opts2.format {
        InputFormat::Jsonl => parse_jsonl(input, &opts2, &tx),
        InputFormat::Csv => parse_csv(input, &opts2, &tx),
    });
    let mut report = IngestReport::default();
    let mut result = Ok(());
    while let Some(batch) = rx.recv().await {
        report.read += batch.read;
        for (line, reason) in batch.errors {
            report.reject(line, reason);
        }
        if result.is_ok() {
            match store.insert_traces(&batch.traces).await {
                Ok(s) => {
                    report.add(&s);
                }
                Err(e) => result = Err(e),
            }
        }
        if let Some(pb) = progress {
            pb.inc(batch.bytes);
            pb.set_message(report.summary_line());
        }
        if result.is_err() {
            // Stop the parser by dropping the receiver.
            break;
        }
    }
    drop(rx);
    let _ = parser.join();
    result.map(|_| report)
}

fn send(tx: &mpsc::Sender<Batch>, batch: &mut Batch, cap: usize) -> bool {
    let full = std::mem::replace(
        batch,
        Batch {
            traces: Vec::with_capacity(cap),
            read: 0,
            errors: Vec::new(),
            bytes: 0,
        },
    );
    tx.blocking_send(full).is_ok()
}

/// Reads one line (with its `\n`) into `buf`, holding at most `max` bytes: the
/// rest of a longer line is read past, not kept. Returns the bytes consumed and
/// whether the line was longer than `max` (then `buf` is empty).
pub(crate) fn read_line_capped(
    r: &mut impl BufRead,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<(usize, bool)> {
    let (mut consumed, mut over) = (0, false);
    loop {
        let avail = match r.fill_buf() {
            Ok(a) => a,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if avail.is_empty() {
            return Ok((consumed, over));
        }
        let (n, done) = match avail.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (avail.len(), false),
        };
        if !over {
            if buf.len() + n > max {
                over = true;
                buf.clear();
            } else {
                buf.extend_from_slice(&avail[..n]);
            }
        }
        r.consume(n);
        consumed += n;
        if done {
            return Ok((consumed, over));
        }
    }
}

fn parse_jsonl(input: Box<dyn Read + Send>, opts: &IngestOptions, tx: &mpsc::Sender<Batch>) {
    let mut reader = BufReader::with_capacity(1 << 20, input);
    let mut buf = Vec::with_capacity(4096);
    let mut line_no = 0u64;
    let cap = opts.batch_size;
    let mut batch = Batch {
        traces: Vec::with_capacity(cap),
        read: 0,
        errors: Vec::new(),
        bytes: 0,
    };
    let max_line = opts.map.max_record_bytes();
    loop {
        buf.clear();
        let (n, overlong) = match read_line_capped(&mut reader, &mut buf, max_line) {
            Ok((0, _)) => break,
            Ok(x) => x,
            Err(e) => {
                batch.read += 1;
                batch.errors.push((line_no + 1, format!("read error: {e}")));
                break;
            }
        };
        line_no += 1;
        batch.bytes += n as u64;
        if overlong {
            batch.read += 1;
            batch
                .errors
                .push((line_no, format!("line is longer than {max_line} bytes")));
            continue;
        }
        let mut trimmed = buf.trim_ascii();
        if line_no == 1 {
            // A UTF-8 byte-order mark some editors write: not part of the record.
            trimmed = trimmed.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(trimmed);
        }
        if trimmed.is_empty() {
            continue;
        }
        batch.read += 1;
        match std::str::from_utf8(trimmed) {
            Err(e) => batch.errors.push((
                line_no,
                format!("invalid UTF-8 at byte {}", e.valid_up_to()),
            )),
            Ok(text) => match opts.map.parse_trace(text, &opts.source) {
                Ok(t) => batch.traces.push(t),
                Err(reason) => batch.errors.push((line_no, reason)),
            },
        }
        if batch.traces.len() >= cap && !send(tx, &mut batch, cap) {
            return;
        }
    }
    send(tx, &mut batch, 0);
}

/// A reader that fails once more than `limit` bytes have been read from it:
/// the CSV parser holds a record whole, so a record with no end in sight is
/// stopped at the cap instead of filling memory.
pub(crate) struct Budgeted<R> {
    inner: R,
    read: u64,
    /// Set by [`CappedCsv::arm`] (the parser owns the reader) before each record.
    limit: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<R: Read> Read for Budgeted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::sync::atomic::Ordering::Relaxed;
        if self.read > self.limit.load(Relaxed) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                RECORD_TOO_LONG,
            ));
        }
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

const RECORD_TOO_LONG: &str = "record too long";

/// Bytes the CSV parser may buffer ahead of the record it is reading.
const CSV_READ_AHEAD: u64 = 1 << 20;

/// Whether CSV reading can go on after this failed record (a wrong field
/// count or bad UTF-8 ends only that record; anything else ends the input).
pub(crate) fn csv_can_go_on(e: &csv::Error) -> bool {
    matches!(
        e.kind(),
        csv::ErrorKind::UnequalLengths { .. } | csv::ErrorKind::Utf8 { .. }
    )
}

/// A CSV reader whose header and records may each use at most `max_record`
/// bytes (plus the parser's read-ahead): every CSV path (trace ingest, golden
/// import) reads through it.
pub(crate) struct CappedCsv<R> {
    pub rdr: csv::Reader<Budgeted<R>>,
    limit: std::sync::Arc<std::sync::atomic::AtomicU64>,
    max_record: u64,
}

impl<R: Read> CappedCsv<R> {
    pub fn new(input: R, max_record: usize) -> Self {
        let limit = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let rdr = csv::ReaderBuilder::new()
            .flexible(false)
            .buffer_capacity(CSV_READ_AHEAD as usize)
            .from_reader(Budgeted {
                inner: input,
                read: 0,
                limit: limit.clone(),
            });
        let mut c = CappedCsv {
            rdr,
            limit,
            max_record: max_record as u64,
        };
        c.arm();
        c
    }

    /// Gives the next record (or the header) its budget, from where the
    /// reader stands now.
    pub fn arm(&mut self) {
        self.limit.store(
            self.rdr.position().byte() + self.max_record + 2 * CSV_READ_AHEAD,
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// The reason for a failed record: over the cap (then nothing after it
    /// can be read), or malformed.
    pub fn reason(&self, e: &csv::Error) -> String {
        if matches!(e.kind(), csv::ErrorKind::Io(io) if io.to_string() == RECORD_TOO_LONG) {
            // Where a quoted record this long ends cannot be known without
            // reading it: the rest is not read.
            format!(
                "record is longer than {} bytes; the rest of the input was not read",
                self.max_record
            )
        } else {
            format!("malformed CSV: {e}")
        }
    }
}

fn parse_csv(input: Box<dyn Read + Send>, opts: &IngestOptions, tx: &mpsc::Sender<Batch>) {
    let mut csv = CappedCsv::new(input, opts.map.max_record_bytes());
    let cap = opts.batch_size;
    let mut batch = Batch {
        traces: Vec::with_capacity(cap),
        read: 0,
        errors: Vec::new(),
        bytes: 0,
    };
    let headers = match csv.rdr.byte_headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            batch.read += 1;
            batch
                .errors
                .push((1, format!("cannot read CSV header: {e}")));
            send(tx, &mut batch, 0);
            return;
        }
    };
    let names: Vec<String> = headers
        .iter()
        .map(|h| String::from_utf8_lossy(h).trim().to_string())
        .collect();
    let mut last_pos = 0u64;
    let mut record = csv::ByteRecord::new();
    loop {
        // After a record the reader stands at the start of the next one.
        let line = csv.rdr.position().line();
        csv.arm();
        match csv.rdr.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                batch.read += 1;
                let line = record.position().map(|p| p.line()).unwrap_or(line);
                let pos = record.position().map(|p| p.byte()).unwrap_or(last_pos);
                batch.bytes += pos.saturating_sub(last_pos);
                last_pos = pos;
                let mut obj = serde_json::Map::with_capacity(names.len());
                let mut bad = None;
                for (name, field) in names.iter().zip(record.iter()) {
                    match std::str::from_utf8(field) {
                        Ok("") => {}
                        Ok(s) => {
                            obj.insert(name.clone(), Value::String(s.to_string()));
                        }
                        Err(e) => {
                            bad = Some(format!(
                                "invalid UTF-8 in column `{name}` at byte {}",
                                e.valid_up_to()
                            ));
                            break;
                        }
                    }
                }
                match bad {
                    Some(reason) => batch.errors.push((line, reason)),
                    None => {
                        // CSV cells are strings; a `metadata` column may hold JSON.
                        if let Some(Value::String(m)) = obj.get("metadata") {
                            if let Ok(parsed) = serde_json::from_str::<Value>(m) {
                                obj.insert("metadata".into(), parsed);
                            }
                        }
                        match opts.map.to_trace(&Value::Object(obj), &opts.source) {
                            Ok(t) => batch.traces.push(t),
                            Err(reason) => batch.errors.push((line, reason)),
                        }
                    }
                }
            }
            Err(e) => {
                batch.read += 1;
                // The line the bad record starts on, as the CSV reader saw it.
                let line = e.position().map_or(line, |p| p.line());
                batch.errors.push((line, csv.reason(&e)));
                if !csv_can_go_on(&e) {
                    break;
                }
            }
        }
        if batch.traces.len() >= cap && !send(tx, &mut batch, cap) {
            return;
        }
    }
    send(tx, &mut batch, 0);
}
