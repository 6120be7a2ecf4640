//! The HTML report: one file, no external assets, charts as inline SVG.

use std::fmt::Write;

use serde_json::Value;

use super::{num, verdict_mark};
use crate::store::{Example, Finding, GapCluster, MapPoint, Run, SemanticSummary, Verdict};

/// Escapes text for HTML element and attribute content.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}\
table{border-collapse:collapse;width:100%;font-size:14px}th,td{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left}\
.b{display:inline-block;padding:1px 8px;border-radius:9px;font-size:12px;font-weight:600}\
.drifted{background:#fde2e1;color:#a50e0e}.ok{background:#e6f4ea;color:#137333}.skipped{background:#eee;color:#666}\
.card{border:1px solid #ddd;border-radius:8px;padding:12px 16px;margin:16px 0}code{background:#f4f4f4;padding:1px 4px}\
.ex{font-family:monospace;font-size:12px;white-space:pre-wrap;background:#fafafa;border-left:3px solid #ccc;padding:4px 8px;margin:4px 0}";

/// Side-by-side bars of two normalised histograms (golden blue, production orange).
fn histogram_svg(h: &Value) -> Option<String> {
    let r: Vec<f64> = h["reference"]
        .as_array()?
        .iter()
        .filter_map(Value::as_f64)
        .collect();
    let p: Vec<f64> = h["production"]
        .as_array()?
        .iter()
        .filter_map(Value::as_f64)
        .collect();
    let (lo, hi) = (h["lo"].as_f64()?, h["hi"].as_f64()?);
    let norm = |v: &[f64]| {
        let t: f64 = v.iter().sum::<f64>().max(1.0);
        v.iter().map(|x| x / t).collect::<Vec<f64>>()
    };
    let (r, p) = (norm(&r), norm(&p));
    let max = r.iter().chain(&p).cloned().fold(0.0, f64::max).max(1e-9);
    let (w, ht, pad) = (560.0, 160.0, 30.0);
    let bw = (w - 2.0 * pad) / r.len().max(1) as f64;
    let mut s = format!(
        "<svg xmlns='http://www.w3.org/2000/svg' width='{w}' height='{}' role='img'>",
        ht + 40.0
    );
    for (i, (a, b)) in r.iter().zip(&p).enumerate() {
        let x = pad + i as f64 * bw;
        let ha = a / max * ht;
        let hb = b / max * ht;
        let _ = write!(s, "<rect x='{:.1}' y='{:.1}' width='{:.1}' height='{:.1}' fill='#4c78a8' opacity='0.85'/>", x + 1.0, 10.0 + ht - ha, bw / 2.0 - 1.0, ha);
        let _ = write!(s, "<rect x='{:.1}' y='{:.1}' width='{:.1}' height='{:.1}' fill='#f58518' opacity='0.85'/>", x + bw / 2.0, 10.0 + ht - hb, bw / 2.0 - 1.0, hb);
    }
    let _ = write!(
        s,
        "<line x1='{pad}' y1='{y}' x2='{x2}' y2='{y}' stroke='#999'/><text x='{pad}' y='{ty}' font-size='11'>{}</text><text x='{x2}' y='{ty}' font-size='11' text-anchor='end'>{}</text>\
         <text x='{mid}' y='{ty}' font-size='11' text-anchor='middle'><tspan fill='#4c78a8'>■ golden</tspan> <tspan fill='#f58518'>■ production</tspan></text></svg>",
        num(Some(lo)),
        num(Some(hi)),
        y = 10.0 + ht,
        x2 = w - pad,
        ty = ht + 28.0,
        mid = w / 2.0,
    );
    Some(s)
}

/// Two bars per category for rates/categorical shares.
fn shares_svg(reference: &Value, production: &Value) -> Option<String> {
    let keys: Vec<&String> = reference.as_object()?.keys().collect();
    let rows: Vec<(&str, f64, f64)> = keys
        .iter()
        .map(|k| {
            (
                k.as_str(),
                reference[k.as_str()].as_f64().unwrap_or(0.0),
                production[k.as_str()].as_f64().unwrap_or(0.0),
            )
        })
        .filter(|(_, a, b)| *a > 0.005 || *b > 0.005)
        .take(12)
        .collect();
    let (w, row) = (560.0, 18.0);
    let mut s = format!(
        "<svg xmlns='http://www.w3.org/2000/svg' width='{w}' height='{}'>",
        rows.len() as f64 * row * 2.0 + 10.0
    );
    for (i, (k, a, b)) in rows.iter().enumerate() {
        let y = i as f64 * row * 2.0 + 4.0;
        let _ = write!(
            s,
            "<text x='0' y='{:.1}' font-size='11'>{}</text>",
            y + 12.0,
            esc(k)
        );
        let _ = write!(
            s,
            "<rect x='80' y='{:.1}' width='{:.1}' height='{:.1}' fill='#4c78a8'/>",
            y,
            a * 400.0,
            row - 4.0
        );
        let _ = write!(
            s,
            "<rect x='80' y='{:.1}' width='{:.1}' height='{:.1}' fill='#f58518'/>",
            y + row - 3.0,
            b * 400.0,
            row - 4.0
        );
        let _ = write!(
            s,
            "<text x='{:.1}' y='{:.1}' font-size='10'>{:.1}% → {:.1}%</text>",
            86.0 + a.max(*b) * 400.0,
            y + 14.0,
            a * 100.0,
            b * 100.0
        );
    }
    s.push_str("</svg>");
    Some(s)
}

fn chart(f: &Finding) -> Option<String> {
    let d = &f.details;
    if d.extra("histogram").is_object() {
        return histogram_svg(d.extra("histogram"));
    }
    if let (Some(a), Some(b)) = (d.reference_rate, d.production_rate) {
        return shares_svg(
            &serde_json::json!({"golden": a}),
            &serde_json::json!({"golden": b}),
        )
        .map(|s| s.replace(">golden<", ">rate<"));
    }
    if let (Some(r), Some(p)) = (&d.reference, &d.production) {
        if d.shares().is_some() {
            return shares_svg(r, p);
        }
    }
    d.extra("svg").as_str().map(str::to_string)
}

/// 2-D PCA map of golden (blue) and production (orange) embeddings; points of gap
/// clusters are outlined in red.
fn map_svg(points: &[MapPoint], gaps: &[i64]) -> Option<String> {
    let pts: Vec<(f64, f64, bool, Option<i64>)> = points
        .iter()
        .map(|p| (p.0, p.1, p.is_golden(), p.3))
        .collect();
    if pts.is_empty() {
        return None;
    }
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for (x, y, _, _) in &pts {
        x0 = x0.min(*x);
        x1 = x1.max(*x);
        y0 = y0.min(*y);
        y1 = y1.max(*y);
    }
    let (w, h, pad) = (560.0, 400.0, 10.0);
    let sx = |x: f64| pad + (x - x0) / (x1 - x0).max(1e-9) * (w - 2.0 * pad);
    let sy = |y: f64| pad + (y1 - y) / (y1 - y0).max(1e-9) * (h - 2.0 * pad);
    let mut svg = format!("<svg xmlns='http://www.w3.org/2000/svg' width='{w}' height='{}' role='img'><rect width='{w}' height='{h}' fill='#fcfcfc' stroke='#ddd'/>", h + 20.0);
    // Production first, golden on top so the covered regions stay visible.
    for golden in [false, true] {
        for (x, y, g, c) in pts.iter().filter(|p| p.2 == golden) {
            let fill = if *g { "#4c78a8" } else { "#f58518" };
            let gap = c.is_some_and(|c| gaps.contains(&c)) && !g;
            let stroke = if gap {
                " stroke='#c00' stroke-width='1.2'"
            } else {
                ""
            };
            let _ = write!(
                svg,
                "<circle cx='{:.1}' cy='{:.1}' r='2.4' fill='{fill}' opacity='0.75'{stroke}/>",
                sx(*x),
                sy(*y)
            );
        }
    }
    let _ = write!(svg, "<text x='10' y='{}' font-size='11'><tspan fill='#4c78a8'>● golden</tspan>  <tspan fill='#f58518'>● production</tspan>  <tspan fill='#c00'>○ gap cluster</tspan>  (PCA of the embeddings)</text></svg>", h + 15.0);
    Some(svg)
}

/// The semantic section: tests, coverage, gap clusters and the map.
fn semantic_section(sem: &SemanticSummary) -> String {
    let opt = |v: Option<u64>| v.map_or_else(|| "?".to_string(), |v| v.to_string());
    let mut o = String::from("<h2>Semantic drift and coverage</h2>");
    let _ = write!(
        o,
        "<p>Coverage <b>{:.1}%</b> of sampled production inputs have a golden example with cosine ≥ {:.3} (calibrated so ≈ {:.0}% would under no drift). {} clusters (k by silhouette when not configured), {} gap cluster(s), {} uncovered outliers, {} proposals queued. Embedding cache: {} hits, {} misses ({}).</p>",
        sem.coverage.unwrap_or(f64::NAN) * 100.0,
        sem.coverage_threshold.unwrap_or(f64::NAN),
        (1.0 - sem.q.unwrap_or(0.05)) * 100.0,
        opt(sem.k),
        sem.gap_clusters,
        sem.outliers,
        sem.proposals,
        sem.embedding_cache.hits,
        sem.embedding_cache.misses,
        esc(if sem.model_id.is_empty() { "?" } else { &sem.model_id }),
    );
    if let Some(r) = &sem.gap_regions {
        let _ = write!(
            o,
            "<p>Gap regions: golden and production inputs were partitioned into {} regions at three scales without looking at which side each came from; a region is a <b>topic gap</b> when it holds significantly fewer golden examples than the golden share ({:.0}%) predicts. Paraphrases come in groups, so counts are deflated by the measured design effect ({:.2}) before the binomial test, and the p-values are Holm-adjusted over all regions. A gap lists the production inputs of its regions that are locally uncovered. The run-wide tests (MMD, classifier, coverage) treat inputs as independent, so their p-values are deflated by the largest design effect measured ({:.2}); the classifier never sees a paraphrase in training and in testing at once, and coverage scores every input by its nearest golden example that is not a rewording of it.</p>",
            r.tested,
            100.0 * r.golden_share,
            r.design_effect,
            r.design_effects.iter().copied().fold(1.0, f64::max),
        );
    } else if let Some(scan) = sem.other.get("novelty_scan").and_then(Value::as_object) {
        let _ = write!(
            o,
            "<p>Novelty scan: the largest group of production inputs whose {} nearest neighbours are all production holds {} inputs (permutation p = {}; {} golden and {} production distinct inputs).</p>",
            scan["k"], scan["largest_group"], num(scan["p_value"].as_f64()), scan["golden_used"], scan["production_used"],
        );
    }
    if let Some(note) = sem.shift.as_ref().and_then(|s| s.note.as_deref()) {
        let _ = write!(
            o,
            "<p><b>Diffuse shift:</b> the input embeddings moved without a localized gap, {}. No proposals were queued.</p>",
            esc(note)
        );
    }
    o.push_str("<p class=\"rule\">How verdicts are decided: every test's p-value is adjusted for the number of tests in the run (Benjamini–Hochberg; gap regions are one family adjusted by Holm), and a finding is <b>drifted</b> only when its adjusted p is below α <i>and</i> its effect is at least its floor. A <b>topic</b> finding is a gap: a region of production the golden set does not cover, with proposals for review. A <b>diffuse</b> finding (MMD, classifier, coverage) says the inputs moved as a whole, with no localized gap.</p>");
    let mut gaps: Vec<&GapCluster> = sem
        .clusters
        .iter()
        .filter(|c| c.gap_rank.is_some())
        .collect();
    gaps.sort_by_key(|c| c.gap_rank);
    let gap_ids: Vec<i64> = gaps.iter().map(|c| c.cluster).collect();
    if !gaps.is_empty() {
        o.push_str("<h3>Gap clusters, ranked</h3><table><tr><th>#</th><th>label</th><th>production</th><th>golden</th><th>uncovered</th><th>gap ratio (lower bound)</th><th>p (Holm)</th><th>negative feedback</th><th>examples</th></tr>");
        for c in &gaps {
            let ex: Vec<String> = c.examples.iter().map(|e| esc(e)).collect();
            let _ = write!(
                o,
                "<tr><td>{}</td><td><b>{}</b></td><td>{}</td><td>{}</td><td>{}</td><td>{} ({})</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                opt(c.gap_rank),
                esc(c.label.as_deref().unwrap_or("")),
                c.production_count,
                c.golden_count,
                c.uncovered_count,
                num(c.gap_ratio),
                num(c.gap_lower),
                c.region_p_holm.map_or_else(|| "–".to_string(), |p| num(Some(p))),
                c.negative_feedback
                    .zip(c.feedback_n)
                    .map_or_else(|| "–".to_string(), |(s, n)| format!("{:.0}% of {n}", s * 100.0)),
                ex.join("<br>")
            );
        }
        o.push_str("</table>");
    }
    if let Some(svg) = map_svg(&sem.map, &gap_ids) {
        o.push_str("<h3>Map</h3>");
        o.push_str(&svg);
    }
    o
}

pub fn render_html(run: &Run, findings: &[Finding]) -> String {
    let s = run.summary.clone().unwrap_or_default();
    let (start, end) = s.window_text();
    let mut o = String::new();
    let drifted = findings
        .iter()
        .filter(|f| f.verdict == Verdict::Drifted)
        .count();
    let _ = write!(o, "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>driftwatch run {} — {}</title><style>{STYLE}</style></head><body>", run.id, esc(&run.job));
    let _ = write!(
        o,
        "<h1>driftwatch — run {} of <code>{}</code></h1><p><span class='b {}'>{} drifted</span> status <b>{}</b>; golden set <code>{}</code> v{} ({} examples) vs {} production traces sampled of {} in <code>{}</code> … <code>{}</code>.</p>",
        run.id,
        esc(&run.job),
        if drifted > 0 { "drifted" } else { "ok" },
        drifted,
        run.status.as_str(),
        esc(if s.golden_set.is_empty() { "?" } else { &s.golden_set }),
        s.golden_version,
        s.golden_examples,
        s.sampled,
        s.window_traces,
        esc(&start),
        esc(&end),
    );
    if let Some(e) = &run.error {
        let _ = write!(o, "<p class='b drifted'>error: {}</p>", esc(e));
    }
    if let Some(sem) = &s.semantic {
        o.push_str(&semantic_section(sem));
    }
    o.push_str("<h2>Verdicts</h2><table><tr><th>verdict</th><th>kind</th><th>metric</th><th>test</th><th>p</th><th>p adj</th><th>effect</th><th>floor</th><th>change</th></tr>");
    for f in findings {
        let v = f.verdict.as_str();
        let _ = write!(
            o,
            "<tr><td><span class='b {v}'>{}</span></td><td>{}</td><td><a href='#f{}'><code>{}</code></a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            verdict_mark(f.verdict),
            f.kind.as_str(),
            f.id,
            esc(&f.metric),
            esc(&f.test),
            num(f.p_value),
            num(f.p_adjusted),
            num(f.effect_size),
            num(f.threshold),
            esc(&f.change_text())
        );
    }
    o.push_str("</table><h2>Drifted metrics</h2>");
    if drifted == 0 {
        o.push_str("<p>No metric drifted.</p>");
    }
    for f in findings.iter().filter(|f| f.verdict == Verdict::Drifted) {
        let _ = write!(o, "<div class='card' id='f{}'><h3><code>{}</code> — {}</h3><p>{}: effect {} (floor {}), p adjusted {}.</p>", f.id, esc(&f.metric), esc(&f.change_text()), esc(&f.test), num(f.effect_size), num(f.threshold), num(f.p_adjusted));
        if let Some(svg) = chart(f) {
            o.push_str(&svg);
        }
        let ex = f.details.examples();
        if !ex.is_empty() {
            o.push_str("<h4>Example traces</h4>");
            for e in ex {
                let text = match e {
                    Example::Trace(t) => t.text.as_deref().or(t.input.as_deref()).unwrap_or(""),
                    e => e.text(),
                };
                let text = esc(text);
                let _ = match (e.trace_id(), e) {
                    (Some(id), Example::Trace(t)) => write!(
                        o,
                        "<div class='ex'>trace {id} ({}): {text}</div>",
                        esc(t.external_id.as_deref().unwrap_or(""))
                    ),
                    (Some(id), _) => write!(o, "<div class='ex'>trace {id}</div>"),
                    (None, _) => write!(o, "<div class='ex'>{text}</div>"),
                };
            }
        }
        o.push_str("</div>");
    }
    let _ = write!(o, "<p style='color:#888;font-size:12px'>Generated by driftwatch. Reproduce: <code>driftwatch report {} --format html</code></p></body></html>", run.id);
    o
}
