#!/usr/bin/env python3
"""Evidently peer for driftwatch's structural run (issue 3).

Runs Evidently's data-drift preset on the per-trace metric columns driftwatch
tested, as exported by

    driftwatch run JOB --export-metrics DIR      # writes DIR/golden.csv, DIR/production.csv

and prints load time, compute time, peak RSS and the columns Evidently flags as
drifted, so both tools can be compared on exactly the same data.

Setup (Evidently 0.7 does not import with pandas 3):

    python3 -m pip install evidently "pandas<3"

Usage:

    /usr/bin/time -v python3 benches/peer/evidently_drift.py DIR [--json]

Column kinds follow driftwatch's catalogue: `*.empty`, `*.json_valid`,
`*.schema_valid`, `*.regex_match` (0/1) and `*.language` (labels) are
categorical, everything else numerical; the `id` column is dropped. Empty cells
(the metric does not apply to the row, e.g. language on rows driftwatch did not
run language detection on) are NaN, which Evidently leaves out of the column's
test just as driftwatch does.

Works with Evidently 0.7+ (`from evidently import Report`) and falls back to the
legacy API (`evidently.report` / `evidently.metric_preset`) of older releases.
"""

import argparse
import json
import os
import resource
import sys
import time

RATE_SUFFIXES = (".empty", ".json_valid", ".schema_valid", ".regex_match")


def peak_rss_mib():
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def column_kinds(columns):
    num, cat = [], []
    for c in columns:
        if c == "id":
            continue
        if c.endswith(".language") or c.endswith(RATE_SUFFIXES):
            cat.append(c)
        else:
            num.append(c)
    return num, cat


def load(path, num, cat):
    import pandas as pd

    dtypes = {c: "float64" for c in num}
    dtypes.update({c: "object" for c in cat})
    df = pd.read_csv(path, dtype=dtypes, usecols=num + cat, keep_default_na=False,
                     na_values=[""])
    # Rates as labels "0"/"1" (categorical), not numbers.
    for c in cat:
        df[c] = df[c].astype("object")
    return df


def run_new_api(reference, current, num, cat):
    """Evidently >= 0.7."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(numerical_columns=num, categorical_columns=cat)
    ref = Dataset.from_pandas(reference, data_definition=definition)
    cur = Dataset.from_pandas(current, data_definition=definition)
    report = Report([DataDriftPreset()])
    result = report.run(current_data=cur, reference_data=ref)
    return drifted_new_api(result.dict(), num + cat)


def drifted_new_api(d, columns):
    """Per column: (method, score, threshold, drifted) from a 0.7 result dict."""
    out = {}
    for m in d.get("metrics", []):
        cfg = m.get("config", {}) or {}
        col = cfg.get("column")
        if col is None or col not in columns:
            continue
        method = cfg.get("method")
        threshold = cfg.get("threshold")
        score = m.get("value")
        if isinstance(score, dict):
            score = score.get("value", score)
        drifted = None
        if score is not None and threshold is not None:
            # p-value methods drift below the threshold, distances above it.
            is_p = method is not None and "p_value" in str(method).lower()
            if is_p:
                drifted = score < threshold
            else:
                drifted = score >= threshold
        out[col] = {"method": method, "score": score, "threshold": threshold,
                    "drifted": drifted}
    return out


def run_legacy_api(reference, current, num, cat):
    """Evidently < 0.7."""
    from evidently import ColumnMapping
    from evidently.metric_preset import DataDriftPreset
    from evidently.report import Report

    mapping = ColumnMapping(numerical_features=num, categorical_features=cat)
    report = Report(metrics=[DataDriftPreset()])
    report.run(reference_data=reference, current_data=current, column_mapping=mapping)
    out = {}
    for m in report.as_dict()["metrics"]:
        res = m.get("result", {})
        for col, v in (res.get("drift_by_columns") or {}).items():
            out[col] = {"method": v.get("stattest_name"), "score": v.get("drift_score"),
                        "threshold": v.get("stattest_threshold"),
                        "drifted": v.get("drift_detected")}
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", help="directory with golden.csv and production.csv")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()

    import evidently
    import pandas as pd

    with open(os.path.join(args.dir, "golden.csv")) as f:
        header = f.readline().strip().split(",")
    num, cat = column_kinds(header)

    t0 = time.perf_counter()
    reference = load(os.path.join(args.dir, "golden.csv"), num, cat)
    current = load(os.path.join(args.dir, "production.csv"), num, cat)
    t1 = time.perf_counter()
    rss_after_load = peak_rss_mib()

    version = getattr(evidently, "__version__", "?")
    try:
        from evidently import Report  # noqa: F401  (0.7+)
        columns = run_new_api(reference, current, num, cat)
        api = "0.7"
    except ImportError:
        columns = run_legacy_api(reference, current, num, cat)
        api = "legacy"
    t2 = time.perf_counter()

    drifted = sorted(c for c, v in columns.items() if v["drifted"])
    out = {
        "evidently": version,
        "api": api,
        "pandas": pd.__version__,
        "reference_rows": len(reference),
        "current_rows": len(current),
        "numerical_columns": len(num),
        "categorical_columns": len(cat),
        "load_s": round(t1 - t0, 3),
        "compute_s": round(t2 - t1, 3),
        "total_s": round(t2 - t0, 3),
        "peak_rss_after_load_mib": round(rss_after_load, 1),
        "peak_rss_mib": round(peak_rss_mib(), 1),
        "drifted": drifted,
        "columns": columns,
    }
    if args.json:
        print(json.dumps(out, default=str))
        return
    print(f"evidently {version} ({api} API), pandas {pd.__version__}")
    print(f"rows: reference {len(reference)}, current {len(current)}; "
          f"columns: {len(num)} numerical, {len(cat)} categorical")
    print(f"load {out['load_s']:.2f} s, compute {out['compute_s']:.2f} s, "
          f"total {out['total_s']:.2f} s")
    print(f"peak RSS {out['peak_rss_mib']:.0f} MiB (after load {rss_after_load:.0f} MiB)")
    print(f"drifted ({len(drifted)} of {len(columns)}):")
    for c in sorted(columns):
        v = columns[c]
        mark = "DRIFT" if v["drifted"] else "ok"
        print(f"  {mark:5} {c:28} {v['method']} score={v['score']} threshold={v['threshold']}")


if __name__ == "__main__":
    sys.exit(main())
