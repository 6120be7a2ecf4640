//! Integration tests, one binary. Every store-touching test runs on SQLite and on a
//! real PostgreSQL (a fresh database per test, see `common`).

mod common;

// The store API itself: traces, golden versions, runs.
mod store;
// CLI ingest: JSONL/CSV, bad lines, idempotency, exit codes.
mod ingest;
// HTTP ingest: auth, body limit, per-item errors.
mod http;
// Structural analysis runs on generated data with known truth.
mod analysis;

mod answers;
// `bench tests`: the test stage alone on exported metric columns.
mod bench;
// `compare`: two files in, findings out, no database.
mod compare;
// Semantic drift, coverage and proposals with the real embedding model.
mod semantic;
// Config files: check-config output and exit codes.
mod config;
// Alerts: state, outbox, delivery to real SMTP/HTTP peers on loopback.
mod alerts;

mod incidents;

mod prometheus;
// The review loop: proposals listed, accepted into golden versions, rejected, exported, imported.
mod proposals;
// Embedding ahead of time: `embed backfill` and golden import, with the real model.
mod embed;
// The daemon's scheduler: cron ticks, no overlapping runs, shutdown; `jobs list`.
mod scheduler;
// The daemon: replicas on PostgreSQL, SQLite lock, signals, /metrics, store outage.
mod daemon;
// External sources: sql by watermark, jsonl tailing with rotation.
mod sources;
// The review page: sign-in, CSRF, conflicts, escaping; the loop in headless Chromium.
mod web;
// Detection quality on a vendored real-text subset: near topic, typos, JSON break, grouped no-drift.
mod quality;

// Topic exclusions: a rejected topic is not proposed again (real model).
mod exclusions;

// LLM-ensemble pre-labels against chat-completions servers on loopback.
mod ensemble;

// The .deb and tarball installed into a scratch root; the installed binary run from elsewhere.
mod package;
