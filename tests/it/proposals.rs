use std::process::Command;

use driftwatch::cli::proposals::{self as proposals_cmd, ProposalsCmd, StatusArg};
use driftwatch::review::{
    self, ExpectedOutput, ProposalFilter, ProposalStatus, RefusalKind, ReviewError, Selection,
};
use driftwatch::store::{GoldenChange, NewGoldenExample, Proposal, Provenance, Store, StoreError};
use serde_json::{json, Value};

use crate::both_backends;
use crate::common::{bin, queue_proposals, ProposalItem, TestDb};

const SET: &str = "support";
const JOB: &str = "support-drift";

/// The ids of the fixture's proposals, in insertion order.
struct Fixture {
    run: i64,
    /// Cluster 1 "refund late order": a, b, c.
    a: Proposal,
    b: Proposal,
    c: Proposal,
    /// Cluster 2 "invoice vat": d, e.
    d: Proposal,
    e: Proposal,
    /// An outlier, in no cluster.
    f: Proposal,
    /// The golden example every clustered proposal is nearest to.
    golden_id: i64,
}

fn golden(input: &str, expected: &str) -> NewGoldenExample {
    NewGoldenExample {
        input: input.into(),
        expected_output: expected.into(),
        tags: vec![],
        proposal_id: None,
    }
}

/// One finished run of the job and its proposals (nearest to `golden_id` when
/// clustered); returns the run id.
async fn add_run(s: &Store, items: &[ProposalItem<'_>], golden_id: i64) -> i64 {
    let run = s.start_run(JOB).await.unwrap();
    s.finish_run(run, &Default::default(), &[]).await.unwrap();
    assert_eq!(
        queue_proposals(s, run, (JOB, SET), items, golden_id, false).await,
        items.len() as u64
    );
    run
}

/// Golden set `support` at version 1 (two examples) and one run with six proposals.
async fn fixture(s: &Store) -> Fixture {
    let v1 = s
        .apply_golden_change(
            SET,
            &GoldenChange {
                description: "import".into(),
                add: vec![
                    golden(
                        "how do I reset my password",
                        "Use the reset link on the login page.",
                    ),
                    golden("what are your opening hours", "9 to 5, Monday to Friday."),
                ],
                archive: vec![],
            },
        )
        .await
        .unwrap();
    assert_eq!(v1.version, 1);
    let golden_id = s.golden_examples(SET, None).await.unwrap()[0].id;
    let refund = Some((1, "refund late order"));
    let invoice = Some((2, "invoice vat"));
    let run = add_run(
        s,
        &[
            ("where is my refund", "Refunds take 5 days.", refund),
            ("refund not received yet", "Please wait.", refund),
            ("money back for a broken kettle", "Send it back.", refund),
            (
                "can I get a VAT invoice",
                "Yes, from your account page.",
                invoice,
            ),
            (
                "change the address on my invoice",
                "Contact billing.",
                invoice,
            ),
            ("tell me a joke", "No.", None),
        ],
        golden_id,
    )
    .await;
    let all = s.list_proposals(&ProposalFilter::default()).await.unwrap();
    assert_eq!(all.len(), 6);
    let mut it = all.into_iter();
    let mut next = || it.next().unwrap();
    Fixture {
        run,
        a: next(),
        b: next(),
        c: next(),
        d: next(),
        e: next(),
        f: next(),
        golden_id,
    }
}

fn ids(ps: &[Proposal]) -> Vec<i64> {
    ps.iter().map(|p| p.id).collect()
}

async fn list_accept_reject_and_conflicts(db: TestDb) {
    let s = db.store().await;
    let fx = fixture(&s).await;

    // Listing and filters.
    let pending = ProposalFilter {
        status: Some(ProposalStatus::Pending),
        ..ProposalFilter::default()
    };
    assert_eq!(s.list_proposals(&pending).await.unwrap().len(), 6);
    let cluster1 = ProposalFilter {
        job: Some(JOB.into()),
        cluster_id: Some(1),
        run_id: Some(fx.run),
        ..pending.clone()
    };
    assert_eq!(
        ids(&s.list_proposals(&cluster1).await.unwrap()),
        vec![fx.a.id, fx.b.id, fx.c.id]
    );
    let other_job = ProposalFilter {
        job: Some("nope".into()),
        ..ProposalFilter::default()
    };
    assert!(s.list_proposals(&other_job).await.unwrap().is_empty());
    let other_set = ProposalFilter {
        golden_set: Some("nope".into()),
        ..ProposalFilter::default()
    };
    assert!(s.list_proposals(&other_set).await.unwrap().is_empty());
    let two = ProposalFilter {
        limit: Some(2),
        golden_set: Some(SET.into()),
        ..ProposalFilter::default()
    };
    assert_eq!(
        ids(&s.list_proposals(&two).await.unwrap()),
        vec![fx.a.id, fx.b.id]
    );
    let a = s.get_proposal(fx.a.id).await.unwrap();
    assert_eq!(a, fx.a);
    assert_eq!(
        (
            a.status.as_str(),
            a.cluster_label.as_deref(),
            a.kind.as_str()
        ),
        ("pending", Some("refund late order"), "gap")
    );
    assert_eq!(a.nearest_golden_similarity, Some(0.41));
    assert!(matches!(
        s.get_proposal(999_999).await,
        Err(StoreError::NotFound(_))
    ));

    // Show: nearest golden text and similarity, siblings of the same cluster.
    let d = review::detail(&s, fx.a.id).await.unwrap();
    let g = d.nearest_golden.unwrap();
    assert_eq!(
        (g.id, g.input.as_str(), g.similarity),
        (fx.golden_id, "how do I reset my password", Some(0.41))
    );
    assert_eq!(ids(&d.siblings), vec![fx.b.id, fx.c.id]);
    let f = review::detail(&s, fx.f.id).await.unwrap();
    assert!(f.nearest_golden.is_none() && f.siblings.is_empty());

    // Accept with an edited expected output: a new golden version holds the example.
    let edited = "Refunds arrive within 5 business days.";
    let out = review::accept(
        &s,
        &Selection::Ids(vec![fx.a.id]),
        ExpectedOutput::Edited(edited.into()),
        "alice",
    )
    .await
    .unwrap();
    assert!(out.refused.is_empty());
    assert_eq!(out.versions.len(), 1);
    let v2 = &out.versions[0];
    assert_eq!((v2.version, v2.added, v2.active_count), (2, 1, 3));
    assert_eq!(v2.change, format!("accept proposal {} by alice", fx.a.id));
    let example = s
        .golden_examples(SET, None)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.input == fx.a.input)
        .unwrap();
    assert_eq!(example.expected_output, edited);
    assert_eq!(example.provenance, Provenance::AcceptedProposal);
    assert_eq!(example.proposal_id, Some(fx.a.id));
    assert_eq!(example.version_added, 2);
    let a = s.get_proposal(fx.a.id).await.unwrap();
    assert_eq!(out.decided, vec![a.clone()]);
    assert_eq!(a.status, "accepted");
    assert_eq!(a.expected_output.as_deref(), Some(edited));
    assert_eq!(a.decided_by.as_deref(), Some("alice"));
    assert!(a.decided_at.is_some());
    assert_eq!(a.golden_example_id, Some(example.id));

    // Accept keeping the production output (--use-output), through the store API too.
    let out = review::accept(
        &s,
        &Selection::Ids(vec![fx.d.id]),
        ExpectedOutput::UseOutput,
        "bob",
    )
    .await
    .unwrap();
    assert_eq!(out.versions[0].version, 3);
    let d = s.get_proposal(fx.d.id).await.unwrap();
    assert_eq!(d.expected_output.as_deref(), Some(fx.d.output.as_str()));
    let ex_d = s
        .golden_example(d.golden_example_id.unwrap())
        .await
        .unwrap();
    assert_eq!(
        (ex_d.input.as_str(), ex_d.expected_output.as_str()),
        (fx.d.input.as_str(), fx.d.output.as_str())
    );
    let (e, v4) = s
        .accept_proposal(fx.e.id, "Write to billing@example.com.".into(), "bob")
        .await
        .unwrap();
    assert_eq!(
        (e.status.as_str(), v4.version, v4.added),
        ("accepted", 4, 1)
    );

    // Reject with a reason: no golden version.
    let out = review::reject(
        &s,
        &Selection::Ids(vec![fx.f.id]),
        "not a support question",
        "carol",
    )
    .await
    .unwrap();
    assert!(out.versions.is_empty());
    let f = s.get_proposal(fx.f.id).await.unwrap();
    assert_eq!(
        (
            f.status.as_str(),
            f.reason.as_deref(),
            f.decided_by.as_deref(),
            f.golden_example_id
        ),
        (
            "rejected",
            Some("not a support question"),
            Some("carol"),
            None
        )
    );
    assert_eq!(s.golden_versions(Some(SET)).await.unwrap().len(), 4);

    // A second decision on a decided proposal is a conflict naming the first.
    let err = s
        .accept_proposal(fx.a.id, "something else".into(), "dave")
        .await
        .unwrap_err();
    match &err {
        StoreError::Conflict(m) => assert!(
            m.starts_with(&format!(
                "proposal {} was already accepted by alice",
                fx.a.id
            )),
            "{m}"
        ),
        other => panic!("expected a conflict, got {other}"),
    }
    let err = s.reject_proposal(fx.f.id, "dup", "dave").await.unwrap_err();
    assert!(
        err.to_string().starts_with(&format!(
            "conflict: proposal {} was already rejected by carol",
            fx.f.id
        )),
        "{err}"
    );
    let out = review::reject(
        &s,
        &Selection::Ids(vec![fx.a.id]),
        "changed my mind",
        "dave",
    )
    .await
    .unwrap();
    assert!(out.decided.is_empty());
    assert_eq!(
        (out.refused[0].id, out.refused[0].kind),
        (fx.a.id, RefusalKind::Conflict)
    );
    // Nothing was overwritten and no version was made.
    let a2 = s.get_proposal(fx.a.id).await.unwrap();
    assert_eq!(a2, a);
    assert_eq!(s.golden_versions(Some(SET)).await.unwrap().len(), 4);
    assert!(matches!(
        s.accept_proposal(999_999, "x".into(), "dave").await,
        Err(StoreError::NotFound(_))
    ));

    // Unusable requests write nothing.
    let sel = Selection::Ids(vec![fx.b.id]);
    assert!(matches!(
        review::accept(&s, &sel, ExpectedOutput::Edited("  ".into()), "x").await,
        Err(ReviewError::Invalid(_))
    ));
    assert!(matches!(
        review::reject(&s, &sel, " ", "x").await,
        Err(ReviewError::Invalid(_))
    ));
    assert!(matches!(
        review::accept(&s, &sel, ExpectedOutput::UseOutput, "").await,
        Err(ReviewError::Invalid(_))
    ));
    assert_eq!(s.get_proposal(fx.b.id).await.unwrap().status, "pending");
}
both_backends!(list_accept_reject_and_conflicts_sqlite, list_accept_reject_and_conflicts_postgres => list_accept_reject_and_conflicts);

async fn bulk_accept_by_cluster_makes_one_version(db: TestDb) {
    let s = db.store().await;
    let fx = fixture(&s).await;
    let cluster1 = Selection::Cluster {
        job: JOB.into(),
        cluster_id: 1,
        run_id: None,
    };
    let out = review::accept(&s, &cluster1, ExpectedOutput::UseOutput, "alice")
        .await
        .unwrap();
    assert_eq!(ids(&out.decided), vec![fx.a.id, fx.b.id, fx.c.id]);
    assert!(out.refused.is_empty());
    assert_eq!(
        out.versions.len(),
        1,
        "one golden version for the whole cluster"
    );
    let v = &out.versions[0];
    assert_eq!((v.version, v.added, v.active_count), (2, 3, 5));
    assert_eq!(
        v.change,
        format!(
            "accept proposals {}, {}, {} by alice",
            fx.a.id, fx.b.id, fx.c.id
        )
    );
    assert_eq!(s.golden_versions(Some(SET)).await.unwrap().len(), 2);
    let added: Vec<(Option<i64>, String)> = s
        .golden_examples(SET, None)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.version_added == 2)
        .map(|e| (e.proposal_id, e.expected_output))
        .collect();
    assert_eq!(
        added,
        vec![
            (Some(fx.a.id), fx.a.output.clone()),
            (Some(fx.b.id), fx.b.output.clone()),
            (Some(fx.c.id), fx.c.output.clone()),
        ]
    );
    for p in &out.decided {
        let stored = s.get_proposal(p.id).await.unwrap();
        assert_eq!(stored.status, "accepted");
        let ex = s
            .golden_example(stored.golden_example_id.unwrap())
            .await
            .unwrap();
        assert_eq!(ex.proposal_id, Some(p.id));
    }
    // Nothing pending is left in the cluster.
    let err = review::accept(&s, &cluster1, ExpectedOutput::UseOutput, "alice")
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("no pending proposals in cluster 1 of job {JOB}")
    );

    // A later run also has a cluster numbered 2: the bare number is ambiguous.
    let run2 = add_run(
        &s,
        &[(
            "do you ship to Norway",
            "Yes.",
            Some((2, "shipping abroad")),
        )],
        fx.golden_id,
    )
    .await;
    let cluster2 = Selection::Cluster {
        job: JOB.into(),
        cluster_id: 2,
        run_id: None,
    };
    let err = review::reject(&s, &cluster2, "later", "alice")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ReviewError::Invalid(m) if m.contains(&format!("from runs {}, {run2}", fx.run)) && m.contains("--run")),
        "{err}"
    );
    let in_run1 = Selection::Cluster {
        job: JOB.into(),
        cluster_id: 2,
        run_id: Some(fx.run),
    };
    let out = review::reject(&s, &in_run1, "billing handles these", "alice")
        .await
        .unwrap();
    assert_eq!(ids(&out.decided), vec![fx.d.id, fx.e.id]);
    assert!(out.versions.is_empty());

    // Bulk accept of ids: one version, and an already decided id is refused
    // without stopping the others.
    let run2_p = s
        .list_proposals(&ProposalFilter {
            run_id: Some(run2),
            ..ProposalFilter::default()
        })
        .await
        .unwrap()
        .remove(0);
    let out = review::accept(
        &s,
        &Selection::Ids(vec![fx.f.id, fx.a.id, run2_p.id, fx.f.id]),
        ExpectedOutput::Edited("See the FAQ.".into()),
        "bob",
    )
    .await
    .unwrap();
    assert_eq!(ids(&out.decided), vec![fx.f.id, run2_p.id]);
    assert_eq!(out.refused.len(), 1);
    assert_eq!(out.refused[0].id, fx.a.id);
    assert_eq!(out.versions.len(), 1);
    assert_eq!((out.versions[0].version, out.versions[0].added), (3, 2));
}
both_backends!(bulk_accept_by_cluster_makes_one_version_sqlite, bulk_accept_by_cluster_makes_one_version_postgres => bulk_accept_by_cluster_makes_one_version);

async fn export_and_import_decisions(db: TestDb) {
    let s = db.store().await;
    let fx = fixture(&s).await;

    // Export: one JSON object per pending proposal.
    let mut buf = Vec::new();
    let n = review::export(
        &s,
        &ProposalFilter {
            status: Some(ProposalStatus::Pending),
            ..ProposalFilter::default()
        },
        &mut buf,
    )
    .await
    .unwrap();
    assert_eq!(n, 6);
    let lines: Vec<Value> = String::from_utf8(buf)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 6);
    let first = &lines[0];
    assert_eq!(first["id"], fx.a.id);
    assert_eq!(first["input"], "where is my refund");
    assert_eq!(first["output"], "Refunds take 5 days.");
    assert_eq!(first["cluster_label"], "refund late order");
    assert_eq!(first["status"], "pending");
    assert_eq!(first["nearest_golden"]["id"], fx.golden_id);
    assert_eq!(
        first["nearest_golden"]["input"],
        "how do I reset my password"
    );
    assert_eq!(first["nearest_golden"]["similarity"], 0.41);
    assert_eq!(lines[5]["nearest_golden"], Value::Null);

    // Import: a bad line is reported by number, the valid lines are applied.
    let file = [
        json!({"id": fx.a.id, "decision": "accept", "expected_output": "Within 5 days.", "by": "lab"}).to_string(),
        json!({"id": fx.b.id, "decision": "reject", "reason": "duplicate of a"}).to_string(),
        "{\"id\": 3, \"decision\": ".to_string(),
        json!({"id": fx.c.id, "decision": "accept", "use_output": true}).to_string(),
        json!({"id": 999_999, "decision": "reject", "reason": "x"}).to_string(),
        json!({"id": fx.d.id, "decision": "later"}).to_string(),
    ]
    .join("\n");
    let rep = review::import_decisions(&s, file.as_bytes(), "importer")
        .await
        .unwrap();
    assert_eq!(rep.read, 6);
    assert_eq!((rep.accepted, rep.rejected), (2, 1));
    let bad: Vec<u64> = rep.errors.iter().map(|e| e.line).collect();
    assert_eq!(bad, vec![3, 6]);
    assert!(
        rep.errors[0].reason.starts_with("malformed JSON"),
        "{rep:?}"
    );
    assert_eq!(rep.refused.len(), 1);
    assert_eq!(
        (rep.refused[0].line, rep.refused[0].refusal.kind),
        (5, RefusalKind::NotFound)
    );
    assert_eq!(rep.versions.len(), 1);
    assert_eq!((rep.versions[0].version, rep.versions[0].added), (2, 2));
    let a = s.get_proposal(fx.a.id).await.unwrap();
    assert_eq!(
        (a.expected_output.as_deref(), a.decided_by.as_deref()),
        (Some("Within 5 days."), Some("lab"))
    );
    let c = s.get_proposal(fx.c.id).await.unwrap();
    assert_eq!(c.expected_output.as_deref(), Some(fx.c.output.as_str()));
    assert_eq!(c.decided_by.as_deref(), Some("importer"));
    let b = s.get_proposal(fx.b.id).await.unwrap();
    assert_eq!(
        (b.status.as_str(), b.reason.as_deref()),
        ("rejected", Some("duplicate of a"))
    );
    assert_eq!(s.get_proposal(fx.d.id).await.unwrap().status, "pending");

    // Importing through the CLI path: a conflict is reported with its line, not fatal.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("decisions.jsonl");
    std::fs::write(
        &path,
        format!(
            "{}\n{}\n",
            json!({"id": fx.a.id, "decision": "reject", "reason": "no"}),
            json!({"id": fx.d.id, "decision": "accept", "use_output": true, "by": "erin"})
        ),
    )
    .unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = proposals_cmd::run_cmd_with(
        &s,
        ProposalsCmd::ImportDecisions {
            path: path.clone(),
            by: Some("cli".into()),
            json: false,
        },
        &mut out,
        &mut err,
    )
    .await
    .unwrap();
    assert_eq!(code, std::process::ExitCode::from(3));
    let (out, err) = (
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    );
    assert!(
        out.starts_with("read 2 / accepted 1 / rejected 0 / bad lines 0 / refused 1"),
        "{out}"
    );
    assert!(
        err.contains(&format!(
            "line 1: conflict: proposal {} was already accepted by lab",
            fx.a.id
        )),
        "{err}"
    );
    let d = s.get_proposal(fx.d.id).await.unwrap();
    assert_eq!(
        (d.status.as_str(), d.decided_by.as_deref()),
        ("accepted", Some("erin"))
    );
    assert_eq!(s.get_proposal(fx.a.id).await.unwrap(), a);

    // Export of accepted ones carries the decision.
    let mut buf = Vec::new();
    proposals_cmd::run_cmd_with(
        &s,
        ProposalsCmd::Export {
            status: StatusArg::Accepted,
            job: None,
            set: Some(SET.into()),
            out: None,
        },
        &mut buf,
        &mut Vec::new(),
    )
    .await
    .unwrap();
    let accepted: Vec<Value> = String::from_utf8(buf)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(accepted.len(), 3);
    assert_eq!(accepted[0]["expected_output"], "Within 5 days.");
}
both_backends!(export_and_import_decisions_sqlite, export_and_import_decisions_postgres => export_and_import_decisions);

/// Two reviewers at once: on the same proposal exactly one wins and the other
/// sees a conflict; on different proposals of one set both win, each with its
/// own version.
async fn concurrent_reviewers(db: TestDb) {
    let s = db.store().await;
    let fx = fixture(&s).await;
    let race = |id: i64, who: &'static str| {
        let s = s.clone();
        tokio::spawn(async move { s.accept_proposal(id, format!("by {who}"), who).await })
    };
    let (x, y) = (race(fx.a.id, "alice"), race(fx.a.id, "bob"));
    let results = [x.await.unwrap(), y.await.unwrap()];
    let wins = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(wins, 1, "{results:?}");
    let winner = s.get_proposal(fx.a.id).await.unwrap();
    let loser_err = results.iter().find_map(|r| r.as_ref().err()).unwrap();
    assert_eq!(
        loser_err.to_string().split(" at ").next().unwrap(),
        format!(
            "conflict: proposal {} was already accepted by {}",
            fx.a.id,
            winner.decided_by.unwrap()
        )
    );
    assert_eq!(s.golden_versions(Some(SET)).await.unwrap().len(), 2);

    let (x, y) = (race(fx.b.id, "alice"), race(fx.c.id, "bob"));
    let (x, y) = (x.await.unwrap().unwrap(), y.await.unwrap().unwrap());
    let mut versions = vec![x.1.version, y.1.version];
    versions.sort_unstable();
    assert_eq!(versions, vec![3, 4]);
    assert_eq!(s.golden_examples(SET, None).await.unwrap().len(), 5);
}
both_backends!(concurrent_reviewers_sqlite, concurrent_reviewers_postgres => concurrent_reviewers);

fn cli(url: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin())
        .args(["--database", url, "proposals"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `driftwatch proposals list --json` and `proposals accept ID --use-output`
/// through the built binary.
async fn cli_list_and_accept(db: TestDb) {
    let s = db.store().await;
    let fx = fixture(&s).await;

    let (code, stdout, stderr) = cli(&db.url, &["list", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let listed: Vec<Proposal> = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(
        ids(&listed),
        vec![fx.a.id, fx.b.id, fx.c.id, fx.d.id, fx.e.id, fx.f.id]
    );
    let (code, stdout, _) = cli(&db.url, &["list", "--cluster", "2", "--json"]);
    assert_eq!(code, 0);
    let listed: Vec<Proposal> = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(ids(&listed), vec![fx.d.id, fx.e.id]);

    let id = fx.b.id.to_string();
    let (code, stdout, stderr) = cli(&db.url, &["accept", &id, "--use-output", "--by", "tess"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout,
        format!(
            "accepted proposal {id} by tess\ngolden set {SET} is now at version 2 (3 active examples)\n"
        )
    );
    let b = s.get_proposal(fx.b.id).await.unwrap();
    assert_eq!(b.expected_output.as_deref(), Some(fx.b.output.as_str()));
    let ex = s
        .golden_example(b.golden_example_id.unwrap())
        .await
        .unwrap();
    assert_eq!(
        (ex.provenance, ex.proposal_id),
        (Provenance::AcceptedProposal, Some(fx.b.id))
    );

    // The same decision again: a conflict, exit 1, nothing changed.
    let (code, _, stderr) = cli(&db.url, &["accept", &id, "--use-output", "--by", "uma"]);
    assert_eq!(code, 1);
    assert!(
        stderr.starts_with(&format!(
            "conflict: proposal {id} was already accepted by tess"
        )),
        "{stderr}"
    );
    // Neither or both of --expected-output / --use-output: a usage error.
    let (code, _, _) = cli(&db.url, &["accept", &id]);
    assert_eq!(code, 2);
    assert_eq!(s.golden_versions(Some(SET)).await.unwrap().len(), 2);
}
both_backends!(cli_list_and_accept_sqlite, cli_list_and_accept_postgres => cli_list_and_accept);

/// A golden set whose outputs are JSON takes no accepted example that is not,
/// nor one that lacks or retypes a key its outputs hold: a single accept is
/// refused with the parser's reason (or the key) and nothing is written; a bulk accept takes the valid ones and lists the refused one;
/// the same holds for `import-decisions`.
async fn accepted_examples_keep_the_golden_output_format(db: TestDb) {
    let s = db.store().await;
    let add: Vec<NewGoldenExample> = (0..12)
        .map(|i| {
            golden(
                &format!("question {i}"),
                &format!("{{\"answer\": \"a{i}\"}}"),
            )
        })
        .collect();
    s.apply_golden_change(
        SET,
        &GoldenChange {
            description: "import".into(),
            add,
            archive: vec![],
        },
    )
    .await
    .unwrap();
    let golden_id = s.golden_examples(SET, None).await.unwrap()[0].id;
    let pizza = Some((1, "food"));
    add_run(
        &s,
        &[
            (
                "is leftover pizza safe",
                "{\"answer\": \"Leftover pizza is safe\"",
                pizza,
            ),
            (
                "how long does pizza keep",
                "{\"answer\": \"3 days\"}",
                pizza,
            ),
            ("can I freeze pizza", "{\"answer\": \"yes\"}", pizza),
        ],
        golden_id,
    )
    .await;
    let all = s.list_proposals(&ProposalFilter::default()).await.unwrap();
    let (broken, fine, third) = (all[0].id, all[1].id, all[2].id);
    let versions = || async { s.golden_versions(Some(SET)).await.unwrap().len() };
    assert_eq!(versions().await, 1);

    // One proposal, its production output as it is: refused, nothing written.
    let id = broken.to_string();
    let (code, _, stderr) = cli(&db.url, &["accept", &id, "--use-output", "--by", "tess"]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("not valid JSON") && stderr.contains("EOF"),
        "{stderr}"
    );
    assert_eq!(versions().await, 1);
    assert_eq!(s.get_proposal(broken).await.unwrap().status, "pending");
    // An edited output must parse too.
    let (code, _, stderr) = cli(
        &db.url,
        &[
            "accept",
            &id,
            "--expected-output",
            "{\"answer\": oops}",
            "--by",
            "tess",
        ],
    );
    assert_ne!(code, 0, "{stderr}");
    assert_eq!(versions().await, 1);

    // The whole cluster: the valid ones are accepted, the broken one refused.
    let (code, stdout, stderr) = cli(
        &db.url,
        &[
            "accept",
            "--cluster",
            "1",
            "--job",
            JOB,
            "--use-output",
            "--by",
            "tess",
        ],
    );
    assert!(
        stderr.contains(&format!("proposal {broken}")),
        "{stdout}{stderr}"
    );
    assert!(code != 0 || stderr.contains("not accepted"), "{code}");
    assert_eq!(versions().await, 2);
    for (id, status) in [(broken, "pending"), (fine, "accepted"), (third, "accepted")] {
        assert_eq!(s.get_proposal(id).await.unwrap().status, status, "{id}");
    }

    // Valid JSON of another shape is refused too, naming what to fix: golden
    // outputs are objects with a string `answer`.
    for (edited, why) in [
        (
            "{\"response\": \"eat it within 3 days\"}",
            "it has no key `answer`",
        ),
        ("{\"answer\": 3}", "its `answer` is a number, not a string"),
    ] {
        let (code, _, stderr) = cli(
            &db.url,
            &["accept", &id, "--expected-output", edited, "--by", "tess"],
        );
        assert_ne!(code, 0, "{edited}: {stderr}");
        assert!(
            stderr.contains(why) && stderr.contains("objects with `answer` (string)"),
            "{stderr}"
        );
    }
    assert_eq!(versions().await, 2);

    // Fixed by hand, it goes in; a decisions file is held to the same rule.
    let bad = format!(
        "{{\"id\": {broken}, \"decision\": \"accept\", \"expected_output\": \"not json\"}}\n"
    );
    let report = driftwatch::review::import_decisions(&s, bad.as_bytes(), "tess")
        .await
        .unwrap();
    assert_eq!(report.accepted, 0);
    assert_eq!(report.refused.len(), 1, "{report:?}");
    let (code, _, stderr) = cli(
        &db.url,
        &[
            "accept",
            &id,
            "--expected-output",
            "{\"answer\": \"eat it within 3 days\"}",
            "--by",
            "tess",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(versions().await, 3);
}
both_backends!(accepted_examples_keep_the_golden_output_format_sqlite, accepted_examples_keep_the_golden_output_format_postgres => accepted_examples_keep_the_golden_output_format);

/// Undo, search and progress, as a reviewer uses them: undoing an accept takes
/// the example out of the golden set in a new version; undoing a reject makes
/// the proposal pending again; search finds text in input, output or expected
/// output in any case (with `%` and `_` taken literally); progress counts
/// decisions per gap and reviewer. Topic exclusions round-trip and lift once.
async fn undo_search_progress_and_exclusions(db: TestDb) {
    let s = db.store().await;
    let fx = fixture(&s).await;
    let one = |id| Selection::Ids(vec![id]);
    review::accept(
        &s,
        &one(fx.a.id),
        ExpectedOutput::Edited("Refunds take 5 business days (100% of them).".into()),
        "alice",
    )
    .await
    .unwrap();
    review::reject(&s, &one(fx.d.id), "duplicate", "bob")
        .await
        .unwrap();

    // Search: case-insensitive, over the three texts; wildcards are literal.
    let search = |q: &str| {
        let s = s.clone();
        let q = q.to_string();
        async move {
            ids(&s
                .list_proposals(&ProposalFilter {
                    search: Some(q),
                    ..ProposalFilter::default()
                })
                .await
                .unwrap())
        }
    };
    assert_eq!(search("REFUND").await, vec![fx.a.id, fx.b.id]);
    assert_eq!(
        search("business days").await,
        vec![fx.a.id],
        "expected output"
    );
    assert_eq!(
        search("contact billing").await,
        vec![fx.e.id],
        "production output"
    );
    assert_eq!(search("100%").await, vec![fx.a.id]);
    assert!(search("1_0%").await.is_empty(), "_ is not a wildcard");

    // Progress per gap and reviewer.
    let rows = s.review_progress(Some(JOB)).await.unwrap();
    let count = |cluster: Option<i64>, status: &str, by: Option<&str>| {
        rows.iter()
            .find(|r| {
                r.cluster_id == cluster && r.status == status && r.decided_by.as_deref() == by
            })
            .map_or(0, |r| r.count)
    };
    assert_eq!(count(Some(1), "accepted", Some("alice")), 1);
    assert_eq!(count(Some(1), "pending", None), 2);
    assert_eq!(count(Some(2), "rejected", Some("bob")), 1);
    assert_eq!(count(None, "pending", None), 1);

    // Undo the accept: pending again, and a new version without the example.
    let before = s.latest_golden_version(SET).await.unwrap().unwrap();
    let (p, v) = review::reopen(&s, fx.a.id, "carol").await.unwrap();
    assert_eq!(p.status, "pending");
    assert_eq!(p.reopened_by.as_deref(), Some("carol"));
    assert_eq!((p.expected_output, p.golden_example_id), (None, None));
    let v = v.expect("a new golden version");
    assert_eq!(
        (v.version, v.active_count),
        (before.version + 1, before.active_count - 1)
    );
    assert!(s
        .golden_examples(SET, None)
        .await
        .unwrap()
        .iter()
        .all(|g| g.proposal_id != Some(fx.a.id)));
    // Undo the reject; undoing a pending proposal is a conflict.
    let (p, v) = review::reopen(&s, fx.d.id, "carol").await.unwrap();
    assert_eq!((p.status.as_str(), p.reason, v), ("pending", None, None));
    match review::reopen(&s, fx.d.id, "carol").await {
        Err(ReviewError::Store(StoreError::Conflict(m))) => assert!(m.contains("pending"), "{m}"),
        other => panic!("{other:?}"),
    }
    // Accepting again works and makes another version.
    let o = review::accept(
        &s,
        &one(fx.a.id),
        ExpectedOutput::Edited("Refunds take 5 business days.".into()),
        "alice",
    )
    .await
    .unwrap();
    assert_eq!(o.versions[0].version, before.version + 2);

    // A topic exclusion of gap 2: its pending proposals are rejected with the
    // reason; it is listed until lifted, and lifts once.
    let x = review::exclude_topic(
        &s,
        &Selection::Cluster {
            job: JOB.into(),
            cluster_id: 2,
            run_id: None,
        },
        driftwatch::store::ExclusionScope::OutOfScope,
        "billing is another team's",
        "bob",
    )
    .await
    .unwrap();
    assert_eq!(x.exclusion.gap_id, Some(2));
    assert_eq!(x.exclusion.label, "invoice vat");
    assert_eq!(
        x.exclusion.exemplars.len(),
        2,
        "{:?}",
        x.exclusion.exemplars
    );
    assert_eq!(ids(&x.rejected.decided), vec![fx.d.id, fx.e.id]);
    assert_eq!(
        s.get_proposal(fx.e.id).await.unwrap().reason.as_deref(),
        Some("topic out of scope: billing is another team's")
    );
    assert_eq!(s.exclusions(Some(JOB), false).await.unwrap().len(), 1);
    let lifted = review::lift_exclusion(&s, x.exclusion.id, "alice")
        .await
        .unwrap();
    assert_eq!(lifted.lifted_by.as_deref(), Some("alice"));
    assert!(s.exclusions(Some(JOB), false).await.unwrap().is_empty());
    assert_eq!(s.exclusions(None, true).await.unwrap().len(), 1);
    assert!(matches!(
        review::lift_exclusion(&s, x.exclusion.id, "bob").await,
        Err(ReviewError::Store(StoreError::Conflict(_)))
    ));
    // Proposals from several jobs cannot be one topic; an unknown gap is refused.
    assert!(matches!(
        review::exclude_topic(
            &s,
            &Selection::Cluster {
                job: JOB.into(),
                cluster_id: 99,
                run_id: None
            },
            driftwatch::store::ExclusionScope::OutOfScope,
            "r",
            "bob"
        )
        .await,
        Err(ReviewError::Invalid(_))
    ));
}
both_backends!(undo_search_progress_and_exclusions_sqlite, undo_search_progress_and_exclusions_postgres => undo_search_progress_and_exclusions);
