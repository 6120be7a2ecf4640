//! `driftwatch demo`: a newcomer's first run. Generates a realistic support
//! assistant log and a golden set (see [`crate::demo::generator`]), ingests both
//! through the same code paths a user would (`ingest`, `golden import`), runs the
//! job, and prints what it did and what to run next.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};

use super::{ingest_file, DemoArgs};
use crate::demo::generator::{golden_records, production_records, GenOptions, GOLDEN_DOMAINS};
use crate::demo::{write_production, SCHEMA};
use crate::ingest::{FieldMap, IngestConfig, IngestOptions, InputFormat};
use crate::store::Store;

fn write_lines(path: &Path, records: impl IntoIterator<Item = serde_json::Value>) -> Result<()> {
    let mut f = std::io::BufWriter::new(
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
    );
    for r in records {
        writeln!(f, "{r}")?;
    }
    f.flush()?;
    Ok(())
}

/// Writes a fresh random token to `path` (owner-only) and returns it.
fn secret_file(path: &Path) -> Result<String> {
    let token = hex::encode(rand::random::<[u8; 16]>());
    let _ = std::fs::remove_file(path);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    writeln!(f, "{token}")?;
    Ok(token)
}

/// `port` on 127.0.0.1 if it is free, else one the OS picks.
fn free_loopback_port(port: u16) -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", port))
        .or_else(|_| std::net::TcpListener::bind(("127.0.0.1", 0)))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(port)
}

pub async fn run(args: &DemoArgs) -> Result<ExitCode> {
    if let Some(n) = args.generate {
        let opts = GenOptions::demo(args.seed, n);
        match args.out.as_deref() {
            None => write_production(&mut std::io::stdout().lock(), &opts)?,
            Some(p) if p == Path::new("-") => {
                write_production(&mut std::io::stdout().lock(), &opts)?
            }
            Some(p) => {
                let mut f = std::io::BufWriter::new(
                    std::fs::File::create(p)
                        .with_context(|| format!("cannot create {}", p.display()))?,
                );
                write_production(&mut f, &opts)?;
                f.flush()?;
                say_err!("wrote {n} generated traces to {}", p.display());
            }
        }
        return Ok(ExitCode::SUCCESS);
    }

    // The model as every command finds it (DRIFTWATCH_MODEL_DIR, ./models,
    // the state, data and system folders), so the demo runs from any folder,
    // and says where it looked before it writes anything.
    let cwd = std::env::current_dir()?;
    let place = crate::embed::EmbedConfig::default().locate_model(&cwd)?;

    let dir = &args.dir;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let db = dir.join("driftwatch.db");
    for suffix in ["", "-wal", "-shm"] {
        let p = dir.join(format!("driftwatch.db{suffix}"));
        if p.exists() {
            std::fs::remove_file(&p)
                .with_context(|| format!("cannot remove old {}", p.display()))?;
        }
    }
    // Mail of an earlier demo run would be listed as this run's.
    let mail_dir = dir.join("mail");
    if mail_dir.exists() {
        std::fs::remove_dir_all(&mail_dir)
            .with_context(|| format!("cannot remove old {}", mail_dir.display()))?;
    }
    let url = format!("sqlite://{}", db.display());
    println!("== driftwatch demo");
    println!(
        "A support assistant answers user questions with JSON {{intent, answer, confidence}}."
    );
    println!("Its golden set covers 6 domains; production drifts: a new topic appears,");
    println!("and in the last day outputs get truncated and stop being valid JSON.\n");

    let prod_path = dir.join("production.jsonl");
    let golden_path = dir.join("golden.jsonl");
    let opts = GenOptions::demo(args.seed, args.traces);
    let records: Vec<serde_json::Value> = production_records(&opts)
        .into_iter()
        .map(|(r, _)| r)
        .collect();
    // What the stand-in LLM endpoints know: each question's right intent.
    let truth: std::collections::HashMap<String, String> = records
        .iter()
        .filter_map(|r| {
            Some((
                r["input"].as_str()?.trim().to_string(),
                r["metadata"]["intent"].as_str()?.to_string(),
            ))
        })
        .collect();
    write_lines(&prod_path, records)?;
    write_lines(&golden_path, golden_records(args.seed, GOLDEN_DOMAINS, 90))?;
    println!(
        "1. generated {} production traces -> {}",
        args.traces,
        prod_path.display()
    );
    println!(
        "   and a golden set of {} examples  -> {}",
        90 * GOLDEN_DOMAINS.len(),
        golden_path.display()
    );

    let store = Store::connect(&url).await?;
    let icfg = IngestConfig::default();
    let iopts = IngestOptions {
        format: InputFormat::Jsonl,
        map: FieldMap::new(&icfg),
        source: "demo-app".into(),
        batch_size: icfg.batch_size,
    };
    let report = ingest_file(&store, &prod_path, &iopts).await?;
    println!(
        "2. ingested production log into {url}: {}",
        report.summary_line()
    );

    let (examples, _) = crate::golden::read_golden(
        std::io::BufReader::new(std::fs::File::open(&golden_path)?),
        InputFormat::Jsonl,
        crate::ingest::max_record_bytes(icfg.max_text_bytes),
    );
    let (version, _) = crate::golden::import(&store, "support", examples, "demo import").await?;
    if let Some(v) = version {
        println!(
            "3. imported golden set `support`: version {} with {} examples",
            v.version, v.active_count
        );
    }
    // 4. A config file, as a user would write one; its secrets in files beside it.
    let review_token = secret_file(&dir.join("review-token"))?;
    secret_file(&dir.join("ingest-token"))?;
    let port = free_loopback_port(args.port);
    std::fs::write(dir.join("output.schema.json"), SCHEMA)?;
    let llm = crate::demo::responder::spawn(truth).await?;
    let cfg_path = dir.join("driftwatch.toml");
    let toml_text = format!(
        "# written by `driftwatch demo`\n[store]\nurl = \"sqlite://driftwatch.db\"\n\n[embedding]\nmodel_dir = \"{}\"\nonnxruntime_lib = \"{}\"\n\n\
         [[jobs]]\nname = \"support\"\nschedule = \"0 */15 * * * *\"\nwindow = \"24h\"\nsample_size = 2000\ngolden_set = \"support\"\n\
         output_json_schema = \"output.schema.json\"\n\n[jobs.answers]\nfields = [\"intent\"]\n\n[alerts.receivers.ops-mail]\nkind = \"file\"\ndir = \"mail\"\n\n\
         [server]\nbind = \"127.0.0.1:{port}\"\nexternal_url = \"http://127.0.0.1:{port}\"\ntoken_file = \"ingest-token\"\n\n\
         [review]\nreviewers = [{{ name = \"demo\", token_file = \"review-token\" }}]\n\n         # LLM-ensemble pre-labels. These three endpoints are a STAND-IN started by\n         # `driftwatch demo` on loopback for as long as it runs: not models, they answer\n         # from the demo generator's ground truth (a and b right, c naive). Put real\n         # OpenAI-compatible endpoints here, with api_key_env or api_key_file.\n         [review.ensemble]\nagreement = \"fields\"\nfields = [\"intent\"]\ntimeout = \"10s\"\nmodels = [\n         \x20 {{ name = \"stand-in-a\", url = \"http://{llm}/a/v1\", model = \"stand-in\" }},\n         \x20 {{ name = \"stand-in-b\", url = \"http://{llm}/b/v1\", model = \"stand-in\" }},\n         \x20 {{ name = \"stand-in-c\", url = \"http://{llm}/c/v1\", model = \"stand-in\" }},\n]\n",
        place.model_dir.display(),
        place.onnxruntime_lib.display()
    );
    std::fs::write(&cfg_path, toml_text)?;
    // The file names the database relative to itself: `dir/driftwatch.db`.
    let settings = match crate::settings::Settings::load_file(&cfg_path) {
        Ok(s) => s,
        Err(e) => return Ok(super::config_failure(e)),
    };
    let cfg = settings.cfg.clone();
    println!("4. wrote {} (job `support`: last 24h vs golden, JSON Schema for outputs, alerts to a maildir, the review page,", cfg_path.display());
    println!("   and an LLM ensemble that pre-labels proposals: a loopback STAND-IN for three endpoints, not real models)");

    // 5. The analysis, exactly as `driftwatch run support` does it.
    println!(
        "\n5. driftwatch run support   (each text is embedded once; later runs hit the cache)\n"
    );
    let run_args = super::RunArgs {
        job: "support".into(),
        golden_set: None,
        window: None,
        sample_size: None,
        json: false,
        export_metrics: None,
    };
    let code = super::run_cmd(&store, &settings, run_args).await?;
    if code != ExitCode::SUCCESS {
        return Ok(code);
    }
    let run = store
        .list_runs(&Default::default())
        .await?
        .into_iter()
        .next()
        .context("the run was not recorded")?;
    let findings = store.findings(run.id).await?;
    let report = dir.join(format!("report-{}.html", run.id));
    std::fs::write(&report, crate::report::render_html(&run, &findings))?;
    println!("\n6. HTML report: {}", report.display());
    let mail = dir.join("mail/new");
    let written = std::fs::read_dir(&mail).map_or(0, |d| d.flatten().count());
    // What each e-mail says on top: the subjects of the delivered notifications,
    // critical incidents first, as an inbox sorted by importance shows them.
    let mut subjects: Vec<String> = store
        .outbox(&crate::store::OutboxFilter {
            status: Some(crate::store::OutboxStatus::Delivered),
            limit: None,
        })
        .await?
        .iter()
        .map(|r| crate::notify::subject(&r.notification))
        .collect();
    subjects.sort_by_key(|s| (!s.contains("(critical)"), s.clone()));
    if written == 0 {
        println!("7. no alert e-mail was written");
    } else {
        println!(
            "7. {written} alert e-mail{} in {}, one per incident (maildir receiver; configure SMTP or Slack for real delivery):",
            if written == 1 { "" } else { "s" },
            mail.display()
        );
        for subject in &subjects {
            println!("   {subject}");
        }
    }

    // 8. The data team's review: accept the first proposal of the top gap.
    let props = store.list_proposals(&Default::default()).await?;
    println!(
        "\n8. {} proposals for uncovered production traffic:",
        props.len()
    );
    for p in props.iter().take(6) {
        println!(
            "   #{:<4} [{}] {}",
            p.id,
            p.cluster_label.as_deref().unwrap_or(&p.kind),
            crate::text::truncate(&p.input, 70)
        );
    }
    let agreed: Vec<i64> = props
        .iter()
        .filter(|p| p.ensemble_status.as_deref() == Some("agrees"))
        .map(|p| p.id)
        .collect();
    println!(
        "   the ensemble (stand-in) agreed on the expected output of {} of them; where it did not, the review page shows each answer",
        agreed.len()
    );
    if let Some(&id) = agreed.first() {
        let o = crate::review::accept_ensemble(
            &store,
            &crate::review::Selection::Ids(vec![id]),
            "demo",
        )
        .await?;
        let v = store
            .latest_golden_version("support")
            .await?
            .context("golden set vanished")?;
        if let Some(p) = o.decided.first() {
            println!(
                "   accepted #{} with the ensemble's answer {} -> golden set `support` is now version {} ({} examples)",
                p.id,
                crate::text::truncate(p.expected_output.as_deref().unwrap_or(""), 60),
                v.version,
                v.active_count
            );
        }
    } else if let Some(first) = props.first() {
        // The golden outputs are JSON: a broken production answer is refused,
        // so the reviewer writes the expected output instead.
        // In a gap the production answer is usually wrong: the reviewer
        // writes the expected one.
        let expected = {
            println!("   #{}: the reviewer writes the expected answer", first.id);
            crate::review::ExpectedOutput::Edited(
                serde_json::json!({
                    "answer": format!("(reviewer's answer) {}", first.input),
                    "intent": first.cluster_label.as_deref().unwrap_or("new_topic"),
                })
                .to_string(),
            )
        };
        crate::review::accept(
            &store,
            &crate::review::Selection::Ids(vec![first.id]),
            expected,
            "demo",
        )
        .await?;
        let v = store
            .latest_golden_version("support")
            .await?
            .context("golden set vanished")?;
        println!(
            "   accepted #{} -> golden set `support` is now version {} ({} examples)",
            first.id, v.version, v.active_count
        );
    }
    if !args.no_serve {
        let url = format!("http://127.0.0.1:{port}/review");
        println!("\n9. the review page: `driftwatch serve` now runs on loopback (scheduler, alerts, ingest, review)");
        println!("   open   {url}");
        println!(
            "   token  {review_token}   (in {}; [review] gives each reviewer their own)",
            dir.join("review-token").display()
        );
        println!(
            "   Sign in, open the top gap cluster, accept (edit the expected output) or reject;"
        );
        println!("   accepted proposals join the golden set as a new version (`driftwatch golden versions`).");
        println!("   Ctrl-C stops the server.\n");
        let url = cfg.database_url(None);
        return super::serve_cmd(store, settings, None, &url).await;
    }
    println!("\nNext:");
    println!(
        "  driftwatch --config {} proposals list",
        cfg_path.display()
    );
    println!(
        "  driftwatch --config {} run support       (coverage reflects accepted examples)",
        cfg_path.display()
    );
    println!("  driftwatch --config {} alerts list", cfg_path.display());
    println!(
        "  driftwatch --config {} serve             (review page on http://127.0.0.1:{port}/review, token in {})",
        cfg_path.display(),
        dir.join("review-token").display()
    );
    store.close().await;
    Ok(ExitCode::SUCCESS)
}
