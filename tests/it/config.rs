use std::process::Command;

use crate::common::bin;

#[test]
fn check_config_names_typo_and_wrong_type_with_lines() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("driftwatch.toml");
    std::fs::write(&p, "[store]\nurl = \"sqlite://x.db\"\n\n[ingest]\nbatch_sise = 100\nmax_text_bytes = \"lots\"\n").unwrap();
    let out = Command::new(bin())
        .arg("check-config")
        .arg(&p)
        .output()
        .unwrap();
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
    assert!(err.contains("2 errors"), "{err}");
}

#[test]
fn check_config_accepts_the_example_file() {
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/driftwatch.example.toml"
    );
    let out = Command::new(bin())
        .arg("check-config")
        .arg(example)
        .output()
        .unwrap();
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
