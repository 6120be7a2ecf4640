//! Installing outside the repository: the Debian package and the tarball as
//! `scripts/package.sh` builds them (here around the test build's binary,
//! lightly compressed with `--fast`),
//! the package installed by dpkg into a scratch root (`--instdir`/`--admindir`:
//! the machine's own system is untouched), then the installed binary used from
//! an empty folder: `check-config` on the shipped config, and the whole demo
//! with the model where `fetch-model.sh --dest` puts it.

use std::path::Path;
use std::process::Command;

use crate::common::bin;

fn ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("command runs");
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_package_installs_and_the_installed_binary_runs_from_anywhere() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = tempfile::tempdir().unwrap();
    ok(Command::new("bash")
        .arg(repo.join("scripts/package.sh"))
        .args(["--binary", bin().to_str().unwrap(), "--fast", "--out"])
        .arg(out.path()));
    let version = env!("CARGO_PKG_VERSION");
    let deb = std::fs::read_dir(out.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .expect("a .deb");

    // dpkg installs it into a scratch root, configuring the conffiles.
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    for d in ["var/lib/dpkg/info", "var/lib/dpkg/updates"] {
        std::fs::create_dir_all(r.join(d)).unwrap();
    }
    std::fs::write(r.join("var/lib/dpkg/status"), "").unwrap();
    let admin = r.join("var/lib/dpkg");
    ok(Command::new("dpkg")
        .arg(format!("--instdir={}", r.display()))
        .arg(format!("--admindir={}", admin.display()))
        // libc is the host's, not the scratch root's.
        .args([
            "--force-not-root",
            "--force-bad-path",
            "--force-depends",
            "-i",
        ])
        .arg(&deb));
    let status = ok(Command::new("dpkg")
        .arg(format!("--admindir={}", admin.display()))
        .args(["-s", "driftwatch"]));
    assert!(status.contains("Status: install ok installed"), "{status}");
    assert!(status.contains(&format!("Version: {version}")), "{status}");
    let unit = std::fs::read_to_string(r.join("lib/systemd/system/driftwatch.service")).unwrap();
    assert!(
        unit.contains(
            "ExecStart=/usr/bin/driftwatch --config /etc/driftwatch/driftwatch.toml serve"
        ),
        "{unit}"
    );
    assert!(unit.contains("NO_COLOR=1"), "journald gets plain lines");
    // The unit's Documentation= and the model instructions are installed.
    assert!(unit.contains("Documentation=file:///usr/share/doc/driftwatch/README.md"));
    for f in [
        "usr/share/doc/driftwatch/README.md",
        "usr/share/driftwatch/fetch-model.sh",
        "usr/share/driftwatch/grafana/driftwatch.json",
        "lib/systemd/system/driftwatch-run@.timer",
    ] {
        assert!(r.join(f).exists(), "{f} installed");
    }
    let conffiles = std::fs::read_to_string(admin.join("info/driftwatch.conffiles")).unwrap();
    assert!(
        conffiles.contains("/etc/driftwatch/driftwatch.toml"),
        "{conffiles}"
    );
    let installed = r.join("usr/bin/driftwatch");
    let v = ok(Command::new(&installed).arg("--version"));
    assert!(v.contains(version), "{v}");
    let checked = ok(Command::new(&installed)
        .args(["check-config", "--no-secrets"])
        .arg(r.join("etc/driftwatch/driftwatch.toml")));
    assert!(checked.contains(": ok"), "{checked}");

    // The tarball unpacks at / into /usr/local, its units saying so, and never
    // carries a config that would overwrite one.
    let tarball = std::fs::read_dir(out.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(".tar.gz"))
        .expect("a tarball");
    let unpacked = tempfile::tempdir().unwrap();
    ok(Command::new("tar")
        .arg("-C")
        .arg(unpacked.path())
        .arg("-xzf")
        .arg(&tarball));
    let u = unpacked.path();
    assert!(u.join("usr/local/bin/driftwatch").exists());
    assert!(u.join("etc/driftwatch/driftwatch.toml.example").exists());
    assert!(!u.join("etc/driftwatch/driftwatch.toml").exists());
    let unit = std::fs::read_to_string(u.join("etc/systemd/system/driftwatch.service")).unwrap();
    assert!(
        unit.contains("ExecStart=/usr/local/bin/driftwatch "),
        "{unit}"
    );

    // The installed binary from an empty folder: the demo, with the model
    // where `fetch-model.sh --dest DIR` puts it (here the repo's copy).
    let empty = tempfile::tempdir().unwrap();
    let demo = ok(Command::new(&installed)
        .current_dir(empty.path())
        .env("DRIFTWATCH_MODEL_DIR", repo.join("models"))
        .env("NO_COLOR", "1")
        .args(["demo", "--no-serve", "--traces", "400", "--dir", "here"]));
    assert!(demo.contains("driftwatch run support"), "{demo}");
    assert!(empty.path().join("here/driftwatch.db").exists());
    assert!(std::fs::read_dir(empty.path().join("here"))
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().starts_with("report-")));
}
