#!/usr/bin/env python3
"""Turns generated production traces into a large golden set for benchmarks.

    driftwatch demo --generate 170000 --seed 7 --out /tmp/g170k.jsonl
    python3 benches/peer/make_golden.py /tmp/g170k.jsonl 100000 > /tmp/golden-100k.jsonl
    driftwatch --config /tmp/bench.toml golden import /tmp/golden-100k.jsonl --set big --no-embed

Keeps only "clean" traces: before the demo scenario's output incident (the first
66% of the file) and not from its new topic (kitchen_and_dining), i.e. what the
production data of `demo --generate` drifts away from. The generator's corpus has
only ~2,100 distinct queries and golden inputs must be unique, so each input gets
a unique suffix " [g<N>]" — which lengthens inputs by ~8 chars / 2 words, so
input length metrics differ from production by construction.
"""

import json
import sys


def main():
    path, n = sys.argv[1], int(sys.argv[2])
    with open(path) as f:
        lines = f.readlines()
    clean_until = int(len(lines) * 0.66)
    out = sys.stdout
    written = 0
    for line in lines[:clean_until]:
        r = json.loads(line)
        if r.get("metadata", {}).get("domain") == "kitchen_and_dining":
            continue
        out.write(json.dumps({
            "input": f"{r['input']} [g{written}]",
            "expected_output": r["output"],
            "tags": [r["metadata"]["domain"], r["metadata"]["intent"]],
        }) + "\n")
        written += 1
        if written == n:
            break
    if written < n:
        sys.exit(f"only {written} clean traces; generate more")


if __name__ == "__main__":
    main()
