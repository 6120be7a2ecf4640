"""Session 19: the prototypes so far scored a region's purity on all its
production rows, but the shipped code merges overlapping significant regions
and then keeps only the locally uncovered members (step 6 of region_scan). This
scores designs the way the Rust bench does: merge, trim, then purity per gap.
REG = flat (shipped: KMeans 12/25/50 on PCA 32) | tree (Ward tree over the
12-row cells, every node of 5..MAXN rows, as exp5.py) | flat+tree.
Usage: python3 exp8.py KIND HELD SEEDS [SHARE]"""
import os
from common import *
from scipy.cluster.hierarchy import linkage

REG = os.environ.get('REG', 'flat')
MAXN = int(os.environ.get('MAXN', '400'))
SIZES = tuple(int(x) for x in os.environ.get('SIZES', '12,25,50').split(','))
K = int(os.environ.get('TK', '10'))
TF = float(os.environ.get('TF', '0.5'))

def regions(pooled, isg, seed, dims=32):
    Z, labs, phis, bases = scaled_partitions(pooled, isg, seed, SIZES, dims)
    out = []
    if 'flat' in REG:
        for si, lab in enumerate(labs):
            for c in range(lab.max() + 1):
                m = np.nonzero(lab == c)[0]
                if len(m) >= 5: out.append((m, si))
    if 'tree' in REG:
        lab = labs[0]; k = lab.max() + 1
        members = [np.nonzero(lab == c)[0] for c in range(k)]
        live = [c for c in range(k) if len(members[c])]
        C = np.array([Z[members[c]].mean(0) for c in live])
        L = linkage(C, method='ward')
        nodes = [members[c] for c in live]
        for a, b, _, _ in L:
            nodes.append(np.concatenate([nodes[int(a)], nodes[int(b)]]))
        start = 0 if 'flat' not in REG else len(live)  # leaves already tested as flat cells
        for m in nodes[start:]:
            if 5 <= len(m) <= MAXN:
                si = int(np.argmin([abs(np.log(len(m) / s)) for s in SIZES]))
                out.append((m, si))
    if 'hdb' in REG:
        from sklearn.cluster import HDBSCAN
        mcs = int(os.environ.get('MCS', '10'))
        # Euclidean on unit rows = cosine order; label-blind.
        lab = HDBSCAN(min_cluster_size=mcs, min_samples=int(os.environ.get("MS", "5")), copy=True).fit_predict(Z if os.environ.get('HSPACE', 'pca') == 'pca' else pooled)
        for c in range(lab.max() + 1):
            m = np.nonzero(lab == c)[0]
            if 5 <= len(m) <= MAXN:
                si = int(np.argmin([abs(np.log(len(m) / s)) for s in SIZES]))
                out.append((m, si))
    return out, phis, bases

def run(pooled, isg, nov, seed, alpha=0.05):
    m0 = int(isg.sum())
    regs, phis, bases = regions(pooled, isg, seed)
    fam = []
    for m, si in regs:
        n = len(m); g = int(isg[m].sum())
        fam.append((deflated_cdf(g, n, bases[si], phis[si]), deflated_cdf(0, n, bases[si], phis[si]), m))
    sig, size = significant(fam, alpha)
    sig.sort(key=lambda f: f[0])
    merged = []
    for f in sig:
        prod = set((f[2][f[2] >= m0]).tolist())
        if not prod: continue
        for mm in merged:
            if mm & prod: mm |= prod; break
        else: merged.append(prod)
    res = []
    if merged:
        S = pooled @ pooled.T; np.fill_diagonal(S, -2)
        base = bases[len(bases) // 2]
        for mm in merged:
            rows = np.array(sorted(mm))
            nn = np.argpartition(-S[rows], K, axis=1)[:, :K]
            keep = rows[(nn < m0).sum(1) < TF * K * base]
            if len(keep) >= 5: rows = keep
            res.append((nov[rows - m0].mean(), len(rows)))
    return res, phis, size

if __name__ == '__main__':
    score_designs(run, f"{REG} {MAXN} {' '.join(sys.argv[1:])}", bool(os.environ.get('V')))
