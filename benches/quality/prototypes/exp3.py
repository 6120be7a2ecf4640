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
    fired = pure_runs = 0
    for seed, pooled, isg, nov in scenarios():
        m0 = int(isg.sum())
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
    print('FIRED', fired, 'PURE', pure_runs, 'of', sys.argv[3])
main()
