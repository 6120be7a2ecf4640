import sys, time
from common import *
import numpy as np
from scipy.stats import binom

def units(X, min_cos=0.8, cap=20):
    n = len(X); S = X @ X.T
    ii, jj = np.nonzero(np.triu(S >= min_cos, 1))
    v = S[ii, jj]; o = np.lexsort((jj, ii, -v))
    parent = list(range(n)); size = [1]*n
    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]; i = parent[i]
        return i
    for k in o:
        a, b = find(ii[k]), find(jj[k])
        if a != b and size[a] + size[b] <= cap:
            parent[max(a,b)] = min(a,b); size[min(a,b)] = size[a] + size[b]
    return np.array([find(i) for i in range(n)])

def region_counts(labs, isg):
    out = []
    for lab in labs:
        k = lab.max()+1
        n = np.bincount(lab, minlength=k); g = np.bincount(lab, weights=isg, minlength=k)
        out.append((g, n))
    return out

def current(labs, isg, m0, alpha=0.05):
    pi0 = isg.mean()
    fam = []
    phis = []
    for g, n in region_counts(labs, isg):
        counts = list(zip(g.astype(int), n))
        base = baseline(counts, pi0); phi = deff(counts, base); phis.append(phi)
        for r, (gg, nn) in enumerate(counts):
            if nn < 5: continue
            fam.append((deflated_cdf(gg, nn, base, phi), deflated_cdf(0, nn, base, phi), len(phis)-1, r))
    keep = tarone([f[1] for f in fam], alpha)
    fam2 = [f for f, k in zip(fam, keep) if k]
    h = holm([f[0] for f in fam2])
    sig = [(f, hh) for f, hh in zip(fam2, h) if hh < alpha]
    return sig, phis, len(fam2)

def sim_labels(u, isg, model, rng, rho=None):
    # returns new golden indicator
    out = np.zeros_like(isg)
    if model == 'swap':
        # swap golden counts among units of equal size; within unit random positions
        uid, inv = np.unique(u, return_inverse=True)
        sizes = np.bincount(inv); gcount = np.bincount(inv, weights=isg).astype(int)
        members = [[] for _ in uid]
        for i, k in enumerate(inv): members[k].append(i)
        newg = gcount.copy()
        for s in np.unique(sizes):
            ks = np.nonzero(sizes == s)[0]
            newg[ks] = gcount[rng.permutation(ks)]
        for k, m in enumerate(members):
            if newg[k]:
                out[rng.choice(m, newg[k], replace=False)] = 1
        return out
    raise ValueError

def unit_null(labs, isg, u, B=200, seed=0, alpha=0.05):
    rng = np.random.default_rng(seed)
    pi = isg.mean()
    def stats(lbl):
        ps = []
        for g, n in region_counts(labs, lbl):
            m = n >= 5
            ps.append(np.where(m, binom.cdf(g, n, pi), 1.0))
        return ps
    obs = stats(isg)
    obsmin = np.concatenate(obs)
    nullmin = []
    for b in range(B):
        lbl = sim_labels(u, isg, 'swap', rng)
        nullmin.append(np.concatenate(stats(lbl)).min())
    nullmin = np.array(nullmin)
    padj = (1 + (nullmin[None, :] <= obsmin[:, None]).sum(1)) / (B + 1)
    return obsmin, padj, nullmin

import os
SIZES = tuple(int(x) for x in os.environ.get('SIZES','12,25,50').split(','))
DIMS = int(os.environ.get('DIMS','32'))
NOUNIT = os.environ.get('UNIT') is None
TOT=[]; IMP=[]
def main():
    for seed, pooled, isg, nov in scenarios():
        t0 = time.time()
        m0 = int(isg.sum())
        labs = partitions(pooled, sizes=SIZES, dims=DIMS, seed=seed)
        sig, phis, fam = current(labs, isg, m0)
        # purity of significant regions
        def purity(si, r):
            mem = np.nonzero(labs[si] == r)[0]; mem = mem[mem >= m0] - m0
            return nov[mem].mean() if len(mem) else 0, len(mem)
        cur = [(round(f[0],7), round(h,3), purity(f[2], f[3])) for f, h in sig]
        if NOUNIT:
            print(f'seed {seed} phi={[round(x,2) for x in phis]} fam={fam} cur={len(cur)} pure={sum(1 for c in cur if c[2][0]>=0.7)}', flush=True); TOT.append(sum(1 for c in cur if c[2][0]>=0.7)>0); IMP.append(any(c[2][0]<0.7 for c in cur)); continue
        u = units(pooled)
        obsmin, padj, nullmin = unit_null(labs, isg, u, seed=seed)
        # map flat index to (scale, region)
        flat = [(si, r) for si, lab in enumerate(labs) for r in range(lab.max()+1)]
        sigu = [(obsmin[i], padj[i], purity(*flat[i])) for i in np.nonzero(padj < 0.05)[0]]
        sigu.sort()
        nu = len(np.unique(u))
        TOT.append(sum(1 for c in sigu if c[2][0]>=0.7)>0); IMP.append(any(c[2][0]<0.7 for c in sigu))
        print(f"seed {seed} phi={[round(x,2) for x in phis]} fam={fam} units={nu} cur={len(cur)} pure={sum(1 for c in cur if c[2][0]>=0.7)} unit={len(sigu)} pure={sum(1 for c in sigu if c[2][0]>=0.7)} null_minp q50={np.median(nullmin):.2e} q95={np.quantile(nullmin,0.05):.2e} ({time.time()-t0:.0f}s)")
        for c in cur[:4]: print("   cur", c)
        for c in sigu[:4]: print("   unit", c)
if __name__ == '__main__':
    main(); print('DET', sum(TOT), 'IMPURE', sum(IMP), 'of', len(TOT))
