"""Session 21: the shipped region scan (KMeans regions at 12/25/50 rows on 32
PCA dimensions, baseline share, median φ̂, each region's unit design effect,
Tarone + Holm, members trimmed to the locally uncovered) and variants, on the
arrays `cache_to_npy.py` writes. usage: exp9.py DATASET KIND HELD SEEDS [SHARE]
DATASET banking | clinc; KIND row | grouped; HELD intents (0 = none; -1 = a
CLINC150 domain, every domain in turn). VAR = shipped | tree | phi1 | up | upq;
SIZES = 12,25,50 by default. Prints per seed and `DET d IMPURE i of n`."""
import os, sys, json, numpy as np
from scipy.special import betainc
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from scipy.cluster.hierarchy import linkage
from common import holm, tarone
from exp import units as units_of

VAR = os.environ.get('VAR', 'shipped')
SIZES = tuple(int(x) for x in os.environ.get('SIZES', '12,25,50').split(','))
ALPHA = 0.05
CHI2_MED = 0.454936423119572

def dcdf(g, n, pi, phi):
    ne, ge = n/phi, g/phi
    if ge >= ne: return 1.0
    return float(np.clip(betainc(ne-ge, ge+1, 1-pi), 0, 1))

def by_share(counts):
    s = sorted([(g/n, c) for c, (g, n) in enumerate(counts) if n >= 5])
    return None if len(s) < 4 else [c for _, c in s]

def baseline(counts, pi0):
    o = by_share(counts)
    if o is None: return pi0
    mid = o[len(o)//4: len(o) - len(o)//4]
    g = sum(counts[c][0] for c in mid); n = sum(counts[c][1] for c in mid)
    return g/n if n else pi0

def deff(counts, pi):
    if VAR == 'up':
        z = np.array([(g - n*pi)/np.sqrt(n*pi*(1-pi)) for g, n in counts if n >= 5])
        zu = z[z >= 0]
        return 1.0 if len(zu) < 3 else max(1.0, float(np.median(zu**2))/CHI2_MED)
    if VAR == 'upq':
        z = np.array([(g - n*pi)/np.sqrt(n*pi*(1-pi)) for g, n in counts if n >= 5])
        return 1.0 if len(z) < 6 else max(1.0, (float(np.quantile(z, 0.75) - np.median(z))/0.6745)**2)
    z2 = [(g - n*pi)**2/(n*pi*(1-pi)) for g, n in counts if n >= 5]
    return 1.0 if len(z2) < 3 else max(1.0, float(np.median(z2))/CHI2_MED)


def icc(rows, units, isg):
    u = {}
    for i in rows:
        e = u.setdefault(units[i], [0, 0]); e[0] += 1; e[1] += isg[i]
    n = len(rows); extra = n - len(u)
    p = sum(v[1] for v in u.values())/max(n, 1); exp = extra*p*(1-p)
    if extra < 1 or exp <= 0: return 0.0
    obs = sum(y*(m-y)/m for m, y in u.values())
    return float(np.clip(1 - obs/exp, 0, 1))

def udeff(members, units, rho):
    if rho <= 0 or len(members) == 0: return 1.0
    _, c = np.unique(units[members], return_counts=True)
    return 1 + rho*((c**2).sum()/len(members) - 1)



def regions(Z, seed):
    """[(scale_tag, list of member arrays)] label-blind."""
    out = []
    for si, s in enumerate(SIZES):
        k = max(2, len(Z)//s)
        lab = KMeans(k, n_init=1, random_state=seed+si, max_iter=100).fit_predict(Z)
        out.append((s, [np.nonzero(lab == c)[0] for c in range(k)]))
    if VAR.startswith('tree'):
        # every node of a Ward tree over the finest partition's regions
        fine = out[0][1]
        C = np.stack([Z[m].mean(0) for m in fine]); w = np.array([len(m) for m in fine])
        L = linkage(C, 'ward')
        nodes = [m for m in fine]
        extra = []
        for a, b, _, _ in L:
            m = np.concatenate([nodes[int(a)], nodes[int(b)]]); nodes.append(m)
            if len(m) <= int(os.environ.get('TREEMAX', '200')): extra.append(m)
        out.append(('tree', extra))
    return out

def scan(pooled, isg, seed):
    n = len(pooled); m0 = int(isg.sum()); pi0 = m0/n
    Z = PCA(32, random_state=seed).fit_transform(pooled)
    units = units_of(pooled, 0.8, max(SIZES))
    fam = []; phis = []; rhos = []
    for tag, mems in regions(Z, seed):
        counts = [(int(isg[m].sum()), len(m)) for m in mems]
        if tag == 'tree':
            base, phi, rho = tree_stats
        else:
            base = baseline(counts, pi0); phi = deff(counts, base) if VAR != 'phi1' else 1.0
            up = by_share(counts); up = up[len(up)//4:] if up else range(len(mems))
            rho = icc(np.concatenate([mems[c] for c in up]), units, isg)
            if tag == SIZES[1] or len(SIZES) == 1: tree_stats = (base, phi, rho)
        phis.append(round(phi, 2)); rhos.append(round(rho, 2))
        for m, (g, r) in zip(mems, counts):
            if r < 5: continue
            ph = max(phi, udeff(m, units, rho))
            fam.append((dcdf(g, r, base, ph), dcdf(0, r, base, ph), m, tag))
    keep = tarone([f[1] for f in fam], ALPHA)
    fam = [f for f, k in zip(fam, keep) if k]
    h = holm([f[0] for f in fam])
    sig = sorted([(f[0], f[2], f[3]) for f, hh in zip(fam, h) if hh < ALPHA], key=lambda t: t[0])
    merged = []
    for p, m, tag in sig:
        prod = set(i for i in m if i >= m0)
        if not prod: continue
        for mm in merged:
            if mm & prod: mm |= prod; break
        else: merged.append(prod)
    # trim to locally uncovered (10 NN, 5% tail)
    from scipy.stats import binom
    out = []
    if merged:
        S = pooled @ pooled.T; np.fill_diagonal(S, -2)
        nn = np.argsort(-S, axis=1)[:, :10]
        gl = (nn < m0).sum(1)
        base = tree_stats[0]
        for mm in merged:
            mm = sorted(mm)
            kept = [i for i in mm if binom.cdf(gl[i], 10, base) < 0.05]
            if len(kept) < 5: kept = [i for i in mm if 2*gl[i] < 10*base]
            if len(kept) < 5: kept = mm
            out.append(np.array(kept))
    return out, phis, rhos, len(fam)

def groups09(X):
    n = len(X); parent = list(range(n))
    def find(i):
        while parent[i] != i: parent[i] = parent[parent[i]]; i = parent[i]
        return i
    for s in range(0, n, 2000):
        S = X[s:s+2000] @ X.T
        ii, jj = np.nonzero(S >= 0.9)
        for i, j in zip(ii + s, jj):
            if j > i:
                a, b = find(i), find(j)
                if a != b: parent[max(a, b)] = min(a, b)
    by = {}
    for i in range(n): by.setdefault(find(i), []).append(i)
    return [r[c:c+20] for r in sorted(by.values()) for c in range(0, len(r), 20)]

def main():
    ds, kind, held, seeds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    share = float(sys.argv[5]) if len(sys.argv) > 5 else 0.05
    T = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'target')
    X = np.load(os.path.join(T, f'proto-{ds}.npy')); lab = json.load(open(os.path.join(T, f'proto-{ds}.json')))
    intents = [l[0] for l in lab]; doms = [l[1] for l in lab]
    groups = groups09(X) if kind == 'grouped' else None
    det = imp = 0
    for seed in range(seeds):
        r = np.random.default_rng(seed)
        if held == -1:
            d = sorted(set(doms)); keys = {d[seed % len(d)]}; novel = np.array([x in keys for x in doms])
        elif held > 0:
            ints = sorted(set(intents)); r.shuffle(ints); keys = set(ints[:held]); novel = np.array([x in keys for x in intents])
        else:
            keys = set(); novel = np.zeros(len(X), bool)
        nn_ = int(round(share*2000)) if keys else 0
        known = np.nonzero(~novel)[0]; fresh = np.nonzero(novel)[0]
        if kind == 'grouped':
            order = list(range(len(groups))); r.shuffle(order); g, p = [], []
            for k in order:
                if len(g) < 1000: g.extend(groups[k][:1000-len(g)])
                elif len(p) < 2000-nn_: p.extend(groups[k][:2000-nn_-len(p)])
                else: break
            g, p = np.array(g), np.array(p)
        else:
            known = known.copy(); r.shuffle(known); g, p = known[:1000], known[1000:3000-nn_]
        fresh = fresh.copy(); r.shuffle(fresh)
        p = np.concatenate([p, fresh[:nn_]]).astype(int)
        # distinct rows per side
        def distinct(idx):
            seen = set(); o = []
            for i in idx:
                k = X[i].tobytes()
                if k not in seen: seen.add(k); o.append(i)
            return np.array(o)
        g = distinct(g); p = distinct(p)
        pooled = np.concatenate([X[g], X[p]]); isg = np.r_[np.ones(len(g)), np.zeros(len(p))]
        nov = np.r_[np.zeros(len(g), bool), novel[p]]
        gaps, phis, rhos, fam = scan(pooled, isg, seed)
        purity = [nov[m].mean() for m in gaps]
        d = any(x >= 0.7 for x in purity); i = any(x < 0.7 for x in purity)
        det += d; imp += i
        print(f'seed {seed} {sorted(keys)[:3]} phi={phis} rho={rhos} fam={fam} gaps={[(round(x,2), len(m)) for x, m in zip(purity, gaps)]}', flush=True)
    print(f'{VAR} {SIZES} {ds} {kind} {held} DET {det} IMPURE {imp} of {seeds}')

if __name__ == '__main__':
    main()
