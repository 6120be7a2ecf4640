//! Topic decisions that stick: a gap rejected as out of scope is not proposed
//! again by later runs, on new paraphrases of the same topic, until the
//! exclusion is lifted. Real model, vendored BANKING77 subset, CLI commands.

use std::collections::{HashMap, HashSet};
use std::process::ExitCode;

use chrono::{DateTime, Duration, Utc};
use driftwatch::cli::exclusions::{self as exclusions_cmd, ExclusionsCmd};
use driftwatch::cli::proposals::{self as proposals_cmd, ProposalsCmd, TopicArg};
use driftwatch::ingest::{FieldMap, IngestConfig};
use driftwatch::jobs::{run_job, JobConfig, RunOptions, RunOutcome, SharedEmbedder};
use driftwatch::review::ProposalFilter;
use driftwatch::store::{NewGoldenExample, Proposal, Store, Verdict};
use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::common::TestDb;
use crate::quality::{answer, embedder, end, fixture};

const HELD_OUT: &str = "beneficiary_not_allowed";

async fn ingest(store: &Store, rows: &[(String, String)], tag: &str, at: DateTime<Utc>) {
    let map = FieldMap::new(&IngestConfig::default());
    let traces: Vec<_> = rows
        .iter()
        .enumerate()
        .map(|(i, (input, output))| {
            let rec = serde_json::json!({
                "id": format!("{tag}-{i}"),
                "ts": (at - Duration::seconds(10 + 60 * i as i64)).to_rfc3339(),
                "input": input, "output": output,
            });
            map.to_trace(&rec, "app").unwrap()
        })
        .collect();
    store.insert_traces(&traces).await.unwrap();
}

async fn run_at(store: &Store, at: DateTime<Utc>, embedder: &SharedEmbedder) -> RunOutcome {
    let mut j = JobConfig::adhoc("q", "g");
    j.window = "1d".parse().unwrap();
    j.sample_size = 2000;
    j.seed = 1;
    j.language_detection = false;
    j.semantic.outputs = false;
    let spec = j.check("q", std::path::Path::new(".")).unwrap();
    run_job(store, &spec, &RunOptions::at(at, Some(embedder.clone())))
        .await
        .unwrap()
}

async fn proposals_of(s: &Store, o: &RunOutcome) -> Vec<Proposal> {
    s.list_proposals(&ProposalFilter {
        run_id: Some(o.run_id),
        ..Default::default()
    })
    .await
    .unwrap()
}

async fn cli(store: &Store, cmd: ProposalsCmd) -> (ExitCode, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = proposals_cmd::run_cmd_with(store, cmd, &mut out, &mut err)
        .await
        .unwrap();
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

async fn exclusions(store: &Store, cmd: ExclusionsCmd) -> (ExitCode, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = exclusions_cmd::run_cmd_with(store, cmd, &mut out, &mut err)
        .await
        .unwrap();
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_excluded_topic_is_not_proposed_again_until_lifted() {
    let db = TestDb::sqlite().await;
    let s = db.store().await;
    let model = embedder();
    let qs = fixture();
    let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let mut by: HashMap<&str, Vec<&crate::quality::Q>> = HashMap::new();
    for q in &qs {
        by.entry(q.intent.as_str()).or_default().push(q);
    }
    let mut intents: Vec<&str> = by.keys().copied().collect();
    intents.sort_unstable();
    let (mut golden, mut covered, mut topic) = (Vec::new(), Vec::new(), Vec::new());
    for i in intents {
        let rows = by.get_mut(i).unwrap();
        rows.shuffle(&mut r);
        let pair = |q: &&crate::quality::Q| (q.text.clone(), answer(q));
        if i == HELD_OUT {
            topic.extend(rows.iter().map(pair));
        } else {
            golden.extend(rows.iter().take(40).map(pair));
            covered.extend(rows.iter().skip(40).take(30).map(pair));
        }
    }
    // Each window: the covered traffic, and half of the new topic's queries
    // (the second half are other wordings of it, never seen by run 1).
    let half = topic.len() / 2;
    let window = |part: &[(String, String)]| {
        let mut w: Vec<(String, String)> = covered.iter().chain(part).cloned().collect();
        w.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(
            part.len() as u64
        ));
        w
    };
    let g: Vec<NewGoldenExample> = golden
        .iter()
        .map(|(i, o)| NewGoldenExample {
            input: i.clone(),
            expected_output: o.clone(),
            tags: vec![],
            proposal_id: None,
        })
        .collect();
    driftwatch::golden::import(&s, "g", g, "test")
        .await
        .unwrap();
    let topic_first: HashSet<&str> = topic[..half].iter().map(|t| t.0.as_str()).collect();
    let topic_all: HashSet<&str> = topic.iter().map(|t| t.0.as_str()).collect();

    // Run 1: the new topic is a gap, and its traces are proposed.
    ingest(&s, &window(&topic[..half]), "w1", end()).await;
    let run1 = run_at(&s, end(), &model).await;
    let gap = run1
        .findings
        .iter()
        .find(|f| f.verdict == Verdict::Drifted && f.details.gap)
        .expect("run 1 finds the new topic");
    let gap_id = gap.details.gap_id.unwrap();
    let p1 = proposals_of(&s, &run1).await;
    assert!(
        p1.iter().any(|p| topic_first.contains(p.input.as_str())),
        "run 1 proposes from the topic: {p1:#?}"
    );

    // The data team rejects the whole topic from the CLI.
    let (code, out, err) = cli(
        &s,
        ProposalsCmd::Reject {
            ids: vec![],
            reason: "beneficiary rules are handled by the compliance bot".into(),
            cluster: Some(gap_id),
            job: Some("q".into()),
            run: None,
            topic: Some(TopicArg::CoveredElsewhere),
            by: Some("dana".into()),
            json: false,
        },
    )
    .await;
    assert_eq!(code, ExitCode::SUCCESS, "{out}{err}");
    assert!(out.contains("excluded topic"), "{out}");
    assert!(err.contains("driftwatch exclusions lift"), "{err}");
    let pending = s
        .list_proposals(&ProposalFilter {
            status: Some(driftwatch::review::ProposalStatus::Pending),
            cluster_id: Some(gap_id),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(pending.is_empty(), "the topic's proposals are rejected");
    let (_, listed, _) = exclusions(
        &s,
        ExclusionsCmd::List {
            job: None,
            all: false,
            json: true,
        },
    )
    .await;
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let x = &listed[0];
    assert_eq!(x["gap_id"], gap_id);
    assert_eq!(x["created_by"], "dana");
    assert_eq!(x["scope"], "covered_elsewhere");
    let exemplars = x["exemplars"].as_array().unwrap().len();
    assert!(
        exemplars >= 20,
        "the gap's members are its exemplars: {exemplars}"
    );
    let xid = x["id"].as_i64().unwrap();

    // Run 2, a day later, on the topic's other wordings: nothing from the
    // topic is proposed, and its gap says it is excluded instead of alerting.
    let day2 = end() + Duration::days(1);
    ingest(&s, &window(&topic[half..]), "w2", day2).await;
    let run2 = run_at(&s, day2, &model).await;
    let p2 = proposals_of(&s, &run2).await;
    let from_topic: Vec<&str> = p2
        .iter()
        .filter(|p| topic_all.contains(p.input.as_str()))
        .map(|p| p.input.as_str())
        .collect();
    assert!(
        from_topic.is_empty(),
        "excluded topic proposed again: {from_topic:?}\n{:#?}\n{:#?}",
        p2,
        run2.findings
            .iter()
            .filter(|f| f.details.gap)
            .map(|f| (
                &f.metric,
                f.verdict,
                &f.details.label,
                f.details.production_count,
                &f.details.excluded,
                f.details.gap_id
            ))
            .collect::<Vec<_>>()
    );
    let excluded: Vec<_> = run2
        .findings
        .iter()
        .filter(|f| f.details.gap && f.details.excluded.is_some())
        .collect();
    assert!(
        !excluded.is_empty(),
        "run 2's gap is marked excluded: {:#?}",
        run2.findings
            .iter()
            .filter(|f| f.details.gap)
            .collect::<Vec<_>>()
    );
    for f in &excluded {
        let n = driftwatch::notify::Finding::from(*f);
        assert!(!n.drifted, "an excluded gap alerts nobody");
        let text = f.change_text();
        assert!(
            text.contains("excluded by dana: beneficiary rules"),
            "{text}"
        );
    }
    // Coverage still counts the topic's traces as uncovered.
    let cov = run2
        .findings
        .iter()
        .find(|f| f.metric == "input.coverage")
        .unwrap();
    assert!(cov.statistic.unwrap() > 0.05, "{cov:?}");

    // Lifted, the topic is proposed again (by a third run on fresh traces of it).
    let (code, out, _) = exclusions(
        &s,
        ExclusionsCmd::Lift {
            id: xid,
            by: Some("lee".into()),
        },
    )
    .await;
    assert_eq!(code, ExitCode::SUCCESS);
    assert!(out.contains("lifted exclusion"), "{out}");
    let (code, _, err) = exclusions(
        &s,
        ExclusionsCmd::Lift {
            id: xid,
            by: Some("lee".into()),
        },
    )
    .await;
    assert_eq!(code, ExitCode::FAILURE);
    assert!(err.contains("already lifted by lee"), "{err}");
    let day3 = end() + Duration::days(2);
    ingest(&s, &window(&topic[half..]), "w3", day3).await;
    let run3 = run_at(&s, day3, &model).await;
    let p3 = proposals_of(&s, &run3).await;
    assert!(
        p3.iter().any(|p| topic_all.contains(p.input.as_str())),
        "after the lift the topic is proposed again: {p3:#?}"
    );
    assert!(run3.findings.iter().all(|f| f.details.excluded.is_none()));
}
