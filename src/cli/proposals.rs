//! `driftwatch proposals …`: list, show, accept, reject, export and import
//! decisions on proposed golden examples, through the `review` functions.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use super::exit;
use crate::review::*;
use crate::store::{GoldenVersion, Proposal, Store};
use crate::text::truncate;

/// `--status` of the listing commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StatusArg {
    Pending,
    Accepted,
    Rejected,
    All,
}

impl StatusArg {
    fn status(self) -> Option<ProposalStatus> {
        match self {
            StatusArg::Pending => Some(ProposalStatus::Pending),
            StatusArg::Accepted => Some(ProposalStatus::Accepted),
            StatusArg::Rejected => Some(ProposalStatus::Rejected),
            StatusArg::All => None,
        }
    }
}

/// `--topic` of `proposals reject`: why the topic is kept out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TopicArg {
    OutOfScope,
    CoveredElsewhere,
}

impl From<TopicArg> for ExclusionScope {
    fn from(t: TopicArg) -> ExclusionScope {
        match t {
            TopicArg::OutOfScope => ExclusionScope::OutOfScope,
            TopicArg::CoveredElsewhere => ExclusionScope::CoveredElsewhere,
        }
    }
}

/// `driftwatch proposals …`: review proposed golden examples.
#[derive(Debug, clap::Subcommand)]
pub enum ProposalsCmd {
    /// List proposals, oldest first (pending ones unless --status says otherwise).
    List {
        #[arg(long, value_enum, default_value = "pending")]
        status: StatusArg,
        #[arg(long)]
        job: Option<String>,
        /// Gap id (stable across runs: the N of `input.gap.N`; narrow with --run).
        #[arg(long, value_name = "ID")]
        cluster: Option<i64>,
        #[arg(long, value_name = "RUN")]
        run: Option<i64>,
        /// Golden set.
        #[arg(long, value_name = "SET")]
        set: Option<String>,
        /// Only proposals whose input, output or expected output contains this
        /// text (any case).
        #[arg(long, value_name = "TEXT")]
        search: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// Show one proposal: input, production output, nearest golden example and its
    /// similarity, cluster label, and the other proposals of its cluster.
    Show {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    /// Accept proposals into their golden set (one new version for all of them).
    #[command(group(clap::ArgGroup::new("target").args(["ids", "cluster", "job"]).required(true).multiple(true)))]
    #[command(group(clap::ArgGroup::new("expected").args(["expected_output", "use_output", "ensemble"]).required(true)))]
    Accept {
        /// Proposal ids.
        ids: Vec<i64>,
        /// The expected output the golden example gets.
        #[arg(long, value_name = "TEXT")]
        expected_output: Option<String>,
        /// Keep the production output as the expected output.
        #[arg(long)]
        use_output: bool,
        /// Take the output the LLM ensemble agreed on (proposals where it did
        /// not agree are refused and listed). With --cluster or alone with --job.
        #[arg(long)]
        ensemble: bool,
        /// Accept every pending proposal of this cluster of --job.
        #[arg(long, value_name = "ID", requires = "job", conflicts_with = "ids")]
        cluster: Option<i64>,
        /// The job of --cluster; alone (with --ensemble), every pending
        /// proposal of the job.
        #[arg(long)]
        job: Option<String>,
        /// The run the cluster id belongs to (needed when several runs left
        /// pending proposals under the same cluster id).
        #[arg(long, value_name = "RUN", requires = "cluster")]
        run: Option<i64>,
        /// Reviewer name recorded with the decision (default $USER, else `cli`).
        #[arg(long, value_name = "NAME")]
        by: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Ask the LLM ensemble ([review.ensemble]) for the expected output of
    /// pending proposals it has not labelled yet (runs do this for their own).
    Prelabel {
        #[arg(long)]
        job: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// Reject proposals with a reason; later runs will not propose them again.
    #[command(group(clap::ArgGroup::new("target").args(["ids", "cluster"]).required(true)))]
    Reject {
        /// Proposal ids.
        ids: Vec<i64>,
        #[arg(long, value_name = "TEXT")]
        reason: String,
        /// Reject every pending proposal of this cluster of --job.
        #[arg(long, value_name = "ID", requires = "job")]
        cluster: Option<i64>,
        #[arg(long, requires = "cluster")]
        job: Option<String>,
        /// The run the cluster id belongs to.
        #[arg(long, value_name = "RUN", requires = "cluster")]
        run: Option<i64>,
        /// Reject the whole topic: the gap (--cluster, or the proposals' own
        /// gap) becomes an exclusion, its pending proposals are rejected, and
        /// later runs propose nothing inside it (`driftwatch exclusions`).
        #[arg(long, value_enum, value_name = "SCOPE")]
        topic: Option<TopicArg>,
        /// Reviewer name recorded with the decision (default $USER, else `cli`).
        #[arg(long, value_name = "NAME")]
        by: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Undo a decision: the proposal is pending again. Undoing an accept
    /// archives its golden example in a new golden version.
    Reopen {
        id: i64,
        /// Reviewer name recorded (default $USER, else `cli`).
        #[arg(long, value_name = "NAME")]
        by: Option<String>,
    },
    /// Export proposals as JSONL for an external labelling tool.
    Export {
        #[arg(long, value_enum, default_value = "pending")]
        status: StatusArg,
        #[arg(long)]
        job: Option<String>,
        /// Golden set.
        #[arg(long, value_name = "SET")]
        set: Option<String>,
        /// Output file (default stdout).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Apply decisions from a JSONL file (`-` for stdin): lines
    /// {"id": N, "decision": "accept"|"reject", "expected_output"?, "use_output"?, "reason"?, "by"?};
    /// an accept needs `expected_output`, or `"use_output": true` to keep the production output.
    ImportDecisions {
        path: PathBuf,
        /// Reviewer for lines without "by" (default $USER, else `cli`).
        #[arg(long, value_name = "NAME")]
        by: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

/// Runs one `proposals` subcommand, printing to stdout and stderr.
pub async fn run_cmd(store: &Store, cmd: ProposalsCmd) -> anyhow::Result<ExitCode> {
    run_cmd_with(store, cmd, &mut std::io::stdout(), &mut std::io::stderr()).await
}

/// [`run_cmd`] with the output streams given, for tests and embedding.
pub async fn run_cmd_with(
    store: &Store,
    cmd: ProposalsCmd,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let result = match cmd {
        ProposalsCmd::List {
            status,
            job,
            cluster,
            run,
            set,
            search,
            limit,
            json,
        } => {
            let filter = ProposalFilter {
                status: status.status(),
                job,
                cluster_id: cluster,
                golden_set: set,
                run_id: run,
                limit: Some(limit),
                search,
            };
            let ps = store.list_proposals(&filter).await?;
            print_list(out, &ps, json)?;
            Ok(ExitCode::SUCCESS)
        }
        ProposalsCmd::Show { id, json } => match detail(store, id).await {
            Ok(d) => {
                print_detail(out, &d, json)?;
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => Err(e),
        },
        ProposalsCmd::Accept {
            ids,
            expected_output,
            use_output: _,
            ensemble,
            cluster,
            job,
            run,
            by,
            json,
        } => {
            let selection = match (&job, cluster, ids.is_empty()) {
                (Some(j), None, true) if ensemble => Selection::Job(j.clone()),
                (Some(_), None, true) => {
                    return usage(err, "--job alone selects proposals only with --ensemble; give --cluster or ids")
                }
                _ => selection(ids, cluster, job, run),
            };
            let by = by.unwrap_or_else(default_reviewer);
            let r = if ensemble {
                accept_ensemble(store, &selection, &by).await
            } else {
                let expected = match expected_output {
                    Some(t) => ExpectedOutput::Edited(t),
                    None => ExpectedOutput::UseOutput,
                };
                accept(store, &selection, expected, &by).await
            };
            match r {
                Ok(o) => decided_exit(out, err, &o, json),
                Err(e) => Err(e),
            }
        }
        ProposalsCmd::Prelabel { .. } => {
            return usage(err, "proposals prelabel runs from the command line (it needs the config's [review.ensemble])")
        }
        ProposalsCmd::Reject {
            ids,
            reason,
            cluster,
            job,
            run,
            topic: Some(scope),
            by,
            json,
        } => {
            let selection = selection(ids, cluster, job, run);
            let by = by.unwrap_or_else(default_reviewer);
            match exclude_topic(store, &selection, scope.into(), &reason, &by).await {
                Ok(o) => {
                    if json {
                        writeln!(
                            out,
                            "{}",
                            serde_json::to_string(&o).map_err(std::io::Error::other)?
                        )?;
                    } else {
                        let x = &o.exclusion;
                        writeln!(
                            out,
                            "excluded topic “{}” of job {} ({}) as exclusion {}: {}; {} pending proposals rejected",
                            truncate(&x.label, 60),
                            x.job,
                            x.scope.words(),
                            x.id,
                            x.reason,
                            o.rejected.decided.len()
                        )?;
                        writeln!(err, "later runs propose nothing within it; lift it with `driftwatch exclusions lift {}`", x.id)?;
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => Err(e),
            }
        }
        ProposalsCmd::Reject {
            ids,
            reason,
            cluster,
            job,
            run,
            topic: None,
            by,
            json,
        } => {
            let selection = selection(ids, cluster, job, run);
            let by = by.unwrap_or_else(default_reviewer);
            match reject(store, &selection, &reason, &by).await {
                Ok(o) => decided_exit(out, err, &o, json),
                Err(e) => Err(e),
            }
        }
        ProposalsCmd::Reopen { id, by } => {
            let by = by.unwrap_or_else(default_reviewer);
            match reopen(store, id, &by).await {
                Ok((p, version)) => {
                    writeln!(out, "proposal {} is pending again (reopened by {by})", p.id)?;
                    if let Some(v) = version {
                        writeln!(
                            out,
                            "golden set {} is now at version {} ({} examples): its example from this proposal is archived",
                            v.set_name, v.version, v.active_count
                        )?;
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(ReviewError::Store(crate::store::StoreError::Conflict(m))) => {
                    writeln!(err, "driftwatch: {m}")?;
                    Ok(ExitCode::from(exit::FAILURE))
                }
                Err(e) => Err(e),
            }
        }
        ProposalsCmd::Export {
            status,
            job,
            set,
            out: path,
        } => {
            let filter = ProposalFilter {
                status: status.status(),
                job,
                golden_set: set,
                ..ProposalFilter::default()
            };
            match path {
                Some(p) => {
                    let f = std::fs::File::create(&p)
                        .with_context(|| format!("cannot create {}", p.display()))?;
                    let mut w = std::io::BufWriter::new(f);
                    let n = export(store, &filter, &mut w).await;
                    let n = n.and_then(|n| w.flush().map(|_| n).map_err(ReviewError::from));
                    if let Ok(n) = n {
                        writeln!(err, "wrote {n} proposals to {}", p.display())?;
                    }
                    n.map(|_| ExitCode::SUCCESS)
                }
                None => export(store, &filter, out).await.map(|_| ExitCode::SUCCESS),
            }
        }
        ProposalsCmd::ImportDecisions { path, by, json } => {
            let input = open_input(&path)?;
            let by = by.unwrap_or_else(default_reviewer);
            match import_decisions(store, input, &by).await {
                Ok(r) => {
                    print_import(out, err, &r, json)?;
                    Ok(if r.is_partial() {
                        ExitCode::from(exit::PARTIAL)
                    } else {
                        ExitCode::SUCCESS
                    })
                }
                Err(e) => Err(e),
            }
        }
    };
    match result {
        Ok(code) => Ok(code),
        Err(ReviewError::Invalid(msg)) => {
            writeln!(err, "driftwatch: {msg}")?;
            Ok(ExitCode::from(exit::CONFIG))
        }
        Err(e) => Err(e.into()),
    }
}

fn usage(err: &mut dyn Write, msg: &str) -> anyhow::Result<ExitCode> {
    writeln!(err, "driftwatch: {msg}")?;
    Ok(ExitCode::from(exit::CONFIG))
}

/// `proposals prelabel`: the ensemble labels pending proposals it has not seen.
pub async fn prelabel_cmd(
    store: &Store,
    settings: &crate::settings::Settings,
    job: Option<String>,
    limit: i64,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let cfg = &settings.cfg;
    let pl = match settings.ensemble() {
        Ok(Some(pl)) => pl,
        Ok(None) => {
            return usage(
                &mut std::io::stderr(),
                "no [review.ensemble] in the config: list the models to ask there",
            )
        }
        Err(errs) => {
            return Ok(super::config_failure(crate::config::ConfigErrors::new(
                cfg.source_file.clone(),
                errs,
            )))
        }
    };
    let embedder = crate::jobs::SharedEmbedder::build(&cfg.embedding, &cfg.base_dir).ok();
    let ps: Vec<Proposal> = store
        .list_proposals(&ProposalFilter {
            status: Some(ProposalStatus::Pending),
            job,
            ..ProposalFilter::default()
        })
        .await?
        .into_iter()
        .filter(|p| p.ensemble_status.is_none())
        .take(limit.max(0) as usize)
        .collect();
    let r = crate::jobs::prelabel(store, embedder.as_ref(), &pl, &ps).await?;
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string(&r)?)?;
    } else {
        writeln!(
            out,
            "labelled {} proposals: {} agreed, {} disagreed; {} calls ({} without a usable answer), {} prompt + {} completion tokens{}",
            r.labelled,
            r.agreed,
            r.disagreed,
            r.calls,
            r.failed_calls,
            r.prompt_tokens,
            r.completion_tokens,
            if r.capped > 0 {
                format!("; {} left for tomorrow (daily cap)", r.capped)
            } else {
                String::new()
            }
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

fn selection(
    ids: Vec<i64>,
    cluster: Option<i64>,
    job: Option<String>,
    run: Option<i64>,
) -> Selection {
    match (cluster, job) {
        (Some(cluster_id), Some(job)) => Selection::Cluster {
            job,
            cluster_id,
            run_id: run,
        },
        _ => Selection::Ids(ids),
    }
}

fn open_input(path: &Path) -> anyhow::Result<Box<dyn BufRead + Send>> {
    if path == Path::new("-") {
        return Ok(Box::new(std::io::BufReader::new(std::io::stdin())));
    }
    let f = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    Ok(Box::new(std::io::BufReader::new(f)))
}

/// Exit code of a decision command: 0 when everything was decided, 3 when some
/// were refused, 1 when all were.
fn decided_exit(
    out: &mut dyn Write,
    err: &mut dyn Write,
    o: &DecideOutcome,
    json: bool,
) -> Result<ExitCode, ReviewError> {
    print_outcome(out, err, o, json)?;
    Ok(match (o.decided.is_empty(), o.refused.is_empty()) {
        (_, true) => ExitCode::SUCCESS,
        (false, false) => ExitCode::from(exit::PARTIAL),
        (true, false) => ExitCode::from(exit::FAILURE),
    })
}

fn print_list(out: &mut dyn Write, ps: &[Proposal], json: bool) -> std::io::Result<()> {
    if json {
        return writeln!(out, "{}", serde_json::to_string(ps)?);
    }
    writeln!(
        out,
        "{:>6}  {:<8} {:<16} {:>5} {:<24} {:<10} {:>5}  INPUT",
        "ID", "STATUS", "JOB", "RUN", "CLUSTER", "KIND", "SIM"
    )?;
    for p in ps {
        writeln!(
            out,
            "{:>6}  {:<8} {:<16} {:>5} {:<24} {:<10} {:>5}  {}",
            p.id,
            p.status,
            truncate(&p.job, 16),
            p.run_id,
            truncate(&cluster_cell(p), 24),
            truncate(&p.kind, 10),
            p.nearest_golden_similarity
                .map(|s| format!("{s:.2}"))
                .unwrap_or_else(|| "-".into()),
            truncate(&p.input, 60)
        )?;
    }
    writeln!(
        out,
        "{} proposal{}",
        ps.len(),
        if ps.len() == 1 { "" } else { "s" }
    )
}

fn cluster_cell(p: &Proposal) -> String {
    match (p.cluster_id, p.cluster_label.as_deref()) {
        (Some(c), Some(l)) if !l.is_empty() => format!("{c} {l}"),
        (Some(c), _) => c.to_string(),
        (None, _) => "-".into(),
    }
}

fn indented(out: &mut dyn Write, text: &str) -> std::io::Result<()> {
    for line in text.lines() {
        writeln!(out, "    {line}")?;
    }
    if text.is_empty() {
        writeln!(out, "    (empty)")?;
    }
    Ok(())
}

fn print_detail(out: &mut dyn Write, d: &ProposalDetail, json: bool) -> std::io::Result<()> {
    if json {
        return writeln!(out, "{}", serde_json::to_string(d)?);
    }
    let p = &d.proposal;
    writeln!(
        out,
        "proposal {} ({}) · {} · job {} · run {} · golden set {}",
        p.id, p.status, p.kind, p.job, p.run_id, p.golden_set
    )?;
    if let Some(c) = p.cluster_id {
        writeln!(
            out,
            "cluster {c}: {}",
            p.cluster_label.as_deref().unwrap_or("(no label)")
        )?;
    }
    writeln!(
        out,
        "trace {} ({}), proposed {}",
        p.trace_id,
        p.external_id,
        p.created_at.format("%Y-%m-%d %H:%M:%S UTC")
    )?;
    writeln!(out, "\ninput:")?;
    indented(out, &p.input)?;
    writeln!(out, "production output:")?;
    indented(out, &p.output)?;
    match &d.nearest_golden {
        Some(g) => {
            writeln!(
                out,
                "nearest golden example {} (similarity {}){}:",
                g.id,
                g.similarity
                    .map(|s| format!("{s:.3}"))
                    .unwrap_or_else(|| "unknown".into()),
                if g.archived { ", archived since" } else { "" }
            )?;
            indented(out, &g.input)?;
            writeln!(out, "  expected output:")?;
            indented(out, &g.expected_output)?;
        }
        None => writeln!(out, "nearest golden example: none recorded")?,
    }
    if p.status != ProposalStatus::Pending.as_str() {
        writeln!(
            out,
            "\n{} by {} at {}",
            p.status,
            p.decided_by.as_deref().unwrap_or("someone"),
            p.decided_at
                .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                .unwrap_or_else(|| "?".into())
        )?;
        if let Some(e) = &p.expected_output {
            writeln!(out, "expected output:")?;
            indented(out, e)?;
        }
        if let Some(r) = &p.reason {
            writeln!(out, "reason: {r}")?;
        }
        if let Some(g) = p.golden_example_id {
            writeln!(out, "golden example: {g}")?;
        }
    }
    if p.cluster_id.is_some() {
        writeln!(
            out,
            "\nother proposals of this cluster: {}",
            d.siblings.len()
        )?;
        for s in &d.siblings {
            writeln!(
                out,
                "{:>6}  {:<8} {}",
                s.id,
                s.status,
                truncate(&s.input, 70)
            )?;
        }
    }
    Ok(())
}

fn print_refusal(err: &mut dyn Write, r: &Refusal, line: Option<u64>) -> std::io::Result<()> {
    let at = line.map(|l| format!("line {l}: ")).unwrap_or_default();
    match r.kind {
        RefusalKind::Conflict => writeln!(err, "{at}conflict: {}", r.message),
        RefusalKind::NotFound => writeln!(err, "{at}{}", r.message),
        RefusalKind::Invalid | RefusalKind::NoConsensus => {
            writeln!(err, "{at}not accepted: {}", r.message)
        }
    }
}

fn print_versions(out: &mut dyn Write, vs: &[GoldenVersion]) -> std::io::Result<()> {
    for v in vs {
        writeln!(
            out,
            "golden set {} is now at version {} ({} active examples)",
            v.set_name, v.version, v.active_count
        )?;
    }
    Ok(())
}

fn print_outcome(
    out: &mut dyn Write,
    err: &mut dyn Write,
    o: &DecideOutcome,
    json: bool,
) -> std::io::Result<()> {
    if json {
        writeln!(out, "{}", serde_json::to_string(o)?)?;
    } else {
        for status in [ProposalStatus::Accepted, ProposalStatus::Rejected] {
            let done: Vec<&Proposal> = o
                .decided
                .iter()
                .filter(|p| p.status == status.as_str())
                .collect();
            if done.is_empty() {
                continue;
            }
            let ids: Vec<String> = done.iter().map(|p| p.id.to_string()).collect();
            let mut by: Vec<&str> = done
                .iter()
                .filter_map(|p| p.decided_by.as_deref())
                .collect();
            by.sort_unstable();
            by.dedup();
            writeln!(
                out,
                "{} {} {} by {}",
                status.as_str(),
                if done.len() == 1 {
                    "proposal"
                } else {
                    "proposals"
                },
                ids.join(", "),
                by.join(", ")
            )?;
        }
        print_versions(out, &o.versions)?;
    }
    for r in &o.refused {
        print_refusal(err, r, None)?;
    }
    Ok(())
}

fn print_import(
    out: &mut dyn Write,
    err: &mut dyn Write,
    r: &ImportReport,
    json: bool,
) -> std::io::Result<()> {
    if json {
        writeln!(out, "{}", serde_json::to_string(r)?)?;
    } else {
        writeln!(out, "{}", r.summary_line())?;
        print_versions(out, &r.versions)?;
    }
    for e in &r.errors {
        writeln!(err, "line {}: {}", e.line, e.reason)?;
    }
    for x in &r.refused {
        print_refusal(err, &x.refusal, Some(x.line))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Args {
        #[command(subcommand)]
        cmd: ProposalsCmd,
    }

    fn parse(args: &[&str]) -> Result<ProposalsCmd, clap::Error> {
        Args::try_parse_from(std::iter::once("proposals").chain(args.iter().copied()))
            .map(|a| a.cmd)
    }

    #[test]
    fn accept_needs_exactly_one_expected_output_source() {
        assert!(parse(&["accept", "1", "--use-output"]).is_ok());
        assert!(parse(&["accept", "1", "2", "--expected-output", "x"]).is_ok());
        let neither = parse(&["accept", "1"]).unwrap_err();
        assert_eq!(
            neither.kind(),
            clap::error::ErrorKind::MissingRequiredArgument
        );
        let both = parse(&["accept", "1", "--use-output", "--expected-output", "x"]).unwrap_err();
        assert_eq!(both.kind(), clap::error::ErrorKind::ArgumentConflict);
    }

    #[test]
    fn bulk_by_cluster_needs_a_job_and_no_ids() {
        assert!(parse(&["accept", "--cluster", "2", "--job", "j", "--use-output"]).is_ok());
        assert!(parse(&["accept", "--cluster", "2", "--use-output"]).is_err());
        assert!(parse(&[
            "accept",
            "3",
            "--cluster",
            "2",
            "--job",
            "j",
            "--use-output"
        ])
        .is_err());
        assert!(parse(&["accept", "--use-output"]).is_err());
        assert!(parse(&["accept", "--job", "j", "--ensemble"]).is_ok());
        assert!(parse(&["accept", "--cluster", "2", "--job", "j", "--ensemble"]).is_ok());
        assert!(parse(&["accept", "1", "--ensemble", "--use-output"]).is_err());
        assert!(parse(&["reject", "--cluster", "2", "--job", "j", "--reason", "r"]).is_ok());
        assert!(parse(&["reject", "4"]).is_err(), "--reason is required");
    }
}
