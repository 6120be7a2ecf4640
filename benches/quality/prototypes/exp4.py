"""Session 13: is the design effect that deflates the gap regions noise or signal?
Variants of the shipped design (exp.py `current`), regions always from the first
KMeans partition of each scale; only phi changes:
  R=1            shipped
  R=5            phi per scale = mean over 5 KMeans restarts of the median-based estimate
  ORACLE=1       phi from the regions holding no held-out row (a diagnostic, not a design)
Usage: python3 exp4.py KIND HELD SEEDS [SHARE]"""
import os, time
from common import *
from exp import region_counts

R = int(os.environ.get('R', '1'))
ORACLE = os.environ.get('ORACLE') is not None

def run(pooled, isg, nov, m0, seed, alpha=0.05, sizes=(12, 25, 50), dims=32):
    Z = PCA(dims, random_state=seed).fit_transform(pooled)
    pi0 = isg.mean()
    isnov = np.r_[np.zeros(m0, bool), nov]
    fam, phis = [], []
    for si, s in enumerate(sizes):
        k = max(2, len(pooled) // s)
        labs = [KMeans(k, n_init=1, random_state=seed + si + 1000 * r, max_iter=100).fit_predict(Z) for r in range(R)]
        ests = []
        for lab in labs:
            n = np.bincount(lab, minlength=k); g = np.bincount(lab, weights=isg, minlength=k)
            counts = list(zip(g.astype(int), n))
            base = baseline(counts, pi0)
            if ORACLE:
                hasnov = np.bincount(lab, weights=isnov, minlength=k) > 0
                cc = [c for c, h in zip(counts, hasnov) if not h]
            else:
                cc = counts
            ests.append((deff(cc, base), base))
        phi = float(np.mean([e[0] for e in ests])); base = ests[0][1]
        phis.append(phi)
        lab = labs[0]
        n = np.bincount(lab, minlength=k); g = np.bincount(lab, weights=isg, minlength=k)
        for r_, (gg, nn) in enumerate(zip(g.astype(int), n)):
            if nn < 5: continue
            fam.append((deflated_cdf(gg, nn, base, phi), deflated_cdf(0, nn, base, phi), lab, r_))
    res = []
    for f in significant(fam, alpha)[0]:
        mem = np.nonzero(f[2] == f[3])[0]; mem = mem[mem >= m0] - m0
        res.append(nov[mem].mean() if len(mem) else 0)
    return res, phis

det = imp = tot = 0
for seed, pooled, isg, nov in scenarios():
    m0 = int(isg.sum())
    res, phis = run(pooled, isg, nov, m0, seed)
    d = any(x >= 0.7 for x in res); i = any(x < 0.7 for x in res)
    det += d; imp += i; tot += 1
    print(f'seed {seed} phi={[round(x, 2) for x in phis]} sig={len(res)} det={d} impure={i}', flush=True)
print('DET', det, 'IMPURE', imp, 'of', tot)
