"""Session 19: does a different label-blind partition isolate new topics better
than KMeans on 32 PCA dimensions? Same test as the shipped design (exp.py's
`current`), only the regions change. PART = kmeans | kmeans_full | ward |
spectral | agglo_avg."""
import os, sys, time
import numpy as np
from common import *
from exp import current
from sklearn.cluster import AgglomerativeClustering, SpectralClustering
from sklearn.neighbors import kneighbors_graph

PART = os.environ.get('PART', 'kmeans')
SIZES = tuple(int(x) for x in os.environ.get('SIZES', '12,25,50').split(','))
KNN = int(os.environ.get('KNN', '10'))

def parts(pooled, seed):
    if PART == 'kmeans':
        return partitions(pooled, sizes=SIZES, dims=32, seed=seed)
    if PART == 'kmeans_full':
        return partitions(pooled, sizes=SIZES, dims=pooled.shape[1], seed=seed)
    n = len(pooled); out = []
    if PART == 'ward':
        for s in SIZES:
            out.append(AgglomerativeClustering(n_clusters=max(2, n // s), linkage='ward').fit_predict(pooled))
        return out
    if PART == 'wardknn':
        conn = kneighbors_graph(pooled, KNN, include_self=False)
        for s in SIZES:
            out.append(AgglomerativeClustering(n_clusters=max(2, n // s), linkage='ward', connectivity=conn).fit_predict(pooled))
        return out
    if PART == 'spectral':
        for si, s in enumerate(SIZES):
            sc = SpectralClustering(n_clusters=max(2, n // s), affinity='nearest_neighbors', n_neighbors=KNN,
                                    assign_labels='cluster_qr', random_state=seed + si)
            out.append(sc.fit_predict(pooled))
        return out
    raise ValueError(PART)

TOT = []; IMP = []
for seed, pooled, isg, nov in scenarios():
    t0 = time.time(); m0 = int(isg.sum())
    labs = parts(pooled, seed)
    sig, phis, fam = current(labs, isg, m0)
    def purity(si, r):
        mem = np.nonzero(labs[si] == r)[0]; mem = mem[mem >= m0] - m0
        return nov[mem].mean() if len(mem) else 0
    pur = [purity(f[2], f[3]) for f, h in sig]
    TOT.append(any(p >= 0.7 for p in pur)); IMP.append(any(p < 0.7 for p in pur))
    print(f'seed {seed} phi={[round(x,2) for x in phis]} fam={fam} sig={len(sig)} pure={sum(p>=0.7 for p in pur)} ({time.time()-t0:.1f}s)', flush=True)
print(PART, ' '.join(sys.argv[1:]), 'DET', sum(TOT), 'IMPURE', sum(IMP), 'of', len(TOT))
