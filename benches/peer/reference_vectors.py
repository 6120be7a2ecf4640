#!/usr/bin/env python3
"""Reference vectors for driftwatch's local embedder tests.

Computes all-MiniLM-L6-v2 sentence embeddings for a few fixed sentences with
plain onnxruntime + tokenizers + numpy (no fastembed, no sentence-transformers),
using the same files scripts/fetch-model.sh provisions:

  * tokenizer.json, truncation to 256 tokens, batch-longest padding with [PAD]=0
  * model.onnx (inputs input_ids / attention_mask / token_type_ids,
    output last_hidden_state)
  * mean pooling over the attention mask, then L2 normalisation

Each sentence is embedded alone (batch of 1) so the reference does not depend
on batching. It prints the first 8 dimensions of each vector and its full
384-dim L2 norm (≈1.0) and the sum of all 384 components (a cheap
whole-vector fingerprint) as Rust literals for src/embed/local.rs's tests.

Setup once (any python 3.9+):
    python3 -m venv /tmp/refvenv
    /tmp/refvenv/bin/pip install onnxruntime==1.24.4 tokenizers numpy
Run from the repository root:
    /tmp/refvenv/bin/python benches/peer/reference_vectors.py [MODEL_DIR]
"""

import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

# Keep in sync with REFERENCE_SENTENCES in src/embed/local.rs.
SENTENCES = [
    "The cat sits on the mat.",
    "How do I reset my password?",
    "Quarterly revenue grew by twelve percent compared to last year.",
    "Rust's borrow checker prevents data races at compile time.",
    "Ünïcödé text, emojis 🚀 and numbers 12345 are handled too.",
]
MAX_LENGTH = 256


def load(model_dir: Path):
    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok.enable_truncation(max_length=MAX_LENGTH)
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(
        str(model_dir / "model.onnx"), opts, providers=["CPUExecutionProvider"]
    )
    return tok, sess


def embed(tok, sess, texts):
    enc = tok.encode_batch(texts)
    ids = np.array([e.ids for e in enc], dtype=np.int64)
    mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
    types = np.array([e.type_ids for e in enc], dtype=np.int64)
    feeds = {"input_ids": ids, "attention_mask": mask}
    if any(i.name == "token_type_ids" for i in sess.get_inputs()):
        feeds["token_type_ids"] = types
    (hidden,) = sess.run(["last_hidden_state"], feeds)
    m = mask[:, :, None].astype(np.float32)
    pooled = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return pooled / np.maximum(norms, 1e-12)


def main():
    model_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("models/all-MiniLM-L6-v2")
    tok, sess = load(model_dir)
    print(f"// onnxruntime {ort.__version__}, model dir {model_dir}")
    for s in SENTENCES:
        v = embed(tok, sess, [s])[0]
        head = ", ".join(f"{x:.6f}" for x in v[:8])
        print(f"    // {s}")
        norm = float(np.linalg.norm(v))
        total = float(v.sum())
        print(f"    Reference {{ head: [{head}], norm: {norm:.6f}, sum: {total:.6f} }},")


if __name__ == "__main__":
    main()
