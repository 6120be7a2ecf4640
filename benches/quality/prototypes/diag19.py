"""Session 19: in seeds with no significant region, how far is the best region
from Holm's threshold? Prints the smallest deflated p, the family size after
Tarone, and the ratio p_min * family / alpha (< 1 would be significant)."""
import os
from common import *
import exp8
for seed, pooled, isg, nov in scenarios():
    regs, phis, bases = exp8.regions(pooled, isg, seed)
    m0 = int(isg.sum())
    fam = []
    for m, si in regs:
        n = len(m); g = int(isg[m].sum())
        fam.append((deflated_cdf(g, n, bases[si], phis[si]), deflated_cdf(0, n, bases[si], phis[si]), m, si, g, n))
    keep = tarone([f[1] for f in fam], 0.05); F = int(np.sum(keep))
    best = min(fam, key=lambda f: f[0])
    mem = best[2][best[2] >= m0] - m0
    print(f'seed {seed}: family {F}, best p {best[0]:.1e} (scale {best[3]}, {best[4]}/{best[5]} golden, held-out share {nov[mem].mean():.2f}) ratio {best[0]*F/0.05:.2f}', flush=True)
