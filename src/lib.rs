//! driftwatch: watches an LLM application's logged production I/O against its
//! golden dataset, finds structural and semantic drift, alerts ops and proposes
//! uncovered examples for the golden set. See ARCHITECTURE.md for the data flow.

// `!(x > 0.0)` is deliberate: it is the NaN-safe way to reject a value.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

pub mod alert;
pub mod answers;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod embed;
pub mod golden;
pub mod html;
pub mod http;
pub mod ingest;
pub mod jobs;
pub mod llm;
pub mod metrics;
pub mod notify;
pub mod ratelimit;
pub mod report;
pub mod review;
pub mod semantic;
pub mod settings;
pub mod sources;
pub mod stats;
pub mod store;
pub mod telemetry;
pub mod text;
pub mod web;

pub use cli::{run, Cli};
