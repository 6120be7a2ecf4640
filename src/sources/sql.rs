//! `kind = "sql"`: incremental reads from the application's own database.
//!
//! Each poll runs, page by page,
//! `SELECT <mapped columns> FROM <table | (query)> WHERE (ts, id) > watermark
//! ORDER BY ts, id LIMIT max_rows` on a read-only connection, stores the rows
//! as traces and then the new watermark (the last row's ts and id, typed as the
//! columns are, so the comparison stays index-friendly). Without an id column the
//! watermark is `ts >= last ts`: rows sharing the last timestamp are re-read and
//! dropped as duplicates by their content id.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions, SqliteRow};
use sqlx::{Column, Row, TypeInfo, ValueRef};
use tokio::sync::watch;

use super::error::{RowError, SourceError};
use super::{PollReport, SqlColumns, SqlSourceConfig};
use crate::config::{resolve_secret, ConfigError, SecretRef};
use crate::store::{LeaseClaim, NewTrace, Store};

/// A checked `sql` source.
#[derive(Debug, Clone)]
pub struct SqlSpec {
    url: Option<String>,
    url_ref: SecretRef,
    /// `FROM` clause target: a quoted table name or a parenthesised query.
    from: String,
    columns: SqlColumns,
    max_rows: i64,
}

impl SqlSpec {
    pub(super) fn resolve_url(
        &mut self,
        key: &str,
        base: &std::path::Path,
    ) -> Result<(), ConfigError> {
        if self.url.is_some() {
            return Ok(());
        }
        match resolve_secret(key, &self.url_ref, base)? {
            Some(u) => {
                self.url = Some(u);
                Ok(())
            }
            None => Err(ConfigError::new(key, "set url, url_env or url_file")),
        }
    }
}

/// A column name, possibly schema-qualified, quoted for both dialects.
fn quote_ident(s: &str) -> Option<String> {
    let part_ok = |p: &str| {
        let mut c = p.chars();
        matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_')
            && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
    };
    if s.is_empty() || !s.split('.').all(part_ok) {
        return None;
    }
    Some(
        s.split('.')
            .map(|p| format!("\"{p}\""))
            .collect::<Vec<_>>()
            .join("."),
    )
}

pub(super) fn check(c: &SqlSourceConfig, at: &str, errs: &mut Vec<ConfigError>) -> Option<SqlSpec> {
    let n = errs.len();
    let url_ref = c.url_ref();
    if let Some(e) = url_ref.validate(&format!("{at}.url")) {
        errs.push(e);
    }
    match (&c.url, url_ref.is_set()) {
        (None, false) => errs.push(ConfigError::new(
            format!("{at}.url"),
            "set url, url_env or url_file (the application's database)",
        )),
        (Some(_), true) => errs.push(ConfigError::new(
            format!("{at}.url"),
            "set only one of url, url_env and url_file",
        )),
        _ => {}
    }
    if let Some(u) = &c.url {
        if !(u.starts_with("postgres:") || u.starts_with("postgresql:") || u.starts_with("sqlite:"))
        {
            errs.push(ConfigError::new(
                format!("{at}.url"),
                "must start with postgres:// or sqlite://",
            ));
        }
    }
    let from = match (&c.table, &c.query) {
        (Some(t), None) => match quote_ident(t) {
            Some(q) => Some(q),
            None => {
                errs.push(ConfigError::new(
                    format!("{at}.table"),
                    format!("`{t}` is not a plain table name (letters, digits, _ and schema.table); use `query` for anything else"),
                ));
                None
            }
        },
        (None, Some(q)) => {
            let q = q.trim().trim_end_matches(';');
            if let Err(why) = check_select(q) {
                errs.push(ConfigError::new(format!("{at}.query"), why));
            }
            Some(format!("({q}) AS dw_src"))
        }
        _ => {
            errs.push(ConfigError::new(
                format!("{at}.table"),
                "set exactly one of `table` and `query`",
            ));
            None
        }
    };
    let cols = &c.columns;
    let named = [
        ("input", Some(&cols.input)),
        ("ts", Some(&cols.ts)),
        ("id", cols.id.as_ref()),
        ("output", cols.output.as_ref()),
        ("model", cols.model.as_ref()),
        ("latency_ms", cols.latency_ms.as_ref()),
        ("prompt_tokens", cols.prompt_tokens.as_ref()),
        ("completion_tokens", cols.completion_tokens.as_ref()),
        ("cost", cols.cost.as_ref()),
        ("error", cols.error.as_ref()),
        ("feedback", cols.feedback.as_ref()),
        ("metadata", cols.metadata.as_ref()),
    ];
    for (k, v) in named {
        if let Some(v) = v {
            if quote_ident(v).is_none() {
                errs.push(ConfigError::new(
                    format!("{at}.columns.{k}"),
                    format!("`{v}` is not a column name (alias an expression in `query`)"),
                ));
            }
        }
    }
    if !(1..=1_000_000).contains(&c.max_rows) {
        errs.push(ConfigError::new(
            format!("{at}.max_rows"),
            format!("must be between 1 and 1000000, got {}", c.max_rows),
        ));
    }
    if errs.len() > n {
        return None;
    }
    Some(SqlSpec {
        url: c.url.clone(),
        url_ref,
        from: from.expect("checked"),
        columns: c.columns.clone(),
        max_rows: c.max_rows,
    })
}

/// A value read from the application's database, typed as its column is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", content = "v", rename_all = "lowercase")]
pub enum Val {
    Null,
    Int(i64),
    Float(f64),
    Text(String),
    Bool(bool),
    /// `timestamptz`.
    Ts(DateTime<Utc>),
    /// `timestamp` / `date` (read as UTC).
    Naive(NaiveDateTime),
    Json(Value),
}

impl Val {
    fn text(&self) -> Option<String> {
        match self {
            Val::Null => None,
            Val::Int(i) => Some(i.to_string()),
            Val::Float(f) => Some(f.to_string()),
            Val::Text(s) => Some(s.clone()),
            Val::Bool(b) => Some(b.to_string()),
            Val::Ts(t) => Some(t.to_rfc3339()),
            Val::Naive(t) => Some(t.to_string()),
            Val::Json(Value::String(s)) => Some(s.clone()),
            Val::Json(v) => Some(v.to_string()),
        }
    }
    fn f64(&self) -> Option<f64> {
        match self {
            Val::Int(i) => Some(*i as f64),
            Val::Float(f) => Some(*f),
            Val::Bool(b) => Some(*b as i64 as f64),
            Val::Text(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
    fn ts(&self) -> Result<DateTime<Utc>, String> {
        match self {
            Val::Ts(t) => Ok(*t),
            Val::Naive(t) => Ok(t.and_utc()),
            Val::Int(i) => crate::ingest::parse_ts(&Value::from(*i)),
            Val::Float(f) => crate::ingest::parse_ts(&Value::from(*f)),
            // SQLite's CURRENT_TIMESTAMP text: "YYYY-MM-DD HH:MM:SS".
            Val::Text(s) => crate::ingest::parse_ts(&Value::from(s.as_str())).or_else(|e| {
                NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
                    .map(|t| t.and_utc())
                    .map_err(|_| e)
            }),
            other => Err(format!("timestamp column holds {other:?}")),
        }
    }
}

/// Which mapped field each selected column feeds, in SELECT order.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Field {
    Ts,
    Id,
    Input,
    Output,
    Model,
    Latency,
    PromptTokens,
    CompletionTokens,
    Cost,
    Error,
    Feedback,
    Metadata,
}

fn selected(c: &SqlColumns) -> Vec<(Field, &str)> {
    // ts first and id second: the watermark is read from those positions.
    let mut v = vec![(Field::Ts, c.ts.as_str())];
    if let Some(id) = &c.id {
        v.push((Field::Id, id.as_str()));
    }
    v.push((Field::Input, c.input.as_str()));
    let opt = [
        (Field::Output, &c.output),
        (Field::Model, &c.model),
        (Field::Latency, &c.latency_ms),
        (Field::PromptTokens, &c.prompt_tokens),
        (Field::CompletionTokens, &c.completion_tokens),
        (Field::Cost, &c.cost),
        (Field::Error, &c.error),
        (Field::Feedback, &c.feedback),
        (Field::Metadata, &c.metadata),
    ];
    for (f, name) in opt {
        if let Some(n) = name {
            v.push((f, n.as_str()));
        }
    }
    v
}

/// The stored read position.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Watermark {
    pub ts: Option<Val>,
    pub id: Option<Val>,
    /// Rows read in all (for `sources` status).
    #[serde(default)]
    pub rows: u64,
    /// Rows skipped as unusable (e.g. NULL input).
    #[serde(default)]
    pub rejected: u64,
}

/// The page query for the current watermark. `$1` = ts, `$2` = id, limit inline.
fn page_sql(spec: &SqlSpec, wm: &Watermark) -> String {
    let cols = selected(&spec.columns);
    let list = cols
        .iter()
        .map(|(_, c)| quote_ident(c).expect("checked"))
        .collect::<Vec<_>>()
        .join(", ");
    let ts = quote_ident(&spec.columns.ts).expect("checked");
    let id = spec
        .columns
        .id
        .as_deref()
        .map(|i| quote_ident(i).expect("checked"));
    let cond = match (&wm.ts, &id) {
        (None, _) => String::new(),
        (Some(_), Some(id)) => format!(" WHERE {ts} > $1 OR ({ts} = $1 AND {id} > $2)"),
        (Some(_), None) => format!(" WHERE {ts} >= $1"),
    };
    let order = match &id {
        Some(id) => format!("{ts}, {id}"),
        None => ts.clone(),
    };
    format!(
        "SELECT {list} FROM {}{cond} ORDER BY {order} LIMIT {}",
        spec.from, spec.max_rows
    )
}

/// The connection to the application's database, opened on first use and
/// dropped after an error so the next poll reconnects.
#[derive(Default)]
pub struct Connection {
    pool: Option<AppPool>,
}

enum AppPool {
    Pg(PgPool),
    Sqlite(SqlitePool),
}

async fn open(url: &str) -> Result<AppPool, sqlx::Error> {
    if url.starts_with("sqlite:") {
        let opts = SqliteConnectOptions::from_str(url)?
            .read_only(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(opts)
            .await?;
        Ok(AppPool::Sqlite(pool))
    } else {
        let opts = PgConnectOptions::from_str(url)?
            .options([("default_transaction_read_only", "on")])
            .application_name("driftwatch");
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(opts)
            .await?;
        Ok(AppPool::Pg(pool))
    }
}

fn decode_pg(row: &PgRow, i: usize) -> Result<Val, RowError> {
    let raw = row.try_get_raw(i)?;
    if raw.is_null() {
        return Ok(Val::Null);
    }
    let ty = raw.type_info().name().to_string();
    Ok(match ty.as_str() {
        "INT2" => Val::Int(row.try_get::<i16, _>(i)? as i64),
        "INT4" => Val::Int(row.try_get::<i32, _>(i)? as i64),
        "INT8" => Val::Int(row.try_get::<i64, _>(i)?),
        "FLOAT4" => Val::Float(row.try_get::<f32, _>(i)? as f64),
        "FLOAT8" => Val::Float(row.try_get::<f64, _>(i)?),
        "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "CHAR" => Val::Text(row.try_get::<String, _>(i)?),
        "BOOL" => Val::Bool(row.try_get::<bool, _>(i)?),
        "TIMESTAMPTZ" => Val::Ts(row.try_get::<DateTime<Utc>, _>(i)?),
        "TIMESTAMP" => Val::Naive(row.try_get::<NaiveDateTime, _>(i)?),
        "DATE" => Val::Naive(
            row.try_get::<chrono::NaiveDate, _>(i)?
                .and_hms_opt(0, 0, 0)
                .expect("midnight exists"),
        ),
        "JSON" | "JSONB" => Val::Json(row.try_get::<Value, _>(i)?),
        other => {
            return Err(RowError::Column(format!(
                "column `{}` has type {other}, which driftwatch does not read; cast it in `query` (e.g. `{}::text`)",
                row.columns()[i].name(),
                row.columns()[i].name()
            )))
        }
    })
}

fn decode_sqlite(row: &SqliteRow, i: usize) -> Result<Val, RowError> {
    let raw = row.try_get_raw(i)?;
    if raw.is_null() {
        return Ok(Val::Null);
    }
    // SQLite is dynamically typed: the value's own storage class decides.
    let ty = raw.type_info().name().to_string();
    Ok(match ty.as_str() {
        "INTEGER" | "BOOLEAN" => Val::Int(row.try_get::<i64, _>(i)?),
        "REAL" | "NUMERIC" => Val::Float(row.try_get::<f64, _>(i)?),
        "TEXT" | "DATETIME" | "DATE" | "TIME" => Val::Text(row.try_get::<String, _>(i)?),
        other => {
            return Err(RowError::Column(format!(
            "column `{}` holds a {other} value, which driftwatch does not read; cast it in `query`",
            row.columns()[i].name()
        )))
        }
    })
}

/// Binds a watermark value with its own type (so PostgreSQL compares it as the column's type).
macro_rules! bind_val {
    ($q:expr, $v:expr) => {
        match $v {
            Val::Null => $q.bind(Option::<String>::None),
            Val::Int(i) => $q.bind(*i),
            Val::Float(f) => $q.bind(*f),
            Val::Text(s) => $q.bind(s.clone()),
            Val::Bool(b) => $q.bind(*b),
            Val::Ts(t) => $q.bind(*t),
            Val::Naive(t) => $q.bind(*t),
            Val::Json(j) => $q.bind(j.to_string()),
        }
    };
}

async fn fetch_page(pool: &AppPool, sql: &str, wm: &Watermark) -> Result<Vec<Vec<Val>>, RowError> {
    let ts = wm.ts.as_ref();
    let id = wm.id.as_ref();
    macro_rules! run {
        ($p:expr, $decode:expr) => {{
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()));
            if let Some(t) = ts {
                q = bind_val!(q, t);
                if let Some(i) = id {
                    q = bind_val!(q, i);
                }
            }
            let rows = q.fetch_all($p).await?;
            rows.iter()
                .map(|r| {
                    (0..r.len())
                        .map(|i| $decode(r, i))
                        .collect::<Result<Vec<Val>, RowError>>()
                })
                .collect::<Result<Vec<_>, RowError>>()
        }};
    }
    match pool {
        AppPool::Pg(p) => run!(p, decode_pg),
        AppPool::Sqlite(p) => run!(p, decode_sqlite),
    }
}

/// One row as a trace; `Err` is why it was skipped.
fn row_to_trace(source: &str, fields: &[(Field, &str)], row: &[Val]) -> Result<NewTrace, String> {
    let get = |f: Field| {
        fields
            .iter()
            .position(|(g, _)| *g == f)
            .map(|i| &row[i])
            .unwrap_or(&Val::Null)
    };
    let input = get(Field::Input)
        .text()
        .ok_or_else(|| "input is NULL".to_string())?;
    let output = get(Field::Output).text().unwrap_or_default();
    let ts = get(Field::Ts).ts()?;
    let external_id = match get(Field::Id).text() {
        Some(id) => id,
        None => crate::ingest::content_id(&input, &output, ts.timestamp_millis()),
    };
    let metadata = match get(Field::Metadata) {
        Val::Null => None,
        Val::Json(v) => Some(v.clone()),
        Val::Text(s) => Some(serde_json::from_str(s).unwrap_or(Value::String(s.clone()))),
        other => other.text().map(Value::String),
    };
    let is_error = match get(Field::Error) {
        Val::Null => None,
        Val::Bool(b) => Some(*b),
        Val::Int(i) => Some(*i != 0),
        Val::Text(s) => Some(!s.trim().is_empty()),
        _ => Some(true),
    };
    Ok(NewTrace {
        source: source.to_string(),
        external_id,
        ts,
        input,
        output,
        model: get(Field::Model).text(),
        latency_ms: get(Field::Latency).f64(),
        prompt_tokens: get(Field::PromptTokens).f64().map(|x| x as i64),
        completion_tokens: get(Field::CompletionTokens).f64().map(|x| x as i64),
        cost: get(Field::Cost).f64(),
        is_error,
        feedback: get(Field::Feedback).f64(),
        metadata,
    })
}

/// Takes the source's lease (one replica polls a shared database at a time),
/// polls, releases. A lost lease means another replica is polling: nothing to do.
pub(super) async fn poll_leased(
    store: &Store,
    name: &str,
    spec: &SqlSpec,
    conn: &mut Connection,
    holder: &str,
    lease_ttl: Duration,
    shutdown: &watch::Receiver<bool>,
) -> Result<PollReport, SourceError> {
    let lease = format!("source:{name}");
    let now = Utc::now().timestamp_millis();
    match store
        .claim_lease(&lease, holder, now, lease_ttl.as_millis() as i64)
        .await?
    {
        LeaseClaim::Lost => return Ok(PollReport::default()),
        LeaseClaim::Won { .. } => {}
    }
    let r = poll(store, name, spec, conn, shutdown).await;
    let _ = store.release_lease(&lease, holder).await;
    r
}

/// Reads every page newer than the watermark, storing traces then the watermark.
pub async fn poll(
    store: &Store,
    name: &str,
    spec: &SqlSpec,
    conn: &mut Connection,
    shutdown: &watch::Receiver<bool>,
) -> Result<PollReport, SourceError> {
    let url = spec
        .url
        .as_deref()
        .ok_or_else(|| SourceError::Unresolved(name.to_string()))?;
    if conn.pool.is_none() {
        let pool = open(url).await.map_err(|source| SourceError::Connect {
            name: name.to_string(),
            url: crate::store::redact_url(url),
            source,
        })?;
        conn.pool = Some(pool);
    }
    let mut wm: Watermark = match store
        .source_state(name)
        .await?
        .into_iter()
        .find(|r| r.key.is_empty())
    {
        Some(r) => serde_json::from_value(r.state).map_err(SourceError::Watermark)?,
        None => Watermark::default(),
    };
    let fields = selected(&spec.columns);
    let mut report = PollReport::default();
    loop {
        if *shutdown.borrow() {
            break;
        }
        let sql = page_sql(spec, &wm);
        let rows = match fetch_page(conn.pool.as_ref().expect("opened"), &sql, &wm).await {
            Ok(r) => r,
            Err(e) => {
                conn.pool = None;
                return Err(SourceError::Query {
                    name: name.to_string(),
                    sql,
                    source: e,
                });
            }
        };
        let n = rows.len() as i64;
        report.read += rows.len() as u64;
        let mut traces = Vec::with_capacity(rows.len());
        for row in &rows {
            match row_to_trace(name, &fields, row) {
                Ok(t) => traces.push(t),
                Err(why) => {
                    report.rejected += 1;
                    wm.rejected += 1;
                    tracing::warn!(message = "Row skipped.", source = %name, reason = %why);
                }
            }
        }
        let stats = store.insert_traces(&traces).await?;
        report.add(&stats);
        let before = wm.ts.clone();
        if let Some(last) = rows.last() {
            wm.ts = Some(last[0].clone());
            if spec.columns.id.is_some() {
                wm.id = Some(last[1].clone());
            }
        }
        wm.rows += rows.len() as u64;
        if !rows.is_empty() {
            store
                .put_source_state(name, "", &serde_json::to_value(&wm)?)
                .await?;
        }
        if n < spec.max_rows {
            break;
        }
        if spec.columns.id.is_none() && before == wm.ts {
            tracing::error!(
                message = "A full page shares one timestamp; map an id column or raise max_rows.",
                source = %name,
                max_rows = spec.max_rows
            );
            break;
        }
    }
    Ok(report)
}

/// Whether `q` is one read-only query: a single statement (no `;` outside
/// string literals and comments) that starts with SELECT or WITH and has no
/// data-changing keyword (`WITH … DELETE` is a write). The connection is
/// read-only as well; this names the mistake at `check-config`.
fn check_select(q: &str) -> Result<(), String> {
    let q = q.trim().trim_end_matches(';');
    // The query's words outside '…' / "…" literals and -- / /* */ comments.
    let mut code = String::with_capacity(q.len());
    let mut chars = q.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                for d in chars.by_ref() {
                    if d == c {
                        break;
                    }
                }
                code.push(' ');
            }
            '-' if chars.peek() == Some(&'-') => {
                for d in chars.by_ref() {
                    if d == '\n' {
                        break;
                    }
                }
                code.push(' ');
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut prev = ' ';
                for d in chars.by_ref() {
                    if prev == '*' && d == '/' {
                        break;
                    }
                    prev = d;
                }
                code.push(' ');
            }
            _ => code.push(c),
        }
    }
    if code.contains(';') {
        return Err("must be one statement (no `;` inside)".into());
    }
    let lower = code.to_ascii_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect();
    if !matches!(words.first(), Some(&"select") | Some(&"with")) {
        return Err("must be a SELECT".into());
    }
    const WRITES: [&str; 12] = [
        "insert", "update", "delete", "merge", "drop", "alter", "create", "truncate", "grant",
        "revoke", "copy", "call",
    ];
    if let Some(w) = words.iter().find(|w| WRITES.contains(w)) {
        return Err(format!(
            "must only read; it contains `{}`",
            w.to_ascii_uppercase()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_one_read_only_statement_passes() {
        for ok in [
            "SELECT id, prompt FROM llm_calls",
            "with t as (select * from calls) select * from t;",
            "SELECT 'a; drop table x' AS s, \"delete\" FROM t -- ; update\n",
        ] {
            assert_eq!(super::check_select(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("SELECT 1; DROP TABLE calls", "one statement"),
            (
                "WITH d AS (DELETE FROM calls RETURNING *) SELECT * FROM d",
                "DELETE",
            ),
            ("UPDATE calls SET x = 1", "must be a SELECT"),
        ] {
            let e = super::check_select(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    use super::*;

    fn spec(id: Option<&str>) -> SqlSpec {
        SqlSpec {
            url: Some("sqlite://x.db".into()),
            url_ref: SecretRef::default(),
            from: "\"conversations\"".into(),
            columns: SqlColumns {
                input: "question".into(),
                ts: "timestamp".into(),
                id: id.map(Into::into),
                output: Some("answer".into()),
                ..SqlColumns::default()
            },
            max_rows: 100,
        }
    }

    #[test]
    fn page_query_uses_the_watermark_and_a_stable_order() {
        let s = spec(Some("id"));
        assert_eq!(
            page_sql(&s, &Watermark::default()),
            "SELECT \"timestamp\", \"id\", \"question\", \"answer\" FROM \"conversations\" ORDER BY \"timestamp\", \"id\" LIMIT 100"
        );
        let wm = Watermark {
            ts: Some(Val::Int(5)),
            id: Some(Val::Int(7)),
            ..Watermark::default()
        };
        assert!(page_sql(&s, &wm)
            .contains("WHERE \"timestamp\" > $1 OR (\"timestamp\" = $1 AND \"id\" > $2) ORDER BY"));
        let no_id = spec(None);
        assert!(page_sql(&no_id, &wm)
            .contains("WHERE \"timestamp\" >= $1 ORDER BY \"timestamp\" LIMIT"));
    }

    #[test]
    fn identifiers_are_checked_and_quoted() {
        assert_eq!(
            quote_ident("app.chat_log").as_deref(),
            Some("\"app\".\"chat_log\"")
        );
        assert_eq!(quote_ident("x; DROP TABLE t"), None);
        assert_eq!(quote_ident("a\"b"), None);
        assert_eq!(quote_ident(""), None);
    }

    #[test]
    fn watermark_round_trips_with_its_type() {
        let wm = Watermark {
            ts: Some(Val::Ts("2026-11-22T10:00:00Z".parse().unwrap())),
            id: Some(Val::Text("a-1".into())),
            rows: 3,
            rejected: 0,
        };
        let v = serde_json::to_value(&wm).unwrap();
        assert_eq!(serde_json::from_value::<Watermark>(v).unwrap(), wm);
    }

    #[test]
    fn rows_without_input_are_rejected_and_ids_fall_back_to_content() {
        let s = spec(None);
        let f = selected(&s.columns);
        let ok = row_to_trace(
            "app",
            &f,
            &[
                Val::Text("2026-11-22 10:00:00".into()),
                Val::Text("q".into()),
                Val::Null,
            ],
        )
        .unwrap();
        assert_eq!(ok.output, "");
        assert!(ok.external_id.starts_with("h:"));
        assert_eq!(ok.ts.to_rfc3339(), "2026-11-22T10:00:00+00:00");
        let err = row_to_trace("app", &f, &[Val::Int(1_700_000_000), Val::Null, Val::Null]);
        assert_eq!(err.unwrap_err(), "input is NULL");
    }
}
