"""Shared helpers of the detection prototypes (see README.md here)."""
import numpy as np, csv, struct, os, sys
from scipy.special import betainc
from scipy.stats import binom
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
DATA = os.environ.get('DATA', os.path.join(ROOT, '..', 'shared', 'data'))
EMB = os.path.join(ROOT, 'target', 'banking77-minilm.npy')
# EMB_PATH: the embedding the design runs on (default MiniLM). GROUP_EMB_PATH: the
# one that builds the grouped split's near-duplicate groups and picks the distinct
# rows (default MiniLM), so every embedding sees the same scenario rows.
GROUP_EMB = os.environ.get('GROUP_EMB_PATH', EMB)
EMB = os.environ.get('EMB_PATH', EMB)
_MINILM = None
def minilm_embed(texts, batch=64):
    """all-MiniLM-L6-v2 (the local int8 ONNX model, one thread): mean-pooled,
    L2-normalised rows, batches of `batch` in the given order."""
    global _MINILM
    import onnxruntime as ort
    from tokenizers import Tokenizer
    if _MINILM is None:
        m = os.path.join(ROOT, 'models', 'all-MiniLM-L6-v2')
        tok = Tokenizer.from_file(os.path.join(m, 'tokenizer.json')); tok.enable_padding(); tok.enable_truncation(256)
        so = ort.SessionOptions(); so.intra_op_num_threads = 1
        s = ort.InferenceSession(os.path.join(m, 'model.onnx'), so)
        _MINILM = (tok, s, 'token_type_ids' in [x.name for x in s.get_inputs()])
    tok, s, has_tt = _MINILM
    out = []
    for i in range(0, len(texts), batch):
        enc = tok.encode_batch(texts[i:i + batch])
        ids = np.array([e.ids for e in enc], dtype=np.int64); am = np.array([e.attention_mask for e in enc], dtype=np.int64)
        feeds = {'input_ids': ids, 'attention_mask': am}
        if has_tt: feeds['token_type_ids'] = np.zeros_like(ids)
        h = s.run(None, feeds)[0]
        v = (h * am[..., None]).sum(1) / am.sum(1, keepdims=True)
        out.append(v / np.linalg.norm(v, axis=1, keepdims=True))
    return np.concatenate(out)

def load_banking():
    rows = []
    for f in ['train.csv', 'test.csv']:
        with open(os.path.join(DATA, 'banking77', f)) as fh:
            for r in csv.DictReader(fh):
                rows.append((r['text'], r['category']))
    return rows

def groups09(X):
    n = len(X); parent = list(range(n))
    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]; i = parent[i]
        return i
    S = X @ X.T
    ii, jj = np.nonzero(np.triu(S >= 0.9, 1))
    for i, j in zip(ii, jj):
        a, b = find(i), find(j)
        if a != b: parent[max(a,b)] = min(a,b)
    by = {}
    for i in range(n): by.setdefault(find(i), []).append(i)
    out = []
    for r in sorted(by.values()):
        for c in range(0, len(r), 20): out.append(r[c:c+20])
    return out

def build(kind, seed, texts, intents, X, groups=None, held=0, share=0.05, G=1000, P=2000):
    r = np.random.default_rng(seed)
    n = len(texts)
    novel = np.zeros(n, bool)
    if held:
        ints = sorted(set(intents)); r.shuffle(ints); keys = set(ints[:held])
        novel = np.array([it in keys for it in intents])
    known = np.nonzero(~novel)[0]; fresh = np.nonzero(novel)[0]
    nn = int(round(share * P)) if held else 0
    if kind == 'grouped':
        order = list(range(len(groups))); r.shuffle(order)
        g, p = [], []
        for k in order:
            if len(g) < G: g.extend(groups[k][:G-len(g)])
            elif len(p) < P - nn: p.extend(groups[k][:P-nn-len(p)])
            else: break
        g, p = np.array(g), np.array(p)
    else:
        known = known.copy(); r.shuffle(known)
        g, p = known[:G], known[G:G+P-nn]
    fresh = fresh.copy(); r.shuffle(fresh)
    p = np.concatenate([p, fresh[:nn]])
    return g, p, novel[p]

def distinct(idx, X):
    seen = set(); out = []
    for i in idx:
        k = X[i].tobytes()
        if k not in seen: seen.add(k); out.append(i)
    return np.array(out)

CHI2_MED = 0.454936423119572
def deflated_cdf(g, n, pi, phi):
    ne, ge = n/phi, g/phi
    if ge >= ne: return 1.0
    return float(np.clip(betainc(ne-ge, ge+1, 1-pi), 0, 1))

def baseline(counts, pi0):
    sh = sorted([(g/n, g, n) for g, n in counts if n >= 5])
    if len(sh) < 4: return pi0
    lo, hi = len(sh)//4, len(sh) - len(sh)//4
    gg = sum(s[1] for s in sh[lo:hi]); nn = sum(s[2] for s in sh[lo:hi])
    return gg/nn if nn else pi0

def deff(counts, pi):
    z2 = [ (g - n*pi)**2/(n*pi*(1-pi)) for g, n in counts if n >= 5]
    if len(z2) < 3: return 1.0
    return max(1.0, float(np.median(z2))/CHI2_MED)

def holm(ps):
    ps = np.asarray(ps); m = len(ps); o = np.argsort(ps, kind='stable')
    adj = np.empty(m); run = 0
    for rank, i in enumerate(o):
        run = max(run, min(1.0, (m-rank)*ps[i])); adj[i] = run
    return adj

def tarone(pmin, alpha):
    pmin = np.asarray(pmin); m = len(pmin)
    for K in range(1, m+1):
        if np.sum(pmin <= alpha/K) <= K:
            return pmin <= alpha/K
    return pmin <= alpha/m

def significant(fam, alpha):
    """Tarone's family over (p, p_min, ...) tuples, then Holm: the tuples
    whose adjusted p is below alpha, and the family size."""
    keep = tarone([f[1] for f in fam], alpha)
    fam2 = [f for f, kk in zip(fam, keep) if kk]
    h = holm([f[0] for f in fam2])
    return [f for f, hh in zip(fam2, h) if hh < alpha], len(fam2)

def scaled_partitions(pooled, isg, seed, sizes=(12, 25, 50), dims=32):
    """The shipped regions with their per-scale baseline share and design
    effect: (projected rows, labels per scale, φ per scale, baseline per scale)."""
    pi0 = isg.mean()
    Z = PCA(dims, random_state=seed).fit_transform(pooled)
    labs, phis, bases = [], [], []
    for si, s in enumerate(sizes):
        k = max(2, len(pooled) // s)
        lab = KMeans(k, n_init=1, random_state=seed + si, max_iter=100).fit_predict(Z)
        n = np.bincount(lab, minlength=k); g = np.bincount(lab, weights=isg, minlength=k)
        counts = list(zip(g.astype(int), n))
        b = baseline(counts, pi0); bases.append(b); phis.append(deff(counts, b)); labs.append(lab)
    return Z, labs, phis, bases

def partitions(pooled, sizes=(12,25,50), dims=32, seed=0):
    Z = PCA(dims, random_state=seed).fit_transform(pooled) if dims < pooled.shape[1] else pooled
    out = []
    for si, s in enumerate(sizes):
        k = max(2, len(pooled)//s)
        lab = KMeans(k, n_init=1, random_state=seed+si, max_iter=100).fit_predict(Z)
        out.append(lab)
    return out


def scenarios():
    """Yields (seed, pooled, isg, nov) for the scenario named on the command
    line: `KIND HELD SEEDS [SHARE]` (kind row | grouped; HELD held-out intents,
    0 = no drift). `pooled` holds the distinct golden rows then the distinct
    production rows, `isg` marks golden rows, `nov` production rows of a
    held-out intent."""
    bank = load_banking()
    texts = [t for t, _ in bank]; intents = [c for _, c in bank]
    X = np.load(EMB)
    X = X / np.linalg.norm(X, axis=1, keepdims=True)
    XG = X
    if os.path.abspath(GROUP_EMB) != os.path.abspath(EMB):
        XG = np.load(GROUP_EMB); XG = XG / np.linalg.norm(XG, axis=1, keepdims=True)
        assert XG.shape[0] == X.shape[0]
    kind, held, seeds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    share = float(sys.argv[4]) if len(sys.argv) > 4 else 0.05
    groups = groups09(XG) if kind == 'grouped' else None
    for seed in range(seeds):
        g, p, nov = build(kind, seed, texts, intents, X, groups, held, share)
        g = distinct(g, XG); keep = distinct(p, XG)
        pos = {i: k for k, i in enumerate(p)}
        nov = np.array([nov[pos[i]] for i in keep]); p = keep
        pooled = np.concatenate([X[g], X[p]])
        isg = np.r_[np.ones(len(g)), np.zeros(len(p))]
        yield seed, pooled, isg, nov

def score_designs(run, tag='', verbose=True):
    """Runs `run(pooled, isg, nov, seed) -> (gaps, phis, family size)` on
    every seed of the scenario on the command line, where each gap is
    (held-out share of its production rows, rows); prints per seed (when
    `verbose`) and `DET d IMPURE i of n`: seeds with a gap ≥ 70 % held-out,
    and seeds with one below."""
    det = imp = tot = 0
    for seed, pooled, isg, nov in scenarios():
        res, phis, fam = run(pooled, isg, nov, seed)
        d = any(x >= 0.7 for x, _ in res); i = any(x < 0.7 for x, _ in res)
        det += d; imp += i; tot += 1
        if verbose:
            print(f'seed {seed} phi={[round(x, 2) for x in phis]} fam={fam} gaps={[(round(a, 2), b) for a, b in res][:5]} det={d} impure={i}', flush=True)
    print((tag + ' ' if tag else '') + f'DET {det} IMPURE {imp} of {tot}')
