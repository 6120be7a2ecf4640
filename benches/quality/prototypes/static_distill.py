"""Distils a static (per-token) embedding table from the local all-MiniLM-L6-v2,
the way Model2Vec's `distill` does, without torch (see README.md here).

1. every WordPiece token except `[unusedN]` is run through the ONNX model on its
   own as `[CLS] tok [SEP]`, and the output is mean-pooled over those three
   positions (the sentence model's pooling; Model2Vec's default `mean`);
2. PCA to 256 dimensions (sklearn, centred) over those token vectors;
3. each vector is scaled by a SIF weight from a Zipf estimate of the token's
   probability by its rank in vocabulary order: p = (1/(rank+2)) / sum,
   weight = a / (a + p), a = SIF (default 1e-3; Model2Vec 0.10's default is 1e-4).

Writes target/minilm-static-256.npy: one float32 row per token id (30,522 × 256);
the rows of the special tokens ([PAD] [UNK] [CLS] [SEP] [MASK]) and of
`[unusedN]` are zero, and static_embed.py drops those ids from a text.

    python3 static_distill.py [--sif 1e-3] [--dims 256] [--out PATH]
"""
import argparse, json, os, re, time
os.environ.setdefault('OMP_NUM_THREADS', '1')
import numpy as np, onnxruntime as ort
from sklearn.decomposition import PCA
from common import ROOT

M = os.path.join(ROOT, 'models', 'all-MiniLM-L6-v2')


def excluded_ids(tok_json):
    """Ids never embedded into a text: special tokens and [unusedN]."""
    vocab = tok_json['model']['vocab']
    special = {a['id'] for a in tok_json['added_tokens'] if a['special']}
    unused = {i for t, i in vocab.items() if re.fullmatch(r'\[unused\d+\]', t)}
    return special, unused


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--sif', type=float, default=1e-3)
    ap.add_argument('--dims', type=int, default=256)
    ap.add_argument('--batch', type=int, default=256)
    ap.add_argument('--out', default=os.path.join(ROOT, 'target', 'minilm-static-256.npy'))
    a = ap.parse_args()

    t0 = time.time()
    tj = json.load(open(os.path.join(M, 'tokenizer.json'), encoding='utf-8'))
    vocab = tj['model']['vocab']
    n_vocab = max(vocab.values()) + 1
    special, unused = excluded_ids(tj)
    cls, sep = vocab['[CLS]'], vocab['[SEP]']
    # Model2Vec's vocabulary: every token but [unusedN], in id order (its Zipf rank)
    ids = np.array(sorted(i for i in vocab.values() if i not in unused))

    so = ort.SessionOptions(); so.intra_op_num_threads = 1; so.inter_op_num_threads = 1
    s = ort.InferenceSession(os.path.join(M, 'model.onnx'), so)
    has_tt = 'token_type_ids' in [x.name for x in s.get_inputs()]
    out = np.empty((len(ids), 384), np.float32)
    for b in range(0, len(ids), a.batch):
        chunk = ids[b:b + a.batch]
        inp = np.stack([np.full(len(chunk), cls), chunk, np.full(len(chunk), sep)], 1).astype(np.int64)
        am = np.ones_like(inp)
        feeds = {'input_ids': inp, 'attention_mask': am}
        if has_tt: feeds['token_type_ids'] = np.zeros_like(inp)
        h = s.run(None, feeds)[0]
        out[b:b + len(chunk)] = h.mean(1)          # every position is real: plain mean
    t_fwd = time.time() - t0

    Z = PCA(a.dims, random_state=0, svd_solver='full').fit_transform(out.astype(np.float64))
    rank = np.arange(len(ids))                      # ids are in vocabulary order
    inv = 1.0 / (rank + 2); p = inv / inv.sum()
    w = a.sif / (a.sif + p)
    Z = Z * w[:, None]

    table = np.zeros((n_vocab, a.dims), np.float32)
    table[ids] = Z
    table[sorted(special)] = 0.0
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    np.save(a.out, table)
    t = time.time() - t0
    print(f'{len(ids)} tokens embedded in {t_fwd:.1f}s (ONNX, 1 thread, batch {a.batch}); '
          f'PCA 384->{a.dims} + SIF a={a.sif:g}; total {t:.1f}s -> {a.out} {table.shape} float32')
    print(f'SIF weight: rank 0 {w[0]:.4f}, rank 100 {w[100]:.4f}, rank 1000 {w[1000]:.4f}, last {w[-1]:.4f}')


if __name__ == '__main__':
    main()
