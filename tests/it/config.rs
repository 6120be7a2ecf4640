use std::process::Command;

use crate::common::bin;

/// `driftwatch check-config FILE`.
fn check_config(file: &std::path::Path) -> std::process::Output {
    Command::new(bin())
        .arg("check-config")
        .arg(file)
        .output()
        .unwrap()
}

#[test]
fn check_config_names_typo_and_wrong_type_with_lines() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("driftwatch.toml");
    // Lines 5 and 6 do not parse; line 10 parses but fails its check, which
    // the type error must not hide.
    std::fs::write(&p, "[store]\nurl = \"sqlite://x.db\"\n\n[ingest]\nbatch_sise = 100\nmax_text_bytes = \"lots\"\n\n[[jobs]]\nname = \"j\"\nalpha = 1.5\ngolden_set = \"g\"\n").unwrap();
    let out = check_config(&p);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let f = p.display().to_string();
    assert!(
        err.contains(&format!("{f}:5:1: ingest.batch_sise: unknown key")),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{f}:6:1: ingest.max_text_bytes: invalid type: string \"lots\""
        )),
        "{err}"
    );
    assert!(err.contains(&format!("{f}:10:")), "{err}");
    assert!(err.contains("jobs[0].alpha"), "{err}");
    assert!(err.contains("3 errors"), "{err}");
}

#[test]
fn a_job_embedding_choice_is_checked_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("driftwatch.toml");
    let cfg = |choice: &str| {
        format!("[store]\nurl = \"sqlite://x.db\"\n\n[[jobs]]\nname = \"j\"\ngolden_set = \"g\"\n\n[jobs.semantic]\nembedding = \"{choice}\"\n")
    };
    std::fs::write(&p, cfg("fast")).unwrap();
    let out = check_config(&p);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}:9:1: jobs[0].semantic.embedding: unknown variant `fast`, expected `default` or `static`",
            p.display()
        )),
        "{err}"
    );
    std::fs::write(&p, cfg("static")).unwrap();
    let out = check_config(&p);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn check_config_accepts_the_example_file() {
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/driftwatch.example.toml"
    );
    let out = check_config(std::path::Path::new(example));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn commands_refuse_a_bad_config_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.toml");
    std::fs::write(&p, "[server]\nbind = \"nowhere\"\n").unwrap();
    let out = Command::new(bin())
        .args(["--config", p.to_str().unwrap(), "golden", "versions"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("2:1: server.bind: must be HOST:PORT"));
}

/// `[store] url = "sqlite://data.db"` in `sub/x.toml` means `sub/data.db`, from
/// whatever directory the command runs in.
#[test]
fn a_relative_sqlite_url_in_the_file_is_relative_to_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(
        dir.path().join("sub/x.toml"),
        "[store]\nurl = \"sqlite://data.db\"\n",
    )
    .unwrap();
    crate::common::succeeds(
        Command::new(bin())
            .current_dir(dir.path())
            .env_remove("DRIFTWATCH_DATABASE_URL")
            .args(["--config", "sub/x.toml", "golden", "versions"]),
    );
    assert!(dir.path().join("sub/data.db").exists());
    assert!(!dir.path().join("data.db").exists());
}

/// A store that cannot be opened says why, once, at once: the database's own
/// reason (not "pool timed out" after 10 s), a hint for the backend, exit 1;
/// a URL driftwatch cannot use is a configuration error, exit 2.
#[test]
fn a_store_that_cannot_be_opened_names_the_cause() {
    // A port nobody listens on: bind, note the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let open = |url: &str| {
        let t = std::time::Instant::now();
        let out = Command::new(bin())
            .env_remove("DRIFTWATCH_DATABASE_URL")
            .args(["--database", url, "runs"])
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).to_string(),
            t.elapsed(),
        )
    };
    let (code, err, took) = open(&format!("postgres://127.0.0.1:{port}/test"));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("refused"), "{err}");
    assert!(err.contains("hint: is the database server up"), "{err}");
    assert!(!err.contains("pool timed out"), "{err}");
    assert!(took < std::time::Duration::from_secs(5), "{took:?}");

    let (code, err, _) = open("postgres://127.0.0.1:5432/no_such_database_here");
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(err.matches("does not exist").count(), 1, "{err}");

    let (code, err, _) = open("mysql://dw:hunter2@db/x");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("unsupported scheme"), "{err}");
    assert!(
        !err.contains("hunter2") && !err.contains("writable"),
        "{err}"
    );

    let (code, err, _) = open("sqlite:///no/such/folder/x.db");
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("hint: is the folder there"), "{err}");
}

/// `check-config` reads every secret and token file `serve` would, and reports a
/// problem at its place in the file; `--no-secrets` checks the file alone.
#[test]
fn check_config_reads_the_secrets_serve_needs() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("short-token"), "s3cret\n").unwrap();
    let p = dir.path().join("dw.toml");
    std::fs::write(
        &p,
        "[server]\ntoken_file = \"short-token\"\n\n[alerts.receivers.ops]\nkind = \"slack\"\nwebhook_url_env = \"DRIFTWATCH_TEST_UNSET_WEBHOOK\"\n\n[review]\nreviewers = [{ name = \"alice\", token_env = \"DRIFTWATCH_TEST_UNSET_ALICE\" }]\n",
    )
    .unwrap();
    let out = Command::new(bin())
        .arg("check-config")
        .arg(&p)
        .env_remove("DRIFTWATCH_TEST_UNSET_WEBHOOK")
        .env_remove("DRIFTWATCH_TEST_UNSET_ALICE")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let f = p.display().to_string();
    let line_of = |key: &str| {
        err.lines()
            .find(|l| l.contains(&format!(": {key}")))
            .and_then(|l| l.strip_prefix(&format!("{f}:")))
            .and_then(|l| l.split(':').next())
            .map(str::to_string)
    };
    assert_eq!(line_of("server.token").as_deref(), Some("1"), "{err}");
    assert!(err.contains("too short"), "{err}");
    assert_eq!(
        line_of("alerts.receivers.ops").as_deref(),
        Some("4"),
        "{err}"
    );
    assert!(err.contains("DRIFTWATCH_TEST_UNSET_WEBHOOK"), "{err}");
    assert!(err.contains("review.reviewers[0]"), "{err}");
    assert!(err.contains("3 errors"), "{err}");
    crate::common::succeeds(
        Command::new(bin())
            .args(["check-config", "--no-secrets"])
            .arg(&p),
    );
}
