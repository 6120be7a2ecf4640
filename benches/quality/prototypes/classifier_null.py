# Null calibration and power of a cross-validated domain classifier's AUC test
# (sessions 22-23). Usage:
#   python3 classifier_null.py fortunes N_SPLITS
#       random 1000/1000 splits of Debian's fortunes (MiniLM embeddings from
#       the bench cache: run `cargo bench --bench quality -- ../shared/data
#       --only fortunes` first);
#   python3 classifier_null.py synthetic N_SPLITS SHIFT
#       isotropic-spectrum 384-d Gaussian rows on the unit sphere, 1000 per
#       side; SHIFT > 0 moves that share of production to a new cluster.
# For each split it prints the z of three designs, scikit-learn's logistic
# regression (C = 1) in each fold:
#   pooled5      5 folds, every fold's held-out scores pooled into one
#                DeLong/Mann-Whitney z (driftwatch before session 23);
#   pooled5/√2   the same z divided by √2 (each pair of rows in different
#                folds is counted twice, once through each fold's model);
#   mean2        2 folds, each fold's held-out rows tested on their own, the
#                two z averaged (driftwatch since session 23);
#   mean5        5 folds, the five per-fold z averaged (conservative).
import sys, os, glob, numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from scipy.stats import rankdata

def auc_var(s, y):
    # DeLong's placement-value variance (one row per cluster).
    pos = s[y == 1]; neg = s[y == 0]; m = len(pos); n = len(neg)
    r = rankdata(np.r_[pos, neg]); rp = rankdata(pos); rn = rankdata(neg)
    v10 = (r[:m] - rp) / n; v01 = 1 - (r[m:] - rn) / m
    return v10.mean(), v10.var(ddof=1) / m + v01.var(ddof=1) / n

def zs_of(X, y, seed, k):
    s = np.zeros(len(y)); per = []
    for tr, te in StratifiedKFold(k, shuffle=True, random_state=seed).split(X, y):
        s[te] = LogisticRegression(C=1.0, max_iter=200).fit(X[tr], y[tr]).decision_function(X[te])
        a, v = auc_var(s[te], y[te]); per.append((a - .5) / np.sqrt(v))
    a, v = auc_var(s, y)
    return (a - .5) / np.sqrt(v), float(np.mean(per))

def fortunes():
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from cache_to_npy import read_cache
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), '../../..')
    c = read_cache(glob.glob(os.path.join(root, 'target/quality-cache/all_MiniLM*.bin'))[0])
    texts = []; seen = set(); d = '/usr/share/games/fortunes'
    for f in sorted(os.listdir(d)):
        p = os.path.join(d, f)
        if '.' in f or not os.path.isfile(p) or f in ('ascii-art', 'translate-me', 'pratchett'): continue
        for x in open(p, 'rb').read().decode('utf-8', 'replace').split('\n%\n'):
            x = ' '.join(x.split())
            if not x or x == '%' or len(x.encode()) > 600 or x in seen: continue
            seen.add(x); texts.append(x)
    return np.stack([c[t] for t in texts if t in c])

mode, N = sys.argv[1], int(sys.argv[2])
shift = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
rng = np.random.default_rng(0)
pool = fortunes() if mode == 'fortunes' else None
d = 384; spec = 1 / np.arange(1, d + 1)
res = {k: [] for k in ('pooled5', 'pooled5/√2', 'mean2', 'mean5')}
for it in range(N):
    if pool is not None:
        X = pool[rng.permutation(len(pool))[:2000]]
    else:
        X = rng.standard_normal((2000, d)) * np.sqrt(spec)
        k = int(shift * 1000)
        if k:
            c = rng.standard_normal(d) * np.sqrt(spec)
            X[1000:1000 + k] = 0.6 * X[1000:1000 + k] + c
        X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = np.r_[np.zeros(1000), np.ones(1000)]
    p5, m5 = zs_of(X, y, it, 5); _, m2 = zs_of(X, y, it, 2)
    res['pooled5'].append(p5); res['pooled5/√2'].append(p5 / np.sqrt(2))
    res['mean2'].append(m2); res['mean5'].append(m5)
for k, z in res.items():
    z = np.array(z)
    print(f'{mode} shift {shift} {k:11s} n {len(z)} mean z {z.mean():.3f} sd {z.std():.3f} '
          f'fires at 5% {(z > 1.645).mean():.3f} at 1% {(z > 2.326).mean():.3f}')
