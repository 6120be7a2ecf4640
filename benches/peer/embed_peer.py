#!/usr/bin/env python3
"""Python onnxruntime peer for driftwatch's local-embedding benchmark.

Embeds the same texts with the same model files the same way driftwatch does
(tokenizer.json with truncation to 256 tokens and batch-longest padding,
model.onnx, mean pooling over the attention mask, L2 normalisation) at a given
batch size, and prints sentences/s and peak RSS.

Input: a .jsonl file (one object per line; the "text" field, else "input",
else "output", is embedded) or any other file (one text per line). The Rust
benchmark writes a matching JSONL file when DRIFTWATCH_BENCH_TEXTS is set (see
bench_local_throughput in src/embed/local.rs).

Setup once:
    python3 -m venv /tmp/refvenv
    /tmp/refvenv/bin/pip install onnxruntime==1.24.4 tokenizers numpy
Run from the repository root, one configuration per process:
    /tmp/refvenv/bin/python benches/peer/embed_peer.py /tmp/bench-texts.jsonl --batch 32
    /tmp/refvenv/bin/python benches/peer/embed_peer.py /tmp/bench-texts.jsonl --batch 32 --sort

Without --sort, texts are batched in file order (what a naive loop does); with
--sort they are sorted by token count first, as driftwatch does by default.
--threads 0 (default) lets ONNX Runtime pick (one per physical core), which
matches driftwatch's threads = 0.
"""

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer


def read_texts(path: Path):
    texts = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            if path.suffix == ".jsonl":
                obj = json.loads(line)
                for key in ("text", "input", "output"):
                    if isinstance(obj.get(key), str):
                        texts.append(obj[key])
                        break
                else:
                    raise SystemExit(f"{path}: line without a text/input/output string")
            else:
                texts.append(line)
    return texts


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("texts", type=Path, help=".jsonl or one-text-per-line file")
    ap.add_argument("--model-dir", type=Path, default=Path("models/all-MiniLM-L6-v2"))
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--sort", action="store_true", help="sort by token count before batching")
    args = ap.parse_args()

    texts = read_texts(args.texts)
    t0 = time.perf_counter()
    tok = Tokenizer.from_file(str(args.model_dir / "tokenizer.json"))
    tok.enable_truncation(max_length=args.max_length)
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if args.threads > 0:
        opts.intra_op_num_threads = args.threads
    sess = ort.InferenceSession(
        str(args.model_dir / "model.onnx"), opts, providers=["CPUExecutionProvider"]
    )
    needs_types = any(i.name == "token_type_ids" for i in sess.get_inputs())
    load_s = time.perf_counter() - t0

    def embed(batch):
        enc = tok.encode_batch(batch)
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if needs_types:
            feeds["token_type_ids"] = np.array([e.type_ids for e in enc], dtype=np.int64)
        (hidden,) = sess.run(["last_hidden_state"], feeds)
        m = mask[:, :, None].astype(np.float32)
        pooled = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)

    embed(texts[:8])  # warm-up, like the Rust benchmark

    def cpu_seconds():
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    cpu0 = cpu_seconds()
    start = time.perf_counter()
    order = list(range(len(texts)))
    if args.sort:
        # encode_batch pads to the longest; count real tokens (the mask) instead.
        lengths = [sum(e.attention_mask) for e in tok.encode_batch(texts)]
        order.sort(key=lambda i: lengths[i])
    out = [None] * len(texts)
    for b in range(0, len(order), args.batch):
        idx = order[b : b + args.batch]
        for i, v in zip(idx, embed([texts[i] for i in idx])):
            out[i] = v  # vectors back in input order
    assert all(v is not None for v in out)
    secs = time.perf_counter() - start
    cpu = cpu_seconds() - cpu0

    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(
        f"python onnxruntime {ort.__version__}: n={len(texts)} batch={args.batch} "
        f"sorted={args.sort} load={load_s:.2f}s embed={secs:.2f}s cpu={cpu:.1f}s "
        f"{len(texts) / secs:.1f} sentences/s ({len(texts) / max(cpu, 1e-9):.1f} per cpu-second) "
        f"peak_rss={peak_mib:.0f} MiB"
    )


if __name__ == "__main__":
    sys.exit(main())
