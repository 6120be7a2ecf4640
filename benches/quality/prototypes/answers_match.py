"""Calibrates the answers stage's input-matching threshold (issue 18) on
BANKING77: golden 1,000 queries, production 2,000 others, 10 seeds. A
production query matches its nearest golden query when the cosine is at least
t; a match is false when that golden query has another intent (a different
question, whose expected answer would not apply). Prints, per t, the share of
production matched and the false-match rate among matches."""
import numpy as np
from common import load_banking, EMB
data = load_banking(); E = np.load(EMB)
intents = np.array([i for _, i in data])
ts = [0.75, 0.8, 0.825, 0.85, 0.875, 0.9, 0.925, 0.95]
rows = {t: [] for t in ts}
for seed in range(10):
    r = np.random.default_rng(seed); idx = r.permutation(len(data))
    g, p = idx[:1000], idx[1000:3000]
    S = E[p] @ E[g].T
    best = S.argmax(1); cos = S.max(1)
    same = intents[g[best]] == intents[p]
    for t in ts:
        m = cos >= t
        rows[t].append((m.mean(), (~same[m]).sum(), m.sum()))
print("| t | production matched | false matches (other intent) |")
print("|---|---|---|")
for t in ts:
    mm = np.mean([a for a, _, _ in rows[t]]); fm = sum(b for _, b, _ in rows[t]); n = sum(c for _, _, c in rows[t])
    print(f"| {t} | {mm*100:.1f}% | {fm}/{n} ({fm/max(n,1)*100:.2f}%) |")
