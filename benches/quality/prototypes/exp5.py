"""Session 13: nested regions from a hierarchy instead of three flat KMeans
partitions. The 12-row KMeans cells are joined bottom-up (Ward linkage on their
centroids, weighted by rows); every node of the tree with >= 5 rows is a
candidate region. phi per node is the KMeans design effect of the scale nearest
its size (12/25/50, as shipped); test, Tarone and Holm as shipped.
HIER=0 runs the shipped flat design for comparison.
Usage: python3 exp5.py KIND HELD SEEDS [SHARE]"""
import os
from common import *
from scipy.cluster.hierarchy import linkage

HIER = os.environ.get('HIER', '1') == '1'
MAXN = int(os.environ.get('MAXN', '400'))

def run(pooled, isg, nov, seed, alpha=0.05, sizes=(12, 25, 50), dims=32):
    m0 = int(isg.sum()); pi0 = isg.mean()
    Z, labs, phis, bases = scaled_partitions(pooled, isg, seed, sizes, dims)
    regions = []  # member index arrays
    if HIER:
        lab = labs[0]; k = lab.max() + 1
        members = [np.nonzero(lab == c)[0] for c in range(k)]
        C = np.array([Z[m].mean(0) if len(m) else np.zeros(Z.shape[1]) for m in members])
        live = [c for c in range(k) if len(members[c])]
        L = linkage(C[live], method='ward')
        nodes = [members[c] for c in live]
        for a, b, _, _ in L:
            nodes.append(np.concatenate([nodes[int(a)], nodes[int(b)]]))
        regions = [m for m in nodes if 5 <= len(m) <= MAXN]
    else:
        for lab in labs:
            for c in range(lab.max() + 1):
                m = np.nonzero(lab == c)[0]
                if len(m) >= 5: regions.append(m)
    fam = []
    for m in regions:
        n = len(m); g = int(isg[m].sum())
        si = int(np.argmin([abs(np.log(n / s)) for s in sizes]))
        fam.append((deflated_cdf(g, n, bases[si], phis[si]), deflated_cdf(0, n, bases[si], phis[si]), m))
    sig, size = significant(fam, alpha)
    res = []
    for f in sig:
        mem = f[2][f[2] >= m0] - m0
        res.append((nov[mem].mean() if len(mem) else 0, len(mem)))
    return res, phis, size

score_designs(run)
