import sys, time
from common import *
from exp import units, sim_labels
import numpy as np
from scipy.stats import binom

KS = np.array([8, 12, 16, 24, 32, 48, 64])

def knn(pooled, kmax):
    S = pooled @ pooled.T
    np.fill_diagonal(S, 2.0)  # self first
    idx = np.argpartition(-S, kmax, axis=1)[:, :kmax]
    ss = np.take_along_axis(S, idx, 1)
    o = np.argsort(-ss, axis=1, kind='stable')
    return np.take_along_axis(idx, o, 1)  # includes self at col 0

def ball_p(nb, isg, pi):
    c = np.cumsum(isg[nb], axis=1)  # golden count in first j+1 rows
    g = c[:, KS - 1]
    return binom.cdf(g, KS[None, :], pi)  # n x len(KS)

def scan(pooled, isg, u, B=200, seed=0, alpha=0.05):
    rng = np.random.default_rng(seed)
    pi = isg.mean()
    nb = knn(pooled, KS.max())
    P = ball_p(nb, isg, pi)
    # only production-centred balls
    P[isg == 1] = 1.0
    nullmin = []
    for b in range(B):
        l = sim_labels(u, isg, 'swap', rng)
        Q = ball_p(nb, l, pi); Q[l == 1] = 1.0
        nullmin.append(Q.min())
    nullmin = np.sort(np.array(nullmin))
    # secondary clusters: greedy non-overlapping
    order = np.argsort(P, axis=None)
    used = np.zeros(len(isg), bool); found = []
    for f in order[:5000]:
        i, j = divmod(f, len(KS))
        p = P[i, j]
        padj = (1 + np.searchsorted(nullmin, p, side='right')) / (B + 1)
        if padj >= alpha: break
        mem = nb[i, :KS[j]]
        if used[mem].any(): continue
        used[mem] = True
        found.append((p, padj, mem))
    return found, nullmin

def main():
    det = fa = 0
    for seed, pooled, isg, nov in scenarios():
        t0 = time.time()
        m0 = int(isg.sum())
        u = units(pooled)
        found, nullmin = scan(pooled, isg, u, seed=seed)
        res = []
        for pv, pa, mem in found:
            pm = mem[mem >= m0] - m0
            res.append((f"{pv:.1e}", round(pa, 3), len(mem), round(float(nov[pm].mean()) if len(pm) else 0, 2)))
        pure = sum(1 for r in res if r[3] >= 0.7)
        det += pure > 0; fa += len(res) > pure
        print(f"seed {seed} null q50={np.median(nullmin):.1e} q05={np.quantile(nullmin,0.05):.1e} found={len(res)} pure={pure} {res[:5]} ({time.time()-t0:.0f}s)", flush=True)
    print(f"detected {det}/{sys.argv[3]} impure-runs {fa}/{sys.argv[3]}")
main()
