"""Embeds BANKING77 with the static table from static_distill.py (see README.md
here): the same tokenizer.json, no special tokens added, special and [unusedN]
ids dropped, mean of the token vectors, L2-normalised (Model2Vec's `encode`).

Writes target/banking77-static.npy in load_banking()'s row order (the order
embed.py writes target/banking77-minilm.npy), times the embedding of every
query on one thread (tokenizer parallelism off), and, if the MiniLM file is
there, prints the Spearman correlation of the two models' cosines on random
pairs and, with --minilm-sample N, times MiniLM on N length-sorted texts.

    python3 static_embed.py [--table PATH] [--out PATH] [--reps 5] [--pairs 2000] [--minilm-sample 0]
"""
import argparse, itertools, json, os, subprocess, time
os.environ['TOKENIZERS_PARALLELISM'] = 'false'
os.environ.setdefault('RAYON_NUM_THREADS', '1')
os.environ.setdefault('OMP_NUM_THREADS', '1')
import numpy as np
from tokenizers import Tokenizer
from scipy.stats import spearmanr
from scipy.sparse import csr_matrix
from common import load_banking, ROOT
from static_distill import M, excluded_ids

T = os.path.join(ROOT, 'target')


class Static:
    def __init__(self, table_path):
        self.E = np.load(table_path)
        self.tok = Tokenizer.from_file(os.path.join(M, 'tokenizer.json'))
        self.tok.no_padding(); self.tok.enable_truncation(512)   # Model2Vec's default max_length
        special, unused = excluded_ids(json.load(open(os.path.join(M, 'tokenizer.json'), encoding='utf-8')))
        self.keep = np.ones(len(self.E), bool); self.keep[list(special | unused)] = False

    def encode(self, texts):
        enc = self.tok.encode_batch_fast(texts, add_special_tokens=False)
        ids = [e.ids for e in enc]
        n = len(ids); lens = np.fromiter(map(len, ids), np.int64, count=n)
        flat = np.fromiter(itertools.chain.from_iterable(ids), np.int64, count=int(lens.sum()))
        seg = np.repeat(np.arange(n), lens)
        k = self.keep[flat]; flat, seg = flat[k], seg[k]
        lens = np.bincount(seg, minlength=n)
        # sum of each text's token rows as a sparse (texts × vocab) count matrix times
        # the table: no (tokens × 256) gather in memory
        indptr = np.r_[0, np.cumsum(lens)]
        C = csr_matrix((np.ones(len(flat), np.float32), flat, indptr), shape=(n, len(self.E)))
        sums = C @ self.E
        v = sums / np.maximum(lens, 1)[:, None]
        n = np.linalg.norm(v, axis=1, keepdims=True)
        return (v / np.where(n > 0, n, 1)).astype(np.float32)


def minilm_rate(texts):
    import onnxruntime as ort
    tok = Tokenizer.from_file(os.path.join(M, 'tokenizer.json')); tok.enable_padding(); tok.enable_truncation(256)
    so = ort.SessionOptions(); so.intra_op_num_threads = 1; so.inter_op_num_threads = 1
    s = ort.InferenceSession(os.path.join(M, 'model.onnx'), so)
    has_tt = 'token_type_ids' in [x.name for x in s.get_inputs()]
    t0 = time.perf_counter()
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    for b in range(0, len(order), 64):
        enc = tok.encode_batch([texts[i] for i in order[b:b + 64]])
        ids = np.array([e.ids for e in enc], np.int64); am = np.array([e.attention_mask for e in enc], np.int64)
        f = {'input_ids': ids, 'attention_mask': am}
        if has_tt: f['token_type_ids'] = np.zeros_like(ids)
        h = s.run(None, f)[0]
        v = (h * am[..., None]).sum(1) / am.sum(1, keepdims=True)
        v / np.linalg.norm(v, axis=1, keepdims=True)
    return len(texts) / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--table', default=os.path.join(T, 'minilm-static-256.npy'))
    ap.add_argument('--out', default=os.path.join(T, 'banking77-static.npy'))
    ap.add_argument('--reps', type=int, default=5)
    ap.add_argument('--pairs', type=int, default=2000)
    ap.add_argument('--minilm-sample', type=int, default=0)
    a = ap.parse_args()

    texts = [t for t, _ in load_banking()]
    t0 = time.perf_counter(); st = Static(a.table); t_load = time.perf_counter() - t0
    X = st.encode(texts)
    np.save(a.out, X)
    times = []
    for _ in range(a.reps):
        t0 = time.perf_counter(); st.encode(texts); times.append(time.perf_counter() - t0)
    med = float(np.median(times))
    tt = []
    for _ in range(a.reps):
        t0 = time.perf_counter(); st.tok.encode_batch_fast(texts, add_special_tokens=False); tt.append(time.perf_counter() - t0)
    up = subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()
    print(f'static: {len(texts)} texts, median of {a.reps} passes {med*1e3:.0f} ms '
          f'(min {min(times)*1e3:.0f}) -> {len(texts)/med:,.0f} texts/s on 1 thread '
          f'(tokenizer parallelism off); of which tokenizing {np.median(tt)*1e3:.0f} ms; table load {t_load*1e3:.0f} ms')
    print(f'  uptime: {up}')
    print(f'  wrote {a.out} {X.shape}; empty texts (no kept token): {int((np.linalg.norm(X, axis=1) == 0).sum())}')

    mp = os.path.join(T, 'banking77-minilm.npy')
    if os.path.exists(mp):
        Y = np.load(mp); Y = Y / np.linalg.norm(Y, axis=1, keepdims=True)
        assert len(Y) == len(X)
        r = np.random.default_rng(0)
        i = r.integers(0, len(X), a.pairs); j = r.integers(0, len(X), a.pairs)
        m = i != j; i, j = i[m], j[m]
        cs, cm = (X[i] * X[j]).sum(1), (Y[i] * Y[j]).sum(1)
        rho = spearmanr(cm, cs).statistic
        # nearest-neighbour agreement on a sample: is the static model's nearest row MiniLM's?
        q = r.choice(len(X), 1000, replace=False)
        SX, SY = X[q] @ X.T, Y[q] @ Y.T
        SX[np.arange(len(q)), q] = -2; SY[np.arange(len(q)), q] = -2
        nn = float(np.mean(SX.argmax(1) == SY.argmax(1)))
        top10 = float(np.mean([len(set(np.argsort(-SX[k])[:10]) & set(np.argsort(-SY[k])[:10])) / 10 for k in range(len(q))]))
        print(f'  cosine agreement with MiniLM on {m.sum()} random pairs (seed 0): Spearman {rho:.3f}; '
              f'mean cosine MiniLM {cm.mean():.3f}, static {cs.mean():.3f}')
        print(f'  1,000 query rows: same nearest neighbour {nn:.1%}, top-10 overlap {top10:.1%}')
    if a.minilm_sample:
        r = np.random.default_rng(1)
        sample = [texts[k] for k in r.choice(len(texts), a.minilm_sample, replace=False)]
        print(f'  MiniLM (ONNX int8, 1 thread, batch 64, length-sorted) on {a.minilm_sample} of the texts: '
              f'{minilm_rate(sample):,.0f} texts/s')


if __name__ == '__main__':
    main()
