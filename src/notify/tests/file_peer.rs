//! The file receiver writes parseable `.eml` files into a maildir-like `new/`.

use mail_parser::MessageParser;

use super::super::channels::{FileChannel, ReceiverConfig};
use super::super::dedup::NotifyReason;
use super::super::group::{group_alerts, Notification};
use super::super::state::AlertStatus;
use super::fixtures::{alert, t, tempdir, two_firing};

fn files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .map(|rd| rd.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

#[tokio::test]
async fn writes_eml_into_new() {
    let dir = tempdir("maildir");
    let cfg: ReceiverConfig = toml::from_str(&format!(
        "kind = \"file\"\ndir = {:?}",
        dir.display().to_string()
    ))
    .unwrap();
    let r = cfg.build().unwrap();
    assert!(r.healthcheck().await.unwrap().contains("writable"));
    let n = two_firing();
    r.send(&n).await.unwrap();
    // retried delivery of the same notification does not duplicate it
    r.send(&n).await.unwrap();
    let new = files(&dir.join("new"));
    assert_eq!(new.len(), 1, "{new:?}");
    assert!(files(&dir.join("tmp")).is_empty());
    assert!(dir.join("cur").is_dir());
    let name = new[0].file_name().unwrap().to_str().unwrap().to_string();
    assert_eq!(name, FileChannel::file_name(&n));
    assert!(name.ends_with(".eml"));
    let raw = std::fs::read(&new[0]).unwrap();
    let msg = MessageParser::default().parse(&raw).expect("RFC 5322");
    assert_eq!(
        msg.subject(),
        Some("[FIRING:2] driftwatch support (critical): Outputs no longer valid JSON: output JSON validity 100.0% → 59.9%")
    );
    let expected_id = format!("{}@driftwatch", n.idempotency_key);
    assert_eq!(msg.message_id(), Some(expected_id.as_str()));
    let to: Vec<&str> = msg
        .to()
        .unwrap()
        .iter()
        .filter_map(|a| a.address())
        .collect();
    assert_eq!(to, ["ops@localhost"]);
    assert!(msg
        .body_text(0)
        .unwrap()
        .contains("Full report: driftwatch report 42"));

    // a resolution is a separate message
    let res = alert("support", "output.json_valid", AlertStatus::Resolved);
    let g = &group_alerts("ops", &["job".into()], &[res])[0];
    let rn = Notification::new(g, g.alerts.clone(), NotifyReason::Resolved, 43, t(900));
    r.send(&rn).await.unwrap();
    assert_eq!(files(&dir.join("new")).len(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}
