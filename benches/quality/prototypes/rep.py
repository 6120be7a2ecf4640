"""Does a lexical view sharpen MiniLM's neighbourhoods on BANKING77? (issue 13)

Prints the leave-one-out 10-NN same-intent share and the 1-NN intent accuracy of
MiniLM, of TF-IDF views (word 1-2 grams, character 3-5 grams inside words, each
reduced by truncated SVD to DIM dimensions), and of their weighted joins, where
the cosine of a join is w*cos_minilm + (1-w)*cos_lexical. It also prints, for a
typo-noised copy of 2,000 queries, how often a noised query's nearest neighbour
among the clean ones is its own clean original (a robustness check: the typo
scenario must not look like a new topic).

    OMP_NUM_THREADS=1 python3 rep.py          # needs target/banking77-minilm.npy (embed.py)
"""
import os, sys, numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.decomposition import TruncatedSVD
from common import load_banking, minilm_embed, EMB

DIM = int(os.environ.get('DIM', 128))
rows = load_banking()
texts = [t for t, _ in rows]; intents = np.array([i for _, i in rows])
M = np.load(EMB)
rng = np.random.default_rng(0)
sub = rng.choice(len(texts), 4000, replace=False)

def typo(t, r):
    s = list(t)
    for _ in range(max(1, len(s) // 25)):
        if len(s) < 4: break
        k = r.integers(0, 3); i = int(r.integers(1, len(s) - 1))
        if k == 0: s[i], s[i + 1] = s[i + 1], s[i]
        elif k == 1: del s[i]
        else: s.insert(i, s[i])
    out = ''.join(s)
    return out.upper() if r.random() < 0.3 else out

def lex(kind):
    if kind == 'word':
        v = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2)
    else:
        v = TfidfVectorizer(analyzer='char_wb', ngram_range=(3, 5), sublinear_tf=True, min_df=2)
    A = v.fit_transform(texts + NOISY)
    svd = TruncatedSVD(DIM, random_state=0)
    Z = svd.fit_transform(A)
    Z /= np.linalg.norm(Z, axis=1, keepdims=True) + 1e-12
    return Z[:len(texts)], Z[len(texts):]

def loo(S):
    S = S.copy(); np.fill_diagonal(S, -np.inf)
    nn = np.argsort(-S, axis=1)[:, :10]
    same = (intents[sub][nn] == intents[sub][:, None])
    return same.mean(), same[:, 0].mean()

def robust(Sn):  # noised rows x clean rows (the 4000 sub rows)
    return (Sn.argmax(1) == np.arange(2000)).mean()

# MiniLM of the noised copies: embed them with the local model
embed = minilm_embed
NOISY = [typo(texts[i], np.random.default_rng(int(i))) for i in sub[:2000]]
views = {}
Mn = embed(NOISY)
views['minilm'] = (M, Mn)
for kind in ['word', 'char']:
    views[kind] = lex(kind)
Sm = M[sub] @ M[sub].T; Smn = Mn @ M[sub].T
print(f"{'view':<28} {'10-NN same':>10} {'1-NN acc':>9} {'typo->own':>9}")
for name, (Z, Zn) in views.items():
    S = Z[sub] @ Z[sub].T
    a, b = loo(S)
    print(f"{name:<28} {a:10.3f} {b:9.3f} {robust(Zn @ Z[sub].T):9.3f}")
for kind in ['word', 'char']:
    Z, Zn = views[kind]
    S = Z[sub] @ Z[sub].T
    for w in [0.8, 0.65, 0.5, 0.35]:
        a, b = loo(w * Sm + (1 - w) * S)
        r = robust(w * Smn + (1 - w) * (Zn @ Z[sub].T))
        print(f"{'minilm+' + kind + f' w={w}':<28} {a:10.3f} {b:9.3f} {r:9.3f}")
