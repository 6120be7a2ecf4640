//! The HTML report: one file, no external assets, charts as inline SVG. The
//! markup is `templates/report.html` and `templates/charts.html`, rendered
//! through [`crate::html::Templates`] (every value escaped); this module only
//! computes what they print: texts, and the charts' coordinates.

use std::sync::LazyLock;

use minijinja::context;
use serde::Serialize;
use serde_json::Value;

use super::{num, verdict_mark};
use crate::html::Templates;
use crate::store::{Example, Finding, GapCluster, MapPoint, Run, SemanticSummary, Verdict};

static TEMPLATES: LazyLock<Templates> = LazyLock::new(|| {
    Templates::new(&[
        ("style.css", include_str!("templates/style.css")),
        ("charts.html", include_str!("templates/charts.html")),
        ("report.html", include_str!("templates/report.html")),
    ])
});

/// A coordinate with one decimal, as the SVG gets it.
fn c1(x: f64) -> String {
    format!("{x:.1}")
}

/// Side-by-side bars of two normalised histograms (golden blue, production orange).
#[derive(Debug, Serialize)]
struct Histogram {
    w: f64,
    height: f64,
    pad: f64,
    bw: String,
    /// Per bin: golden x, y, height; production x, y, height.
    bars: Vec<[String; 6]>,
    y: f64,
    x2: f64,
    ty: f64,
    mid: f64,
    lo: String,
    hi: String,
}

fn histogram(h: &Value) -> Option<Histogram> {
    let side = |k: &str| -> Option<Vec<f64>> {
        Some(h[k].as_array()?.iter().filter_map(Value::as_f64).collect())
    };
    let (r, p) = (side("reference")?, side("production")?);
    let (lo, hi) = (h["lo"].as_f64()?, h["hi"].as_f64()?);
    let norm = |v: &[f64]| {
        let t: f64 = v.iter().sum::<f64>().max(1.0);
        v.iter().map(|x| x / t).collect::<Vec<f64>>()
    };
    let (r, p) = (norm(&r), norm(&p));
    let max = r.iter().chain(&p).cloned().fold(0.0, f64::max).max(1e-9);
    let (w, ht, pad) = (560.0, 160.0, 30.0);
    let bw = (w - 2.0 * pad) / r.len().max(1) as f64;
    let bars = r
        .iter()
        .zip(&p)
        .enumerate()
        .map(|(i, (a, b))| {
            let x = pad + i as f64 * bw;
            let (ha, hb) = (a / max * ht, b / max * ht);
            [
                c1(x + 1.0),
                c1(10.0 + ht - ha),
                c1(ha),
                c1(x + bw / 2.0),
                c1(10.0 + ht - hb),
                c1(hb),
            ]
        })
        .collect();
    Some(Histogram {
        w,
        height: ht + 40.0,
        pad,
        bw: c1(bw / 2.0 - 1.0),
        bars,
        y: 10.0 + ht,
        x2: w - pad,
        ty: ht + 28.0,
        mid: w / 2.0,
        lo: num(Some(lo)),
        hi: num(Some(hi)),
    })
}

/// Two bars per category for rates and categorical shares.
#[derive(Debug, Serialize)]
struct Shares {
    w: f64,
    height: f64,
    bar: f64,
    rows: Vec<ShareRow>,
}

#[derive(Debug, Serialize)]
struct ShareRow {
    key: String,
    y: String,
    ty: String,
    yb: String,
    wa: String,
    wb: String,
    lx: String,
    ly: String,
    text: String,
}

fn shares(reference: &Value, production: &Value) -> Option<Shares> {
    let row = 18.0;
    let rows: Vec<ShareRow> = reference
        .as_object()?
        .keys()
        .map(|k| {
            (
                k.as_str(),
                reference[k.as_str()].as_f64().unwrap_or(0.0),
                production[k.as_str()].as_f64().unwrap_or(0.0),
            )
        })
        .filter(|(_, a, b)| *a > 0.005 || *b > 0.005)
        .take(12)
        .enumerate()
        .map(|(i, (k, a, b))| {
            let y = i as f64 * row * 2.0 + 4.0;
            ShareRow {
                key: k.to_string(),
                y: c1(y),
                ty: c1(y + 12.0),
                yb: c1(y + row - 3.0),
                wa: c1(a * 400.0),
                wb: c1(b * 400.0),
                lx: c1(86.0 + a.max(b) * 400.0),
                ly: c1(y + 14.0),
                text: format!("{:.1}% → {:.1}%", a * 100.0, b * 100.0),
            }
        })
        .collect();
    Some(Shares {
        w: 560.0,
        height: rows.len() as f64 * row * 2.0 + 10.0,
        bar: row - 4.0,
        rows,
    })
}

/// The chart of a drifted finding: a histogram, or shares (a rate is one
/// share named "rate").
fn chart(f: &Finding) -> (Option<Histogram>, Option<Shares>) {
    let d = &f.details;
    if d.extra("histogram").is_object() {
        return (histogram(d.extra("histogram")), None);
    }
    if let (Some(a), Some(b)) = (d.reference_rate, d.production_rate) {
        return (
            None,
            shares(
                &serde_json::json!({"rate": a}),
                &serde_json::json!({"rate": b}),
            ),
        );
    }
    match (&d.reference, &d.production) {
        (Some(r), Some(p)) if d.shares().is_some() => (None, shares(r, p)),
        _ => (None, None),
    }
}

/// 2-D PCA map of golden (blue) and production (orange) embeddings; points of gap
/// clusters are outlined in red.
#[derive(Debug, Serialize)]
struct Map {
    w: f64,
    h: f64,
    height: f64,
    ly: f64,
    /// x, y, golden, in a gap.
    points: Vec<(String, String, bool, bool)>,
}

fn map(points: &[MapPoint], gaps: &[i64]) -> Option<Map> {
    if points.is_empty() {
        return None;
    }
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for p in points {
        x0 = x0.min(p.0);
        x1 = x1.max(p.0);
        y0 = y0.min(p.1);
        y1 = y1.max(p.1);
    }
    let (w, h, pad) = (560.0, 400.0, 10.0);
    let sx = |x: f64| pad + (x - x0) / (x1 - x0).max(1e-9) * (w - 2.0 * pad);
    let sy = |y: f64| pad + (y1 - y) / (y1 - y0).max(1e-9) * (h - 2.0 * pad);
    let mut out = Vec::with_capacity(points.len());
    // Production first, golden on top so the covered regions stay visible.
    for golden in [false, true] {
        for p in points.iter().filter(|p| p.is_golden() == golden) {
            let gap = !golden && p.3.is_some_and(|c| gaps.contains(&c));
            out.push((c1(sx(p.0)), c1(sy(p.1)), golden, gap));
        }
    }
    Some(Map {
        w,
        h,
        height: h + 20.0,
        ly: h + 15.0,
        points: out,
    })
}

#[derive(Debug, Serialize)]
struct GapRow<'a> {
    rank: String,
    label: &'a str,
    production: u64,
    golden: u64,
    uncovered: u64,
    ratio: String,
    lower: String,
    p_holm: String,
    feedback: String,
    examples: &'a [String],
}

/// The semantic section's numbers: tests, coverage, gap clusters and the map.
fn semantic(sem: &SemanticSummary) -> minijinja::Value {
    let opt = |v: Option<u64>| v.map_or_else(|| "?".to_string(), |v| v.to_string());
    let mut gaps: Vec<&GapCluster> = sem
        .clusters
        .iter()
        .filter(|c| c.gap_rank.is_some())
        .collect();
    gaps.sort_by_key(|c| c.gap_rank);
    let gap_ids: Vec<i64> = gaps.iter().map(|c| c.cluster).collect();
    let rows: Vec<GapRow> = gaps
        .iter()
        .map(|c| GapRow {
            rank: opt(c.gap_rank),
            label: c.label.as_deref().unwrap_or(""),
            production: c.production_count,
            golden: c.golden_count,
            uncovered: c.uncovered_count,
            ratio: num(c.gap_ratio),
            lower: num(c.gap_lower),
            p_holm: c
                .region_p_holm
                .map_or_else(|| "–".to_string(), |p| num(Some(p))),
            feedback: c.negative_feedback.zip(c.feedback_n).map_or_else(
                || "–".to_string(),
                |(s, n)| format!("{:.0}% of {n}", s * 100.0),
            ),
            examples: &c.examples,
        })
        .collect();
    let regions = sem.gap_regions.as_ref().map(|r| {
        context! {
            tested => r.tested,
            golden_share => format!("{:.0}", 100.0 * r.golden_share),
            design_effect => format!("{:.2}", r.design_effect),
            largest => format!("{:.2}", r.design_effects.iter().copied().fold(1.0, f64::max)),
            unit_icc => format!("{:.2}", r.unit_iccs.iter().copied().fold(0.0, f64::max)),
            // Regions short of golden examples read as typos, not topics.
            surface => r.surface_form_regions.iter().map(|s| context! {
                production => s.production_count,
                noisy => format!("{:.0}", 100.0 * s.noisy_share),
                golden => format!("{:.0}", 100.0 * s.golden_share),
            }).collect::<Vec<_>>(),
        }
    });
    // Runs from before the gap regions recorded a novelty scan instead.
    let scan = sem
        .other
        .get("novelty_scan")
        .and_then(Value::as_object)
        .map(|scan| {
            let v = |k: &str| scan.get(k).map(|v| v.to_string()).unwrap_or_default();
            context! {
                k => v("k"),
                largest_group => v("largest_group"),
                p => num(scan.get("p_value").and_then(Value::as_f64)),
                golden_used => v("golden_used"),
                production_used => v("production_used"),
            }
        });
    context! {
        coverage => format!("{:.1}", sem.coverage.unwrap_or(f64::NAN) * 100.0),
        threshold => format!("{:.3}", sem.coverage_threshold.unwrap_or(f64::NAN)),
        expected => format!("{:.0}", (1.0 - sem.q.unwrap_or(0.05)) * 100.0),
        k => opt(sem.k),
        gap_clusters => sem.gap_clusters,
        outliers => sem.outliers,
        proposals => sem.proposals,
        hits => sem.embedding_cache.hits,
        misses => sem.embedding_cache.misses,
        model => if sem.model_id.is_empty() { "?" } else { sem.model_id.as_str() },
        regions,
        scan,
        shift_note => sem.shift.as_ref().and_then(|s| s.note.as_deref()),
        gaps => rows,
        map => map(&sem.map, &gap_ids),
    }
}

/// One example trace of a drifted finding.
#[derive(Debug, Serialize)]
struct ExampleRow<'a> {
    trace_id: Option<i64>,
    /// Set (with the text) when the example is a whole trace.
    external_id: Option<&'a str>,
    text: &'a str,
}

fn example_row(e: &Example) -> ExampleRow<'_> {
    match e {
        Example::Trace(t) => ExampleRow {
            trace_id: t.trace_id,
            external_id: t.trace_id.map(|_| t.external_id.as_deref().unwrap_or("")),
            text: t.text.as_deref().or(t.input.as_deref()).unwrap_or(""),
        },
        e => ExampleRow {
            trace_id: e.trace_id(),
            external_id: None,
            text: e.text(),
        },
    }
}

pub fn render_html(run: &Run, findings: &[Finding]) -> String {
    let s = run.summary.clone().unwrap_or_default();
    let (start, end) = s.window_text();
    let drifted = findings
        .iter()
        .filter(|f| f.verdict == Verdict::Drifted)
        .count();
    let rows: Vec<minijinja::Value> = findings
        .iter()
        .map(|f| {
            let is_drifted = f.verdict == Verdict::Drifted;
            let (histogram, shares) = if is_drifted { chart(f) } else { (None, None) };
            let examples: Vec<ExampleRow> = if is_drifted {
                f.details.examples().iter().map(example_row).collect()
            } else {
                Vec::new()
            };
            context! {
                id => f.id,
                verdict => f.verdict.as_str(),
                mark => verdict_mark(f.verdict),
                drifted => is_drifted,
                kind => f.kind.as_str(),
                metric => &f.metric,
                test => &f.test,
                p => num(f.p_value),
                p_adj => num(f.p_adjusted),
                effect => num(f.effect_size),
                floor => num(f.threshold),
                change => f.change_text(),
                histogram,
                shares,
                examples,
            }
        })
        .collect();
    TEMPLATES.render(
        "report.html",
        context! {
            run => context! {
                id => run.id,
                job => &run.job,
                status => run.status.as_str(),
                error => &run.error,
            },
            s => context! {
                golden_set => if s.golden_set.is_empty() { "?" } else { s.golden_set.as_str() },
                version => s.golden_version,
                examples => s.golden_examples,
                sampled => s.sampled,
                window_traces => s.window_traces,
                start,
                end,
            },
            drifted,
            sem => s.semantic.as_ref().map(semantic),
            findings => rows,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{FindingKind, GapRegions, RunStatus, RunSummary, SurfaceRegion};

    const BAD: &str = "<script>alert('x')</script>";

    fn finding(id: i64, details: serde_json::Value) -> Finding {
        Finding {
            id,
            run_id: 1,
            job: "j".into(),
            kind: FindingKind::Structural,
            metric: format!("input.{BAD}"),
            side: "input".into(),
            test: "ks".into(),
            statistic: Some(0.5),
            p_value: Some(1e-6),
            p_adjusted: Some(1e-5),
            effect_size: Some(0.4),
            threshold: Some(0.1),
            verdict: Verdict::Drifted,
            ref_n: 10,
            cur_n: 10,
            details: serde_json::from_value(details).unwrap(),
        }
    }

    #[test]
    fn untrusted_text_is_escaped_in_every_part_of_the_report() {
        let mut summary = RunSummary {
            golden_set: BAD.into(),
            ..RunSummary::default()
        };
        let sem = SemanticSummary {
            clusters: vec![GapCluster {
                cluster: 1,
                gap_rank: Some(1),
                label: Some(BAD.into()),
                examples: vec![BAD.into()],
                ..GapCluster::default()
            }],
            map: vec![MapPoint(0.0, 0.0, 0, Some(1)), MapPoint(1.0, 1.0, 1, None)],
            ..SemanticSummary::default()
        };
        summary.semantic = Some(sem);
        let run = Run {
            id: 1,
            job: BAD.into(),
            started_at: chrono::Utc::now(),
            finished_at: None,
            status: RunStatus::Succeeded,
            summary: Some(summary),
            error: Some(BAD.into()),
        };
        let findings = [
            finding(
                1,
                serde_json::json!({"histogram": {"reference": [1, 2], "production": [2, 1], "lo": 0, "hi": 1},
                    "examples": [{"trace_id": 3, "external_id": BAD, "text": BAD}, BAD]}),
            ),
            finding(
                2,
                serde_json::json!({"reference": {BAD: 0.5, "en": 0.5}, "production": {BAD: 0.1, "en": 0.9}}),
            ),
        ];
        let html = render_html(&run, &findings);
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("could not be rendered"), "{html}");
        let escaped = "&lt;script&gt;alert(&#x27;x&#x27;)&lt;&#x2f;script&gt;";
        // title, heading, golden set, error, gap label and example, metric,
        // finding example, share key: each printed escaped.
        assert!(html.matches(escaped).count() >= 10, "{html}");
        assert!(html.contains("<svg") && html.contains("<rect") && html.contains("<circle"));
        assert!(
            html.contains("stroke='#c00'"),
            "gap points outlined: {html}"
        );
    }

    #[test]
    fn regions_read_as_typos_are_listed_as_no_gap() {
        let sem = SemanticSummary {
            gap_regions: Some(GapRegions {
                tested: 120,
                surface_form_regions: vec![SurfaceRegion {
                    cluster: 4,
                    production_count: 23,
                    noisy_share: 0.74,
                    golden_share: 0.02,
                }],
                ..GapRegions::default()
            }),
            ..SemanticSummary::default()
        };
        let run = |sem| Run {
            id: 1,
            job: "j".into(),
            started_at: chrono::Utc::now(),
            finished_at: None,
            status: RunStatus::Succeeded,
            summary: Some(RunSummary {
                semantic: Some(sem),
                ..RunSummary::default()
            }),
            error: None,
        };
        let html = render_html(&run(sem.clone()), &[]);
        assert!(
            html.contains("23 production inputs, 74% with a typo against 2% of golden"),
            "{html}"
        );
        let mut clean = sem;
        clean
            .gap_regions
            .as_mut()
            .unwrap()
            .surface_form_regions
            .clear();
        assert!(!render_html(&run(clean), &[]).contains("with a typo against"));
    }

    #[test]
    fn map_marks_gap_points_and_draws_golden_last() {
        let pts = vec![
            MapPoint(0.0, 0.0, 0, Some(3)),
            MapPoint(1.0, 1.0, 1, None),
            MapPoint(0.5, 0.5, 0, Some(4)),
        ];
        let m = map(&pts, &[3]).unwrap();
        assert_eq!(m.points.len(), 3);
        assert!(m.points[0].3 && !m.points[1].3, "{:?}", m.points);
        assert!(m.points[2].2, "golden drawn last: {:?}", m.points);
        let out = TEMPLATES.render("charts.html", context! {});
        assert!(out.trim().is_empty(), "macros only: {out}");
    }
}
