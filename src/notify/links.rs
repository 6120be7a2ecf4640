//! Links and commands in a notification: where to look and how to silence.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Where a notification's links point, from `[server] external_url` and
/// `[alerts] dashboard_url`.
#[derive(Debug, Clone, Copy, Default)]
pub struct LinkBase<'a> {
    /// Base URL of `driftwatch serve`, without a trailing slash.
    pub external_url: Option<&'a str>,
    /// Dashboard URL template (`{job}` is replaced by the job's name).
    pub dashboard_url: Option<&'a str>,
}

/// What a notification links to. Stored with it in the outbox, so a message
/// retried tomorrow still points where it did when planned.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Links {
    /// The run's report page (`{external_url}/runs/{run_id}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
    /// The review page, when the notification holds a new topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<String>,
    /// The dashboard, when `dashboard_url` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dashboard: Option<String>,
    /// The shell command that prints the run's report.
    #[serde(default)]
    pub report_command: String,
    /// The exact shell command that silences this notification's alerts for 2h.
    #[serde(default)]
    pub silence_command: String,
}

impl Links {
    /// Links of a notification for run `run_id` of `job`; `silence_by` are the
    /// labels a silence must match (the group's labels); `topic` whether the
    /// notification holds a new-topic incident.
    pub fn build(
        base: LinkBase<'_>,
        run_id: i64,
        job: &str,
        silence_by: &BTreeMap<String, String>,
        topic: bool,
    ) -> Links {
        let ext = base.external_url.map(|u| u.trim_end_matches('/'));
        let mut silence = String::from("driftwatch alerts silence");
        for (k, v) in silence_by {
            silence.push_str(" --match ");
            silence.push_str(&shell_quote(&format!("{k}={v}")));
        }
        silence.push_str(" --for 2h --comment 'seen, working on it'");
        Links {
            report: ext.map(|e| format!("{e}/runs/{run_id}")),
            review: ext.filter(|_| topic).map(|e| format!("{e}/review")),
            dashboard: base.dashboard_url.map(|d| d.replace("{job}", job)),
            report_command: format!("driftwatch report {run_id}"),
            silence_command: silence,
        }
    }
}

/// `s` as one shell word: as it is when it holds only safe characters, else in
/// single quotes (a `'` inside becomes `'\''`).
pub fn shell_quote(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "_-.,:/=+@%".contains(c);
    if !s.is_empty() && s.chars().all(safe) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_follow_the_external_url_and_the_silence_command_is_exact() {
        let by: BTreeMap<String, String> = [("job", "support"), ("incident", "topic.3")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let base = LinkBase {
            external_url: Some("https://dw.example.com/"),
            dashboard_url: Some("https://grafana.example.com/d/dw?var-driftwatch_job={job}"),
        };
        let l = Links::build(base, 42, "support", &by, true);
        assert_eq!(l.report.as_deref(), Some("https://dw.example.com/runs/42"));
        assert_eq!(l.review.as_deref(), Some("https://dw.example.com/review"));
        assert_eq!(
            l.dashboard.as_deref(),
            Some("https://grafana.example.com/d/dw?var-driftwatch_job=support")
        );
        assert_eq!(
            l.silence_command,
            "driftwatch alerts silence --match incident=topic.3 --match job=support --for 2h --comment 'seen, working on it'"
        );
        assert_eq!(l.report_command, "driftwatch report 42");
        let none = Links::build(LinkBase::default(), 42, "support", &by, false);
        assert_eq!(
            (none.report, none.review, none.dashboard),
            (None, None, None)
        );
        assert_eq!(shell_quote("metric=~output.*"), "'metric=~output.*'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
