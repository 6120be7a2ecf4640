"""Session 13 diagnostic: in the 3-intent @5 % scenario, how well does the best
KMeans region isolate the held-out rows? Per seed: for the region (any scale)
with the most held-out production rows, its rows, golden count, held-out count
and undeflated binomial p; and the share of held-out rows whose 10 nearest
pooled neighbours hold no golden row. Also MiniLM's 10-NN intent accuracy."""
import os
from common import *
bank = load_banking(); intents = np.array([c for _, c in bank])
X = np.load(EMB); X /= np.linalg.norm(X, axis=1, keepdims=True)
r = np.random.default_rng(0); s = r.choice(len(X), 3000, replace=False)
S = X[s] @ X[s].T; np.fill_diagonal(S, -1); nn = np.argsort(-S, 1)[:, :10]
acc = (intents[s][nn] == intents[s][:, None]).mean()
print(f'10-NN same-intent share (MiniLM, 3,000 queries): {acc:.3f}')
for seed, pooled, isg, nov in scenarios():
    m0 = int(isg.sum()); pi = isg.mean()
    labs = partitions(pooled, seed=seed)
    isnov = np.r_[np.zeros(m0, bool), nov]
    best = None
    for si, lab in enumerate(labs):
        for c in np.unique(lab[isnov]):
            m = lab == c
            h = int((m & isnov).sum()); g = int((m & (isg > 0)).sum()); n = int(m.sum())
            p = binom.cdf(g, n, pi)
            if best is None or p < best[-1]: best = (si, n, g, h, p)
    Sp = pooled @ pooled.T; np.fill_diagonal(Sp, -1)
    knn = np.argsort(-Sp[isnov], 1)[:, :10]
    free = ((knn < m0).sum(1) == 0).mean()
    print(f'seed {seed}: held-out rows {isnov.sum()}, best region scale {best[0]} rows {best[1]} golden {best[2]} held {best[3]} p {best[4]:.1e}; held-out rows with golden-free 10-NN {free:.2f}', flush=True)
