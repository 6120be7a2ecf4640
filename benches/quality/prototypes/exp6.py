"""Does a metric tuned on the golden set separate sibling intents? (issue 13)

The golden set is (input, expected output) pairs. Expected answers differ by
topic, so the golden set says which input directions matter to the
application. Variants (TRANSFORM=...):
  raw      MiniLM as shipped
  lda      whiten inputs by the golden within-class scatter, classes = the
           golden rows' intents (an oracle upper bound: a real golden set has
           no intent labels)
  reg      append each input's predicted answer embedding (ridge regression
           of golden answer embeddings on golden input embeddings), weight W
  outlda   lda with classes = distinct golden expected outputs' clusters
Prints the held-out rows' share of held-out rows among their 10 nearest
pooled neighbours, then runs the shipped design (exp.py's `current`) on the
transformed rows.

    OMP_NUM_THREADS=1 TRANSFORM=lda LAM=0.1 python3 exp6.py row 3 20
"""
import os, sys, time, json
import numpy as np
from common import *
from exp import current

T = os.environ.get('TRANSFORM', 'raw')
LAM = float(os.environ.get('LAM', '0.1'))
W = float(os.environ.get('W', '1.0'))
OUT_EMB = os.path.join(ROOT, 'target', 'banking77-answers.npy')

OPENERS = ["Sure, I can help with that.", "Thanks for reaching out."]
BODIES = [
    "You can manage this from the app under Settings, or I can walk you through it step by step.",
    "This usually takes one to two business days, and you will get a confirmation by email.",
    "Most customers resolve this in a couple of minutes by following the steps in the help center.",
]
def answer(text, intent):
    h = 5381
    for b in text.encode():
        h = ((h * 33) & 0xFFFFFFFFFFFFFFFF) ^ b
    t = f"{OPENERS[h % 2]} Regarding {intent.replace('_', ' ')}: {BODIES[(h // 7) % 3]}"
    return json.dumps({"answer": t, "intent": intent}, separators=(',', ':'), ensure_ascii=False)

def inv_sqrt(S, lam):
    w, V = np.linalg.eigh(S)
    w = np.maximum(w, 0) + lam * w.mean()
    return (V / np.sqrt(w)) @ V.T

def lda_whiten(Xg, lab, lam):
    mu = Xg.mean(0)
    Sw = np.zeros((Xg.shape[1],) * 2)
    for c in np.unique(lab):
        m = lab == c
        if m.sum() < 2: continue
        D = Xg[m] - Xg[m].mean(0)
        Sw += D.T @ D
    Sw /= len(Xg)
    return inv_sqrt(Sw, lam), mu

def transform(X, g, intents, answers_emb, answer_id):
    if T == 'raw':
        return X
    Xg = X[g]
    if T in ('lda', 'outlda'):
        if T == 'lda':
            lab = np.array([intents[i] for i in g])
        else:
            from sklearn.cluster import KMeans
            A = answers_emb[answer_id[g]]
            k = max(2, len(g) // int(os.environ.get('PER', '15')))
            lab = KMeans(k, n_init=1, random_state=0).fit_predict(A)
        M, mu = lda_whiten(Xg, lab, LAM)
        Z = (X - mu) @ M
    elif T == 'reg':
        Y = answers_emb[answer_id[g]]
        mu = Xg.mean(0); my = Y.mean(0)
        A = Xg - mu
        B = np.linalg.solve(A.T @ A + LAM * len(g) * np.eye(A.shape[1]), A.T @ (Y - my))
        P = (X - mu) @ B
        P /= np.linalg.norm(P, axis=1, keepdims=True) + 1e-12
        Z = np.hstack([X, W * P])
    return Z / (np.linalg.norm(Z, axis=1, keepdims=True) + 1e-12)

def main():
    bank = load_banking()
    texts = [t for t, _ in bank]; intents = [c for _, c in bank]
    X = np.load(EMB); X = X / np.linalg.norm(X, axis=1, keepdims=True)
    ans = [answer(t, c) for t, c in bank]
    uniq = sorted(set(ans)); aid = {a: k for k, a in enumerate(uniq)}
    answer_id = np.array([aid[a] for a in ans])
    answers_emb = None
    if T in ('reg', 'outlda'):
        if os.path.exists(OUT_EMB) and np.load(OUT_EMB).shape[0] == len(uniq):
            answers_emb = np.load(OUT_EMB)
        else:
            answers_emb = minilm_embed(uniq); np.save(OUT_EMB, answers_emb)
    kind, held, seeds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    share = float(sys.argv[4]) if len(sys.argv) > 4 else 0.05
    groups = groups09(X) if kind == 'grouped' else None
    det = imp = 0; nnshare = []
    for seed in range(seeds):
        g, p, nov = build(kind, seed, texts, intents, X, groups, held, share)
        g = distinct(g, X); keep = distinct(p, X)
        pos = {i: k for k, i in enumerate(p)}
        nov = np.array([nov[pos[i]] for i in keep]); p = keep
        Z = transform(X, g, intents, answers_emb, answer_id)
        pooled = np.concatenate([Z[g], Z[p]])
        isg = np.r_[np.ones(len(g)), np.zeros(len(p))]
        m0 = len(g)
        if nov.any():
            S = pooled[m0:][nov] @ pooled.T
            idx = np.nonzero(nov)[0] + m0
            S[np.arange(len(idx)), idx] = -9
            nn = np.argsort(-S, axis=1)[:, :10]
            isnov = np.r_[np.zeros(m0, bool), nov]
            nnshare.append(isnov[nn].mean())
        labs = partitions(pooled, seed=seed)
        sig, phis, fam = current(labs, isg, m0)
        pur = []
        for f, h in sig:
            mem = np.nonzero(labs[f[2]] == f[3])[0]; mem = mem[mem >= m0] - m0
            pur.append(nov[mem].mean() if len(mem) else 0)
        d = any(x >= 0.7 for x in pur); i = any(x < 0.7 for x in pur)
        det += d; imp += i
        print(f'seed {seed} phi={[round(x, 2) for x in phis]} sig={len(sig)} pure={sum(x >= 0.7 for x in pur)}'
              + (f' nnshare={nnshare[-1]:.2f}' if nov.any() else ''), flush=True)
    extra = f' nnshare={np.mean(nnshare):.3f}' if nnshare else ''
    print(f'{T} lam={LAM} w={W} {kind} {held} DET {det} IMPURE {imp} of {seeds}{extra}')

if __name__ == '__main__':
    main()
