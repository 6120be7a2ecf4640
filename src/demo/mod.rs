//! The demo's data: a realistic support assistant's production log and golden set
//! ([`generator`]), used by `driftwatch demo` (`cli::demo`), tests and benchmarks.
//! A leaf: it imports nothing from the crate.

pub mod generator;
pub mod responder;

use std::io::Write;

use generator::{production_records, GenOptions};

/// JSON Schema of the demo assistant's answers.
pub const SCHEMA: &str = include_str!("output.schema.json");

/// Writes `n` generated production traces as JSONL.
pub fn write_production(out: &mut impl Write, opts: &GenOptions) -> std::io::Result<()> {
    for (rec, _) in production_records(opts) {
        writeln!(out, "{rec}")?;
    }
    Ok(())
}
