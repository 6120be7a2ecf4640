import sys, time
from common import *
from exp import units, sim_labels, region_counts
import numpy as np
from scipy.stats import binom

def agg_stat(labs, isg, pi, t=0.02):
    # production rows in regions whose golden count is improbably low
    tot = 0; masks = []
    for lab in labs:
        k = lab.max()+1
        n = np.bincount(lab, minlength=k); g = np.bincount(lab, weights=isg, minlength=k)
        p = np.where(n >= 5, binom.cdf(g, n, pi), 1.0)
        low = p < t
        masks.append(low[lab] & (isg == 0))
    m = np.logical_or.reduce(masks)
    return m.sum(), m

def main():
    bank = load_banking(); texts = [t for t, _ in bank]; intents = [c for _, c in bank]
    X = np.load(EMB)
    kind, held, seeds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    share = float(sys.argv[4]) if len(sys.argv) > 4 else 0.05
    groups = groups09(X) if kind == 'grouped' else None
    fired = pure_runs = 0
    for seed in range(seeds):
        g, p, nov = build(kind, seed, texts, intents, X, groups, held, share)
        g = distinct(g, X); keep = distinct(p, X)
        pos = {i: k for k, i in enumerate(p)}
        nov = np.array([nov[pos[i]] for i in keep]); p = keep
        pooled = np.concatenate([X[g], X[p]]); m0 = len(g)
        isg = np.r_[np.ones(m0), np.zeros(len(p))]
        labs = partitions(pooled, sizes=(12,), seed=seed)
        u = units(pooled); rng = np.random.default_rng(seed)
        pi = isg.mean()
        obs, mask = agg_stat(labs, isg, pi)
        null = np.array([agg_stat(labs, sim_labels(u, isg, 'swap', rng), pi)[0] for _ in range(200)])
        pv = (1 + (null >= obs).sum()) / 201
        mem = np.nonzero(mask)[0] - m0
        pur = nov[mem].mean() if len(mem) else 0
        fired += pv < 0.05; pure_runs += (pv < 0.05) and pur >= 0.7
        print(f"seed {seed} obs={obs} null mean={null.mean():.0f} q95={np.quantile(null,0.95):.0f} p={pv:.3f} members={len(mem)} purity={pur:.2f}", flush=True)
    print('FIRED', fired, 'PURE', pure_runs, 'of', seeds)
main()
