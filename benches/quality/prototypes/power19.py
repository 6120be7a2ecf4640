"""Session 19: how much evidence does a broad near topic leave at all? Per seed,
the production rows' total count of golden rows among their K nearest pooled
neighbours (cosine), for the held-out scenario and for no drift on the same
seeds; the separation in no-drift standard deviations bounds what any test built
on golden/production neighbourhoods can see. Also an oracle: the same count
over the held-out rows only, against the same number of random covered rows."""
import sys
import numpy as np
from common import *
K = 10
def stat(pooled, isg, nov):
    m0 = int(isg.sum())
    S = pooled[m0:] @ pooled.T
    for i in range(len(S)): S[i, m0 + i] = -2
    nn = np.argpartition(-S, K, axis=1)[:, :K]
    g = (nn < m0).sum(1)
    return g.sum(), g[nov].sum() if nov.any() else 0, g
held = int(sys.argv[2])
sys.argv[2] = '0'
base = [stat(p, i, n)[0] for _, p, i, n in scenarios()]
sys.argv[2] = str(held)
drift = []; orc = []
for seed, p, i, n in scenarios():
    tot, nv, g = stat(p, i, n)
    drift.append(tot)
    cov = g[~n]; orc.append((nv, cov.mean() * n.sum(), cov.std() * np.sqrt(n.sum())))
b = np.array(base); d = np.array(drift)
print(f'held {held}: no-drift total mean {b.mean():.0f} sd {b.std():.0f}; drift total mean {d.mean():.0f}; separation {(b.mean()-d.mean())/b.std():.2f} sd')
o = np.array(orc)
print(f'oracle: held-out rows golden-neighbour sum {o[:,0].mean():.0f} vs covered rows scaled {o[:,1].mean():.0f} (iid sd {o[:,2].mean():.0f})')
