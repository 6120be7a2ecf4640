#!/usr/bin/env python3
"""Evidently peer for driftwatch's whole structural job, from raw text (issue 19).

One process does what `driftwatch ingest` + `golden import` + `run JOB` do for
the structural stage, the Evidently way: it reads the same two JSONL files
driftwatch ingests, computes Evidently text descriptors from the raw texts,
and runs the data-drift preset on the descriptor columns, golden as reference,
production as current. It prints the rows per side, the drifted columns, the
seconds spent importing, loading, computing descriptors and testing, and the
peak RSS, as one JSON object.

Inputs:

    PROD.jsonl     production traces, {"input": ..., "output": ..., ...} per line
                   (`driftwatch demo --generate N --out PROD.jsonl`)
    GOLDEN.jsonl   golden set, {"input": ..., "expected_output": ..., ...} per line
                   (`benches/peer/make_golden.py`); the expected output is the
                   golden side's output, as in driftwatch

Each file is read with the standard library, `json.loads` per line (no
`pandas.read_json`); only the two text fields are kept, and a DataFrame with
two text columns is built per side.

Descriptors (Evidently 0.7 `evidently.descriptors`), with driftwatch-style names:

    input.chars / output.chars           TextLength          len(text) in code points
    input.words / output.words           WordCount           words after dropping every
                                                             character but a-z, A-Z, space
    input.non_letter_pct / output.…      NonLetterCharacterPercentage
                                                             100 * share of characters that
                                                             are neither letters nor ' '
    output.json_valid                    IsValidJSON         categorical True/False

They resemble, but are not, driftwatch's metrics: driftwatch's `*.words` splits
on whitespace and keeps digits and punctuation in words, and it has no
non-letter share (it measures `*.uppercase_share` and `*.non_ascii_share`).
Evidently's NonLetterCharacterPercentage divides by the text length and raises
ZeroDivisionError on an empty text; the script counts empty texts and stops
with a message if there are any.

Setup (Evidently 0.7 does not import with pandas 3):

    python3 -m pip install evidently "pandas<3"

Usage:

    /usr/bin/time -v python3 benches/peer/evidently_whole.py PROD.jsonl GOLDEN.jsonl
    benches/peer/whole_job.sh PROD.jsonl GOLDEN.jsonl     # side by side with driftwatch
"""

import argparse
import json
import os
import resource
import sys
import time

T_START = time.perf_counter()

DESCRIPTOR_COLUMNS = [
    "input.chars", "input.words", "input.non_letter_pct",
    "output.chars", "output.words", "output.non_letter_pct", "output.json_valid",
]


def peak_rss_mib():
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def read_texts(path, output_field):
    """Plain json per line; keeps only the input and output texts."""
    inputs, outputs = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            r = json.loads(line)
            inputs.append(r.get("input") or "")
            out = r.get(output_field)
            if out is None:
                out = ""
            elif not isinstance(out, str):
                # driftwatch stores a non-string output as its JSON text.
                out = json.dumps(out)
            outputs.append(out)
    return inputs, outputs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("production", help="production traces JSONL (input, output)")
    ap.add_argument("golden", help="golden set JSONL (input, expected_output)")
    args = ap.parse_args()

    # Import time: what every Evidently process pays before it reads a row.
    t0 = time.perf_counter()
    import evidently
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.descriptors import (IsValidJSON, NonLetterCharacterPercentage,
                                       TextLength, WordCount)
    from evidently.presets import DataDriftPreset

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from evidently_drift import drifted_new_api
    t1 = time.perf_counter()

    # Load: JSONL -> two text columns per side.
    p_in, p_out = read_texts(args.production, "output")
    g_in, g_out = read_texts(args.golden, "expected_output")
    empty = {
        "production.input": sum(1 for t in p_in if not t),
        "production.output": sum(1 for t in p_out if not t),
        "golden.input": sum(1 for t in g_in if not t),
        "golden.output": sum(1 for t in g_out if not t),
    }
    if any(empty.values()):
        sys.exit(f"empty texts {empty}: Evidently's NonLetterCharacterPercentage "
                 "divides by the text length (ZeroDivisionError)")
    current = pd.DataFrame({"input": p_in, "output": p_out})
    reference = pd.DataFrame({"input": g_in, "output": g_out})
    del p_in, p_out, g_in, g_out
    t2 = time.perf_counter()
    rss_after_load = peak_rss_mib()

    # Descriptors, computed row by row from the raw texts, on both sides.
    def descriptors():
        return [
            TextLength("input", alias="input.chars"),
            WordCount("input", alias="input.words"),
            NonLetterCharacterPercentage("input", alias="input.non_letter_pct"),
            TextLength("output", alias="output.chars"),
            WordCount("output", alias="output.words"),
            NonLetterCharacterPercentage("output", alias="output.non_letter_pct"),
            IsValidJSON("output", alias="output.json_valid"),
        ]

    def definition():
        return DataDefinition(text_columns=["input", "output"])

    ref = Dataset.from_pandas(reference, data_definition=definition(),
                              descriptors=descriptors())
    cur = Dataset.from_pandas(current, data_definition=definition(),
                              descriptors=descriptors())
    t3 = time.perf_counter()
    missing = [c for c in DESCRIPTOR_COLUMNS if c not in cur.as_dataframe().columns]
    if missing:
        sys.exit(f"descriptor columns missing: {missing}; have "
                 f"{list(cur.as_dataframe().columns)}")

    # Drift: the preset on the descriptor columns only (not on the raw texts).
    report = Report([DataDriftPreset(columns=DESCRIPTOR_COLUMNS)])
    result = report.run(current_data=cur, reference_data=ref)
    columns = drifted_new_api(result.dict(), DESCRIPTOR_COLUMNS)
    t4 = time.perf_counter()
    for v in columns.values():
        if v["drifted"] is not None:
            v["drifted"] = bool(v["drifted"])  # numpy bool -> JSON true/false

    drifted = sorted(c for c, v in columns.items() if v["drifted"])
    out = {
        "evidently": getattr(evidently, "__version__", "?"),
        "pandas": pd.__version__,
        "reference_rows": len(reference),
        "current_rows": len(current),
        "descriptor_columns": DESCRIPTOR_COLUMNS,
        "import_s": round(t1 - t0, 3),
        "load_s": round(t2 - t1, 3),
        "descriptors_s": round(t3 - t2, 3),
        "drift_s": round(t4 - t3, 3),
        "total_s": round(t4 - T_START, 3),
        "peak_rss_after_load_mib": round(rss_after_load, 1),
        "peak_rss_mib": round(peak_rss_mib(), 1),
        "drifted": drifted,
        "columns": columns,
    }
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    sys.exit(main())
