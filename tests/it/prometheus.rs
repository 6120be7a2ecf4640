//! The Grafana dashboard against a real Prometheus (Debian's `prometheus`,
//! installed by scripts/ensure-prometheus.sh): it scrapes a running
//! `driftwatch serve`, and every panel's PromQL, with the dashboard's `$job`
//! variable substituted, returns data through Prometheus' HTTP API.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const PROMETHEUS: &str = "/usr/bin/prometheus";

/// Every PromQL expression (`expr`, and `query` of template variables) of
/// config/grafana/driftwatch.json.
pub fn dashboard_exprs() -> Vec<String> {
    fn collect(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    match x.as_str() {
                        Some(e) if k == "expr" || k == "query" => out.push(e.to_string()),
                        _ => collect(x, out),
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| collect(x, out)),
            _ => {}
        }
    }
    let dash: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/config/grafana/driftwatch.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let mut out = Vec::new();
    collect(&dash, &mut out);
    out
}

struct Prom(Child);

impl Drop for Prom {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn query(client: &reqwest::Client, base: &str, expr: &str) -> serde_json::Value {
    client
        .get(format!("{base}/api/v1/query"))
        .query(&[("query", expr)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Starts Prometheus scraping `target` every second, waits for three scrapes,
/// and returns each of `exprs` (with `$job` = `job`) that returned no series,
/// with Prometheus' answer.
pub async fn panels_without_data(
    target: SocketAddr,
    exprs: &[String],
    job: &str,
) -> Vec<(String, serde_json::Value)> {
    assert!(
        std::path::Path::new(PROMETHEUS).exists(),
        "{PROMETHEUS} is missing: run scripts/ensure-prometheus.sh (scripts/test.sh does)"
    );
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: driftwatch\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .unwrap();
    let _prom = Prom(
        Command::new(PROMETHEUS)
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus starts"),
    );
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut scrapes = 0.0;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if let Ok(r) = client
            .get(format!("{base}/api/v1/query"))
            .query(&[("query", "count_over_time(up{job=\"driftwatch\"}[1m])")])
            .send()
            .await
        {
            if let Ok(v) = r.json::<serde_json::Value>().await {
                scrapes = v["data"]["result"][0]["value"][1]
                    .as_str()
                    .and_then(|s| s.parse::<f64>().ok())
                    .unwrap_or(0.0);
                if scrapes >= 3.0 {
                    break;
                }
            }
        }
    }
    assert!(
        scrapes >= 3.0,
        "Prometheus did not scrape driftwatch 3 times in 30 s"
    );
    let up = query(&client, &base, "up{job=\"driftwatch\"}").await;
    assert_eq!(up["data"]["result"][0]["value"][1], "1", "{up}");
    let mut empty = Vec::new();
    for e in exprs {
        // The data source variable names a plugin, not a query.
        if e == "prometheus" {
            continue;
        }
        // Grafana's `label_values(metric, label)` variable query is the
        // label-values API, not PromQL: the job must be among the values.
        if let Some(args) = e
            .strip_prefix("label_values(")
            .and_then(|r| r.strip_suffix(')'))
        {
            let (metric, label) = args.split_once(',').unwrap();
            let v: serde_json::Value = client
                .get(format!("{base}/api/v1/label/{}/values", label.trim()))
                .query(&[("match[]", metric.trim())])
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if !v["data"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == job))
            {
                empty.push((e.clone(), v));
            }
            continue;
        }
        let expr = e.replace("$job", job);
        let v = query(&client, &base, &expr).await;
        assert_eq!(v["status"], "success", "{expr}: {v}");
        if v["data"]["result"].as_array().is_none_or(Vec::is_empty) {
            empty.push((expr, v));
        }
    }
    empty
}
