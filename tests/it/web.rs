//! The review page: auth, CSRF, conflicts and escaping over plain HTTP against
//! the router in-process (both backends), and the whole loop in headless
//! Chromium against the real `driftwatch serve` binary.

use std::time::Duration;

use driftwatch::review::{ProposalFilter, ProposalStatus};
use driftwatch::store::{
    EnsembleVerdict, GoldenChange, NewGoldenExample, NewLabel, Proposal, Provenance, Store,
};
use driftwatch::web::{router, Account, Role, WebState};
use serde_json::json;

use crate::both_backends;
use crate::common::{bin, queue_proposals, ProposalItem, TestDb};

const SET: &str = "support";
const JOB: &str = "support-drift";
const ALICE: &str = "alice-token-0123456789abcdef";
const BOB: &str = "bob-token-0123456789abcdef";
const VIEWER: &str = "viewer-token-0123456789abcdef";
const XSS: &str = "<script>alert('xss')</script> can I get a VAT invoice";

/// One run with two ranked gap clusters and six pending proposals.
pub struct Fixture {
    pub run: i64,
    /// Cluster 1 "refund late order": a, b, c.
    pub a: Proposal,
    pub b: Proposal,
    pub c: Proposal,
    /// Cluster 2 "invoice vat": d, e (e's input is a script tag).
    pub d: Proposal,
    pub e: Proposal,
    /// An outlier.
    pub f: Proposal,
}

fn golden(input: &str, expected: &str) -> NewGoldenExample {
    NewGoldenExample {
        input: input.into(),
        expected_output: expected.into(),
        tags: vec![],
        proposal_id: None,
    }
}

fn answer(intent: &str, text: &str) -> String {
    json!({"intent": intent, "answer": text, "confidence": 0.7}).to_string()
}

/// The run summary an analysis with a semantic stage records (the parts the
/// pages read), so the test needs no embedding model.
fn summary() -> serde_json::Value {
    json!({
        "golden_set": SET, "golden_version": 1, "golden_examples": 2,
        "window_start": "2026-11-21T00:00:00Z", "window_end": "2026-11-22T00:00:00Z",
        "window_traces": 3000, "sampled": 2000, "tested": 24, "skipped": 0, "drifted": 0,
        "semantic": {
            "model_id": "test", "embedding_cache": {"hits": 0, "misses": 2000},
            "coverage": 0.81, "coverage_threshold": 0.62, "q": 0.05, "k": 7,
            "gap_clusters": 2, "outliers": 3, "proposals": 6,
            "clusters": [
                {"cluster": 0, "label": "password reset", "golden_count": 40, "production_count": 300,
                 "uncovered_count": 12, "gap_ratio": 0.04, "gap_lower": 0.01, "verdict": "Covered", "gap_rank": null,
                 "examples": ["how do I reset my password"]},
                {"cluster": 2, "label": "invoice vat", "golden_count": 3, "production_count": 90,
                 "uncovered_count": 51, "gap_ratio": 0.57, "gap_lower": 0.41, "verdict": "Gap", "gap_rank": 2,
                 "examples": ["can I get a VAT invoice", XSS]},
                {"cluster": 1, "label": "refund late order", "golden_count": 0, "production_count": 160,
                 "uncovered_count": 150, "gap_ratio": 0.94, "gap_lower": 0.88, "verdict": "Gap", "gap_rank": 1,
                 "examples": ["where is my refund", "refund not received yet"]}
            ],
            "map": []
        }
    })
}

/// A proposal to queue: input, production output, (cluster id, label).
type Item<'a> = (&'a str, String, Option<(i64, &'a str)>);

pub async fn fixture(s: &Store) -> Fixture {
    s.apply_golden_change(
        SET,
        &GoldenChange {
            description: "import".into(),
            add: vec![
                golden(
                    "how do I reset my password",
                    &answer("account", "Use the reset link on the login page."),
                ),
                golden(
                    "what are your opening hours",
                    &answer("hours", "9 to 5, Monday to Friday."),
                ),
            ],
            archive: vec![],
        },
    )
    .await
    .unwrap();
    let golden_id = s.golden_examples(SET, None).await.unwrap()[0].id;
    let run = s.start_run(JOB).await.unwrap();
    // Stored as an earlier version wrote it: the typed summary reads it.
    let stored = serde_json::from_value(summary()).unwrap();
    s.finish_run(run, &stored, &[]).await.unwrap();
    let refund = Some((1, "refund late order"));
    let invoice = Some((2, "invoice vat"));
    let items: Vec<Item> = vec![
        (
            "where is my refund",
            answer("refund", "Refunds take 5 days."),
            refund,
        ),
        (
            "refund not received yet",
            answer("refund", "Please wait."),
            refund,
        ),
        (
            "money back for a broken kettle",
            answer("refund", "Send it back."),
            refund,
        ),
        (
            "can I get a VAT invoice",
            answer("billing", "Yes, from your account page."),
            invoice,
        ),
        (XSS, "<img src=x onerror=alert(1)>".into(), invoice),
        ("tell me a joke", answer("other", "No."), None),
    ];
    let items: Vec<ProposalItem> = items
        .iter()
        .map(|(input, output, cluster)| (*input, output.as_str(), *cluster))
        .collect();
    queue_proposals(s, run, (JOB, SET), &items, golden_id, true).await;
    let all = s.list_proposals(&ProposalFilter::default()).await.unwrap();
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
    }
}

fn accounts() -> Vec<Account> {
    vec![
        Account {
            name: "alice".into(),
            role: Role::Reviewer,
            token: ALICE.into(),
        },
        Account {
            name: "bob".into(),
            role: Role::Reviewer,
            token: BOB.into(),
        },
        Account {
            name: "vic".into(),
            role: Role::Viewer,
            token: VIEWER.into(),
        },
    ]
}

/// The page routes on 127.0.0.1:0 behind the daemon's HTTP edge
/// (`http::serve_on`); returns the base URL and a shutdown handle.
async fn start(store: Store, accounts: Vec<Account>) -> (String, tokio::sync::oneshot::Sender<()>) {
    start_with(WebState::new(
        store,
        accounts,
        Duration::from_secs(3600),
        false,
    ))
    .await
}

async fn start_with(state: WebState) -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(driftwatch::http::serve_on(
        listener,
        router(state),
        driftwatch::http::Limits::default(),
        async {
            let _ = rx.await;
        },
    ));
    (format!("http://{addr}"), tx)
}

/// A cookie-carrying HTTP client that does not follow redirects.
struct Visitor {
    c: reqwest::Client,
    base: String,
    cookie: Option<String>,
}

struct Page {
    status: u16,
    body: String,
    location: Option<String>,
}

impl Page {
    /// The CSRF token embedded in the page's forms.
    fn csrf(&self) -> String {
        let at = self
            .body
            .find("name='csrf' value='")
            .expect("a form with a CSRF token");
        self.body[at + 19..at + 19 + 64].to_string()
    }
}

impl Visitor {
    fn new(base: &str) -> Visitor {
        Visitor {
            c: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: base.into(),
            cookie: None,
        }
    }

    async fn page(&self, r: reqwest::RequestBuilder) -> Page {
        let r = match &self.cookie {
            Some(c) => r.header("cookie", c),
            None => r,
        };
        let resp = r.send().await.unwrap();
        let location = resp
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_string());
        Page {
            status: resp.status().as_u16(),
            location,
            body: resp.text().await.unwrap(),
        }
    }

    async fn get(&self, path: &str) -> Page {
        self.page(self.c.get(format!("{}{path}", self.base))).await
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        self.page(self.c.post(format!("{}{path}", self.base)).form(form))
            .await
    }

    /// Signs in; panics unless the server set a session cookie.
    async fn login(base: &str, token: &str) -> Visitor {
        let mut v = Visitor::new(base);
        let resp =
            v.c.post(format!("{base}/login"))
                .form(&[("token", token), ("next", "/review")])
                .send()
                .await
                .unwrap();
        assert_eq!(resp.status(), 303, "sign-in with a good token");
        let set = resp.headers()["set-cookie"].to_str().unwrap().to_string();
        assert!(
            set.contains("HttpOnly") && set.contains("SameSite=Strict"),
            "{set}"
        );
        v.cookie = Some(set.split(';').next().unwrap().to_string());
        v
    }
}

async fn all_pending(s: &Store) -> bool {
    s.list_proposals(&ProposalFilter::default())
        .await
        .unwrap()
        .iter()
        .all(|p| p.status == "pending")
}

async fn refuses_unauthenticated_and_forged_requests(db: TestDb) {
    let s = db.store().await;
    let fx = fixture(&s).await;
    let (base, _stop) = start(db.store().await, accounts()).await;
    let accept = format!("/review/proposals/{}/accept", fx.a.id);
    let reject = format!("/review/proposals/{}/reject", fx.a.id);
    let skip = format!("/review/proposals/{}/skip", fx.a.id);
    let reopen = format!("/review/proposals/{}/reopen", fx.a.id);

    // Not signed in: pages redirect to sign-in, actions are refused.
    let anon = Visitor::new(&base);
    let run_page = format!("/runs/{}", fx.run);
    let detail = format!("/review/proposals/{}", fx.a.id);
    for path in ["/review", "/runs", run_page.as_str(), detail.as_str()] {
        let p = anon.get(path).await;
        assert_eq!(p.status, 303, "{path}");
        assert!(p.location.unwrap().starts_with("/login?next="), "{path}");
        assert!(!p.body.contains("refund"), "{path} leaks nothing");
    }
    for (path, form) in [
        (accept.as_str(), vec![("expected_output", "x")]),
        (reject.as_str(), vec![("reason", "r")]),
        (
            "/review/clusters/accept",
            vec![("job", JOB), ("cluster", "1")],
        ),
        (
            "/review/clusters/reject",
            vec![("job", JOB), ("cluster", "1"), ("reason", "r")],
        ),
        (skip.as_str(), vec![]),
        (reopen.as_str(), vec![]),
        (
            "/review/exclusions",
            vec![
                ("job", JOB),
                ("cluster", "1"),
                ("scope", "out_of_scope"),
                ("reason", "r"),
            ],
        ),
        ("/review/exclusions/1/lift", vec![]),
    ] {
        assert_eq!(anon.post(path, &form).await.status, 401, "{path}");
    }
    assert_eq!(anon.get("/review/exclusions").await.status, 303);
    // A wrong token is refused and sets no cookie.
    let r = anon
        .post("/login", &[("token", "alice-token-0123456789abcdeX")])
        .await;
    assert_eq!(r.status, 401);
    assert!(r.body.contains("Unknown token"));
    // A made-up session cookie is no session.
    let mut forged = Visitor::new(&base);
    forged.cookie = Some(format!("dw_session={}", "0".repeat(64)));
    assert_eq!(forged.get("/review").await.status, 303);
    assert_eq!(forged.post(&reject, &[("reason", "r")]).await.status, 401);

    // Signed in, but the POST lacks the CSRF token or carries a wrong one.
    let alice = Visitor::login(&base, ALICE).await;
    let page = alice.get("/review").await;
    assert_eq!(page.status, 200);
    let csrf = page.csrf();
    let p = alice.post(&reject, &[("reason", "forged")]).await;
    assert_eq!(p.status, 403, "no CSRF token");
    assert!(p.body.contains("CSRF"));
    let wrong = "f".repeat(64);
    for (path, form) in [
        (
            accept.as_str(),
            vec![("csrf", wrong.as_str()), ("expected_output", "x")],
        ),
        (
            reject.as_str(),
            vec![("csrf", wrong.as_str()), ("reason", "r")],
        ),
        (
            "/review/clusters/accept",
            vec![("csrf", wrong.as_str()), ("job", JOB), ("cluster", "1")],
        ),
        (
            "/review/clusters/reject",
            vec![
                ("csrf", ""),
                ("job", JOB),
                ("cluster", "1"),
                ("reason", "r"),
            ],
        ),
        (skip.as_str(), vec![("csrf", wrong.as_str())]),
        (reopen.as_str(), vec![("csrf", wrong.as_str())]),
        (
            "/review/exclusions",
            vec![
                ("csrf", wrong.as_str()),
                ("job", JOB),
                ("cluster", "1"),
                ("scope", "out_of_scope"),
                ("reason", "r"),
            ],
        ),
    ] {
        assert_eq!(alice.post(path, &form).await.status, 403, "{path}");
    }
    // Another session's CSRF token is wrong for this one.
    let bob = Visitor::login(&base, BOB).await;
    let bob_csrf = bob.get("/review").await.csrf();
    assert_ne!(bob_csrf, csrf);
    assert_eq!(
        alice
            .post(&reject, &[("csrf", bob_csrf.as_str()), ("reason", "r")])
            .await
            .status,
        403
    );
    // The right token from a foreign origin is refused too.
    let cross = alice
        .page(
            alice
                .c
                .post(format!("{base}{reject}"))
                .header("origin", "http://evil.example")
                .form(&[("csrf", csrf.as_str()), ("reason", "r")]),
        )
        .await;
    assert_eq!(cross.status, 403);

    // A viewer sees the pages without action forms, and may not act.
    let vic = Visitor::login(&base, VIEWER).await;
    let vpage = vic.get("/review").await;
    assert_eq!(vpage.status, 200);
    assert!(vpage.body.contains("where is my refund"));
    assert!(
        !vpage.body.contains("class='accept'"),
        "no accept form for a viewer"
    );
    assert!(vpage.body.contains("Read-only"));
    let vcsrf = vpage.csrf(); // the sign-out form
    let p = vic
        .post(
            &accept,
            &[("csrf", vcsrf.as_str()), ("expected_output", "x")],
        )
        .await;
    assert_eq!(p.status, 403);
    assert!(p.body.contains("viewer"));
    for (path, form) in [
        (
            "/review/exclusions",
            vec![
                ("csrf", vcsrf.as_str()),
                ("job", JOB),
                ("cluster", "1"),
                ("scope", "out_of_scope"),
                ("reason", "r"),
            ],
        ),
        (skip.as_str(), vec![("csrf", vcsrf.as_str())]),
    ] {
        assert_eq!(vic.post(path, &form).await.status, 403, "{path}");
    }
    assert!(s.exclusions(None, true).await.unwrap().is_empty());

    assert!(all_pending(&s).await, "nothing was decided");
    assert_eq!(
        s.latest_golden_version(SET).await.unwrap().unwrap().version,
        1
    );

    // With the token, the same action works; signing out ends the session.
    let ok = alice
        .post(&reject, &[("csrf", csrf.as_str()), ("reason", "off topic")])
        .await;
    assert_eq!(ok.status, 303);
    assert_eq!(ok.location.as_deref(), Some("/review"));
    let after = alice.get("/review").await;
    assert!(after.body.contains("rejected #"), "flash: {}", after.body);
    assert_eq!(
        alice
            .post("/logout", &[("csrf", csrf.as_str())])
            .await
            .status,
        303
    );
    assert_eq!(alice.get("/review").await.status, 303);
}
both_backends!(web_refuses_unauthenticated_and_forged_sqlite, web_refuses_unauthenticated_and_forged_postgres => refuses_unauthenticated_and_forged_requests);

async fn second_reviewer_gets_a_conflict(db: TestDb) {
    let s = db.store().await;
    let fx = fixture(&s).await;
    let (base, _stop) = start(db.store().await, accounts()).await;
    let alice = Visitor::login(&base, ALICE).await;
    let bob = Visitor::login(&base, BOB).await;
    // Both have the page open with the proposal pending.
    let a_csrf = alice.get("/review").await.csrf();
    let b_csrf = bob.get("/review").await.csrf();

    let edited = "{\"intent\": \"refund\", \"answer\": \"Refunds arrive within 5 business days.\"}";
    let path = format!("/review/proposals/{}/accept", fx.a.id);
    let r = alice
        .post(
            &path,
            &[
                ("csrf", a_csrf.as_str()),
                ("expected_output", edited),
                ("next", "/review?job=support-drift"),
            ],
        )
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(r.location.as_deref(), Some("/review?job=support-drift"));

    let r = bob
        .post(
            &format!("/review/proposals/{}/reject", fx.a.id),
            &[("csrf", b_csrf.as_str()), ("reason", "dup")],
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(
        r.body.contains(&format!(
            "proposal {} was already accepted by alice",
            fx.a.id
        )),
        "{}",
        r.body
    );
    let r = bob
        .post(
            &path,
            &[("csrf", b_csrf.as_str()), ("expected_output", "other")],
        )
        .await;
    assert_eq!(r.status, 409);

    // The first decision stands.
    let a = s.get_proposal(fx.a.id).await.unwrap();
    assert_eq!(
        (a.status.as_str(), a.decided_by.as_deref()),
        ("accepted", Some("alice"))
    );
    assert_eq!(a.expected_output.as_deref(), Some(edited));
    let v = s.latest_golden_version(SET).await.unwrap().unwrap();
    assert_eq!((v.version, v.active_count), (2, 3));

    // Unknown proposal: 404; empty reason: 400, nothing written.
    let r = bob
        .post(
            "/review/proposals/999999/reject",
            &[("csrf", b_csrf.as_str()), ("reason", "x")],
        )
        .await;
    assert_eq!(r.status, 404);
    let r = bob
        .post(
            &format!("/review/proposals/{}/reject", fx.b.id),
            &[("csrf", b_csrf.as_str()), ("reason", "  ")],
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(s.get_proposal(fx.b.id).await.unwrap().status, "pending");

    // Bulk per cluster: bob rejects cluster 2 of the run; the unchanged
    // textarea of an accept means "use the production output".
    let run_id = fx.run.to_string();
    let r = bob
        .post(
            "/review/clusters/reject",
            &[
                ("csrf", b_csrf.as_str()),
                ("job", JOB),
                ("cluster", "2"),
                ("run", run_id.as_str()),
                ("reason", "billing is out of scope"),
            ],
        )
        .await;
    assert_eq!(r.status, 303);
    for id in [fx.d.id, fx.e.id] {
        let p = s.get_proposal(id).await.unwrap();
        assert_eq!(
            (
                p.status.as_str(),
                p.decided_by.as_deref(),
                p.reason.as_deref()
            ),
            ("rejected", Some("bob"), Some("billing is out of scope"))
        );
    }
    let crlf = fx.c.output.replace('\n', "\r\n");
    // Unchanged text is the production output, accepted only when the
    // reviewer ticks that it is correct: without the tick nothing is written.
    let r = bob
        .post(
            &format!("/review/proposals/{}/accept", fx.c.id),
            &[
                ("csrf", b_csrf.as_str()),
                ("expected_output", crlf.as_str()),
            ],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("production output unchanged"), "{}", r.body);
    assert_eq!(s.get_proposal(fx.c.id).await.unwrap().status, "pending");
    let r = bob
        .post(
            "/review/clusters/accept",
            &[
                ("csrf", b_csrf.as_str()),
                ("job", JOB),
                ("cluster", "1"),
                ("run", run_id.as_str()),
            ],
        )
        .await;
    assert_eq!(
        r.status, 400,
        "bulk accept of production outputs needs the tick too"
    );
    assert_eq!(s.get_proposal(fx.c.id).await.unwrap().status, "pending");
    let r = bob
        .post(
            &format!("/review/proposals/{}/accept", fx.c.id),
            &[
                ("csrf", b_csrf.as_str()),
                ("expected_output", crlf.as_str()),
                ("confirm_output", "1"),
            ],
        )
        .await;
    assert_eq!(r.status, 303);
    let c = s.get_proposal(fx.c.id).await.unwrap();
    assert_eq!(c.status, "accepted");
    assert_eq!(
        c.expected_output.as_deref(),
        Some(fx.c.output.as_str()),
        "unchanged text (CRLF from the browser) = the production output as is"
    );
    assert_eq!(s.get_proposal(fx.f.id).await.unwrap().status, "pending");
}
both_backends!(web_second_reviewer_gets_a_conflict_sqlite, web_second_reviewer_gets_a_conflict_postgres => second_reviewer_gets_a_conflict);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_pages_escape_production_text_and_rank_gaps() {
    let db = TestDb::sqlite().await;
    let s = db.store().await;
    let fx = fixture(&s).await;
    let (base, _stop) = start(db.store().await, accounts()).await;
    let alice = Visitor::login(&base, ALICE).await;
    let page = alice.get("/review").await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("<script>alert"), "script tag escaped");
    assert!(!page.body.contains("<img src=x"), "output escaped");
    // minijinja's escaper: quotes and slashes as hexadecimal references.
    assert!(
        page.body
            .contains("&lt;script&gt;alert(&#x27;xss&#x27;)&lt;&#x2f;script&gt;"),
        "{}",
        page.body
    );
    assert!(page.body.contains("&lt;img src=x onerror=alert(1)&gt;"));
    // Gap clusters ranked by gap score: refund (0.88) before invoice (0.41);
    // the covered cluster is not listed.
    let refund = page.body.find("refund late order").unwrap();
    let invoice = page.body.find("invoice vat").unwrap();
    assert!(refund < invoice);
    assert!(!page.body.contains("password reset</b>"));
    // Cluster view: its proposals only, with bulk actions.
    let cl = alice
        .get(&format!("/review?job={JOB}&run={}&cluster=1", fx.run))
        .await;
    assert!(cl.body.contains("Accept all 3 pending"));
    assert!(cl.body.contains("where is my refund") && !cl.body.contains("tell me a joke"));
    // Status filter.
    let none = alice.get("/review?status=accepted").await;
    assert!(none.body.contains("No proposals match"));
    // Detail page and runs.
    let d = alice.get(&format!("/review/proposals/{}", fx.e.id)).await;
    assert_eq!(d.status, 200);
    assert!(!d.body.contains("<script>alert"));
    assert!(d.body.contains("Other proposals of this cluster (1)"));
    let runs = alice.get("/runs").await;
    assert!(runs.body.contains(&format!("/runs/{}", fx.run)));
    assert!(
        runs.body.contains("class='b drifted'"),
        "a run with gaps gets a drift badge"
    );
    let rep = alice.get(&format!("/runs/{}", fx.run)).await;
    assert_eq!(rep.status, 200);
    assert!(rep.body.contains(&format!("driftwatch — run {}", fx.run)));
    assert!(rep.body.contains("Gap clusters, ranked"));
    assert_eq!(alice.get("/runs/999999").await.status, 404);
    // A sign-in link that points elsewhere is not followed.
    let r = Visitor::new(&base)
        .post("/login", &[("token", ALICE), ("next", "//evil.example/")])
        .await;
    assert_eq!(r.location.as_deref(), Some("/review"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_is_disabled_without_accounts() {
    let db = TestDb::sqlite().await;
    let (base, _stop) = start(db.store().await, vec![]).await;
    let v = Visitor::new(&base);
    for path in ["/review", "/login", "/runs", "/runs/1"] {
        let p = v.get(path).await;
        assert_eq!(p.status, 404, "{path}");
        assert!(p.body.contains("[review]"));
    }
    assert_eq!(v.post("/login", &[("token", ALICE)]).await.status, 404);
}

/// A child process killed when dropped.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn wait_http(url: &str, what: &str) {
    let c = reqwest::Client::new();
    for _ in 0..200 {
        if let Ok(r) = c.get(url).send().await {
            if r.status().is_success() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} did not come up at {url}");
}

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

async fn screenshot(c: &fantoccini::Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), png).unwrap();
}

/// The whole loop as a reviewer sees it: sign in, open the top gap cluster,
/// accept one proposal with an edited expected output, reject one (with the
/// keyboard), and the golden set has a new version with the accepted example.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_review_loop_in_headless_chromium() {
    use fantoccini::{ClientBuilder, Locator};

    assert!(
        std::path::Path::new(CHROMEDRIVER).exists() && std::path::Path::new(CHROMIUM).exists(),
        "{CHROMEDRIVER} and {CHROMIUM} are required for the browser test: run scripts/ensure-chromium.sh (scripts/test.sh does)"
    );
    let db = TestDb::sqlite().await;
    let s = db.store().await;
    let fx = fixture(&s).await;

    // The real daemon, configured as a user would.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("alice-token"), format!("{ALICE}\n")).unwrap();
    std::fs::write(dir.path().join("ingest-token"), "ingest-token-0123456789\n").unwrap();
    let port = free_port();
    let cfg = dir.path().join("driftwatch.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nbind = \"127.0.0.1:{port}\"\ntoken_file = \"ingest-token\"\n\n[review]\nreviewers = [{{ name = \"alice\", token_file = \"alice-token\" }}]\n"
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.path().join("serve.log")).unwrap();
    let _server = Child(
        std::process::Command::new(bin())
            .args([
                "--config",
                cfg.to_str().unwrap(),
                "--database",
                &db.url,
                "serve",
            ])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{port}");
    wait_http(&format!("{base}/healthz"), "driftwatch serve").await;

    let wd_port = free_port();
    let _driver = Child(
        std::process::Command::new(CHROMEDRIVER)
            .arg(format!("--port={wd_port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("chromedriver starts"),
    );
    wait_http(
        &format!("http://127.0.0.1:{wd_port}/status"),
        "chromedriver",
    )
    .await;
    let profile = tempfile::tempdir().unwrap();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,1100",
                format!("--user-data-dir={}", profile.path().display()),
            ]
        }),
    );
    let c = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{wd_port}"))
        .await
        .expect("a Chromium session");

    // Sign in: the review page sends us to the sign-in form and back.
    c.goto(&format!("{base}/review")).await.unwrap();
    assert_eq!(c.current_url().await.unwrap().path(), "/login");
    c.find(Locator::Id("token"))
        .await
        .unwrap()
        .send_keys(ALICE)
        .await
        .unwrap();
    c.find(Locator::Id("signin"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait().for_element(Locator::Id("gaps")).await.unwrap();
    assert_eq!(c.current_url().await.unwrap().path(), "/review");
    screenshot(&c, "review-overview.png").await;

    // Open the top-ranked gap cluster.
    let top = c.find(Locator::Css("#gaps a.cluster")).await.unwrap();
    assert_eq!(top.text().await.unwrap(), "refund late order");
    top.click().await.unwrap();
    c.wait().for_element(Locator::Id("cluster")).await.unwrap();
    let url = c.current_url().await.unwrap();
    assert!(url.query().unwrap().contains("cluster=1"), "{url}");

    // Accept proposal a with an edited expected output.
    let edited = "{\"intent\": \"refund\", \"answer\": \"Refunds arrive within 5 business days.\"}";
    let area = c
        .find(Locator::Css(&format!("#p{} form.accept textarea", fx.a.id)))
        .await
        .unwrap();
    area.clear().await.unwrap();
    area.send_keys(edited).await.unwrap();
    c.find(Locator::Css(&format!("#p{} form.accept button", fx.a.id)))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let flash = c
        .wait()
        .for_element(Locator::Id("flash"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        flash.contains(&format!("accepted #{} by alice", fx.a.id)),
        "{flash}"
    );
    assert!(flash.contains("version 2"), "{flash}");

    // Reject proposal b with the keyboard: it is now the first card, selected;
    // `r` focuses the reason field, Enter submits.
    let first = c.find(Locator::Css(".proposal.cur")).await.unwrap();
    assert_eq!(
        first.attr("data-id").await.unwrap(),
        Some(fx.b.id.to_string())
    );
    c.find(Locator::Css("body"))
        .await
        .unwrap()
        .send_keys("r")
        .await
        .unwrap();
    let active = c.active_element().await.unwrap();
    assert_eq!(
        active.attr("name").await.unwrap().as_deref(),
        Some("reason")
    );
    let b_card = format!("#p{}", fx.b.id);
    active
        .send_keys("duplicate of an existing topic\u{E007}")
        .await
        .unwrap();
    let gone = Locator::Css(&b_card);
    for _ in 0..100 {
        if c.find(gone).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        c.find(gone).await.is_err(),
        "proposal b left the pending list"
    );
    let flash = c
        .find(Locator::Id("flash"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        flash.contains(&format!("rejected #{} by alice", fx.b.id)),
        "{flash}"
    );
    screenshot(&c, "review-page.png").await;

    // Search: `/` focuses the search field, Enter filters the list (any case).
    c.find(Locator::Css("body"))
        .await
        .unwrap()
        .send_keys("/")
        .await
        .unwrap();
    let q = c.active_element().await.unwrap();
    assert_eq!(q.attr("id").await.unwrap().as_deref(), Some("search"));
    q.send_keys("KETTLE\u{E007}").await.unwrap();
    for _ in 0..100 {
        if c.current_url()
            .await
            .unwrap()
            .query()
            .unwrap_or("")
            .contains("q=KETTLE")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let found = c.find_all(Locator::Css(".proposal")).await.unwrap();
    assert_eq!(found.len(), 1, "one proposal mentions a kettle");
    assert_eq!(
        found[0].attr("data-id").await.unwrap(),
        Some(fx.c.id.to_string())
    );

    // Skip: `s` on the first pending card lists it after the others.
    c.goto(&format!("{base}/review")).await.unwrap();
    let first = c.find(Locator::Css(".proposal.cur")).await.unwrap();
    assert_eq!(
        first.attr("data-id").await.unwrap(),
        Some(fx.c.id.to_string())
    );
    c.find(Locator::Css("body"))
        .await
        .unwrap()
        .send_keys("s")
        .await
        .unwrap();
    let flash = wait_flash(&c, "skipped").await;
    assert!(flash.contains(&format!("skipped #{}", fx.c.id)), "{flash}");
    let cards = c.find_all(Locator::Css(".proposal")).await.unwrap();
    let last = cards.last().unwrap();
    assert_eq!(
        last.attr("data-id").await.unwrap(),
        Some(fx.c.id.to_string())
    );
    assert!(last.text().await.unwrap().contains("skipped"));

    // The accepted proposal shows what the reviewer changed, side by side,
    // and the decision can be undone.
    c.goto(&format!("{base}/review?status=accepted"))
        .await
        .unwrap();
    let removed = c
        .find(Locator::Css(&format!("#p{} .diff del", fx.a.id)))
        .await
        .expect("removed words marked");
    assert!(!removed.text().await.unwrap().is_empty());
    c.find(Locator::Css(&format!("#p{} .diff ins", fx.a.id)))
        .await
        .expect("added words marked");
    screenshot(&c, "review-diff.png").await;
    c.find(Locator::Css(&format!("#p{} form.reopen button", fx.a.id)))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let flash = wait_flash(&c, "reopened").await;
    assert!(
        flash.contains(&format!("reopened #{} by alice", fx.a.id)),
        "{flash}"
    );
    assert!(flash.contains("version 3"), "{flash}");

    // Exclude the invoice topic from its gap's page, see it listed, lift it.
    c.goto(&format!("{base}/review?job={JOB}&cluster=2"))
        .await
        .unwrap();
    c.find(Locator::Css("#cluster form.exclude input[name=reason]"))
        .await
        .unwrap()
        .send_keys("billing has its own assistant")
        .await
        .unwrap();
    c.find(Locator::Css("#cluster form.exclude button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let flash = wait_flash(&c, "excluded").await;
    assert!(flash.contains("2 pending proposals rejected"), "{flash}");
    c.goto(&format!("{base}/review/exclusions")).await.unwrap();
    let table = c.find(Locator::Id("exclusions")).await.unwrap();
    assert!(table
        .text()
        .await
        .unwrap()
        .contains("billing has its own assistant"));
    screenshot(&c, "review-exclusions.png").await;
    c.find(Locator::Css("#exclusions form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let flash = wait_flash(&c, "lifted").await;
    assert!(flash.contains("lifted by alice"), "{flash}");

    // The LLM ensemble's pre-labels, recorded as a pre-labelling pass does
    // (tests/it/ensemble.rs asks real chat servers): the models agree on an
    // answer for a, and disagree on f, which is therefore listed first.
    let agreed = "{\"intent\": \"refund\", \"answer\": \"Your refund is on its way.\"}";
    let label = |model: &str, output: &str| NewLabel {
        model: model.into(),
        output: Some(output.into()),
        error: None,
        prompt_tokens: Some(120),
        completion_tokens: Some(20),
        latency_ms: Some(300),
    };
    s.record_labels(
        fx.a.id,
        &[
            label("m1", agreed),
            label("m2", agreed),
            label("m3", "{\"intent\": \"other\"}"),
        ],
        &EnsembleVerdict {
            agrees: true,
            output: Some(agreed.into()),
            share: 2.0 / 3.0,
        },
    )
    .await
    .unwrap();
    s.record_labels(
        fx.f.id,
        &[
            label("m1", "{\"intent\": \"joke\"}"),
            label("m2", "{\"intent\": \"other\"}"),
        ],
        &EnsembleVerdict {
            agrees: false,
            output: Some("{\"intent\": \"joke\"}".into()),
            share: 0.5,
        },
    )
    .await
    .unwrap();
    c.goto(&format!("{base}/review?job={JOB}")).await.unwrap();
    let first = c.find(Locator::Css(".proposal")).await.unwrap();
    assert_eq!(
        first.attr("data-id").await.unwrap(),
        Some(fx.f.id.to_string()),
        "where the models disagree comes first"
    );
    assert!(first.text().await.unwrap().contains("ensemble disagrees"));
    screenshot(&c, "review-ensemble.png").await;
    c.find(Locator::Css("form.ensemble-accept button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let flash = wait_flash(&c, "accepted").await;
    assert!(
        flash.contains(&format!("accepted #{} by alice", fx.a.id)),
        "{flash}"
    );
    assert!(!flash.contains(&format!("#{}", fx.f.id)), "{flash}");

    // The run's HTML report in the browser.
    c.goto(&format!("{base}/runs/{}", fx.run)).await.unwrap();
    c.wait().for_element(Locator::Css("h1")).await.unwrap();
    screenshot(&c, "report-page.png").await;
    c.close().await.unwrap();

    // The store: a new golden version with the accepted example as edited, and
    // the rejection with its reason and reviewer.
    let v = s.latest_golden_version(SET).await.unwrap().unwrap();
    assert_eq!(
        (v.version, v.active_count),
        (4, 3),
        "v2 added the accepted example, v3 (the undo) archived it, v4 took the ensemble's answer"
    );
    let now = s.golden_examples(SET, None).await.unwrap();
    let a_now: Vec<_> = now
        .iter()
        .filter(|g| g.proposal_id == Some(fx.a.id))
        .collect();
    assert_eq!(a_now.len(), 1);
    assert_eq!(a_now[0].expected_output, agreed);
    let g = s.golden_examples(SET, Some(2)).await.unwrap();
    let added = g
        .iter()
        .find(|g| g.proposal_id == Some(fx.a.id))
        .expect("accepted example in v2");
    assert_eq!(added.input, fx.a.input);
    assert_eq!(added.expected_output, edited);
    assert_eq!(added.provenance, Provenance::AcceptedProposal);
    assert_eq!(added.version_added, 2);
    let b = s.get_proposal(fx.b.id).await.unwrap();
    assert_eq!(
        (
            b.status.as_str(),
            b.reason.as_deref(),
            b.decided_by.as_deref()
        ),
        (
            "rejected",
            Some("duplicate of an existing topic"),
            Some("alice")
        )
    );
    let pending = s
        .list_proposals(&ProposalFilter {
            status: Some(ProposalStatus::Pending),
            ..ProposalFilter::default()
        })
        .await
        .unwrap();
    // c (skipped) and f (the ensemble disagreed); d and e went with their
    // topic, a was accepted again with the ensemble's answer.
    let mut ids: Vec<i64> = pending.iter().map(|p| p.id).collect();
    ids.sort_unstable();
    assert_eq!(ids, vec![fx.c.id, fx.f.id]);
    assert_eq!(s.exclusions(None, false).await.unwrap().len(), 0, "lifted");
    assert_eq!(s.exclusions(None, true).await.unwrap().len(), 1);
}

/// The flash message once it mentions `what`.
async fn wait_flash(c: &fantoccini::Client, what: &str) -> String {
    let mut last = String::new();
    for _ in 0..100 {
        if let Ok(f) = c.find(fantoccini::Locator::Id("flash")).await {
            last = f.text().await.unwrap_or_default();
            if last.contains(what) {
                return last;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no flash mentioning {what:?}; last: {last:?}");
}

/// `/login` counts unknown tokens per client address: after ten in a minute even
/// a good token is refused with 429, so tokens cannot be guessed at speed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_unknown_tokens_at_login_are_refused() {
    let db = TestDb::sqlite().await;
    let (base, _stop) = start(db.store().await, accounts()).await;
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = |token: &'static str| {
        c.post(format!("{base}/login"))
            .form(&[("token", token), ("next", "/review")])
            .send()
    };
    for _ in 0..10 {
        assert_eq!(login("not-a-token-of-anyone").await.unwrap().status(), 401);
    }
    assert_eq!(login(ALICE).await.unwrap().status(), 429);
}

/// Viewer accounts see production and golden texts as `[review]
/// viewer_examples` says (redacted by default, or not at all) on the review
/// pages and the served run report; reviewers, who decide on them, see them whole.
#[tokio::test]
async fn viewers_see_example_texts_redacted() {
    use driftwatch::notify::ExamplesPolicy;
    use driftwatch::store::{Finding, FindingKind, Verdict};
    let db = TestDb::sqlite().await;
    let s = db.store().await;
    let f = fixture(&s).await;
    const PII: &str = "my card 4111 1111 1111 1111 was charged twice, mail jane.doe@example.com";
    let golden_id = s.golden_examples(SET, None).await.unwrap()[0].id;
    let items: Vec<ProposalItem> = vec![(
        PII,
        "We will call +44 20 7946 0958.",
        Some((1, "refund late order")),
    )];
    queue_proposals(&s, f.run, (JOB, SET), &items, golden_id, true).await;
    let pid = s
        .list_proposals(&ProposalFilter::default())
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.input == PII)
        .unwrap()
        .id;
    // A second run whose finding carries the text as an example trace.
    let run = s.start_run(JOB).await.unwrap();
    let finding = Finding {
        id: 0,
        run_id: 0,
        job: JOB.into(),
        kind: FindingKind::Structural,
        metric: "input.chars".into(),
        side: "input".into(),
        test: "ks".into(),
        statistic: Some(0.5),
        p_value: Some(1e-6),
        p_adjusted: Some(1e-5),
        effect_size: Some(0.4),
        threshold: Some(0.1),
        verdict: Verdict::Drifted,
        ref_n: 100,
        cur_n: 100,
        details: serde_json::from_value(
            json!({"examples": [{"trace_id": 7, "external_id": "e7", "value": 80, "text": PII}]}),
        )
        .unwrap(),
    };
    let stored = serde_json::from_value(summary()).unwrap();
    s.finish_run(run, &stored, &[finding]).await.unwrap();

    let pages = [
        "/review".to_string(),
        format!("/review/proposals/{pid}"),
        format!("/runs/{run}"),
    ];
    let raw = ["4111 1111 1111 1111", "jane.doe@example.com", "7946 0958"];
    for policy in [ExamplesPolicy::Redacted, ExamplesPolicy::None] {
        let state = WebState::new(s.clone(), accounts(), Duration::from_secs(3600), false)
            .with_viewer_examples(policy);
        let (base, _stop) = start_with(state).await;
        let vic = Visitor::login(&base, VIEWER).await;
        let alice = Visitor::login(&base, ALICE).await;
        for path in &pages {
            let v = vic.get(path).await;
            assert_eq!(v.status, 200, "{path}");
            for r in raw {
                assert!(!v.body.contains(r), "{policy:?} {path}: viewer saw {r}");
            }
            if policy == ExamplesPolicy::Redacted {
                assert!(
                    v.body.contains("[card]") && v.body.contains("[email]"),
                    "{path}: {}",
                    v.body
                );
            }
            let a = alice.get(path).await;
            assert!(
                a.body.contains("jane.doe@example.com"),
                "{path}: reviewer sees it whole"
            );
        }
        // Non-example text stays readable for the viewer.
        assert!(vic.get("/review").await.body.contains("refund late order"));
    }
}
