"""Share of a BANKING77 query's 10 nearest neighbours (cosine, over all 13,083) in its own intent,
for each embedding file given (3,000 queries sampled): `python3 knn_purity.py ../../../target/banking77-*.npy`."""
import sys, numpy as np
sys.path.insert(0, __import__('os').path.dirname(__file__))
from common import load_banking
rows = load_banking(); lab = np.array([c for _, c in rows])
for path in sys.argv[1:]:
    X = np.load(path).astype(np.float32)
    rng = np.random.default_rng(0); idx = rng.choice(len(X), 3000, replace=False)
    S = X[idx] @ X.T
    S[np.arange(len(idx)), idx] = -9
    nn = np.argsort(-S, axis=1)[:, :10]
    same = (lab[nn] == lab[idx][:, None]).mean()
    print(path.split('/')[-1], 'kNN@10 same-intent share', round(float(same), 3))
