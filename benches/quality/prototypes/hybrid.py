"""Session 24: does a lexical view beside MiniLM separate sibling intents?
Writes target/banking77-hybrid-<W>.npy: [MiniLM, W * lexical] L2-normalised, where
the lexical part is the TF-IDF of words and word pairs (sublinear tf, IDF over the
whole corpus, min_df 2), reduced by TruncatedSVD to 256 and L2-normalised.
`python3 hybrid.py W [ANALYZER]` (analyzer word | char_wb)."""
import os, sys, numpy as np
sys.path.insert(0, os.path.dirname(__file__))
from common import load_banking, ROOT
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.decomposition import TruncatedSVD
w = float(sys.argv[1]); an = sys.argv[2] if len(sys.argv) > 2 else 'word'
texts = [t for t, _ in load_banking()]
X = np.load(os.path.join(ROOT, 'target', 'banking77-minilm.npy')).astype(np.float32)
if an == 'word':
    v = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2, lowercase=True)
else:
    v = TfidfVectorizer(sublinear_tf=True, analyzer='char_wb', ngram_range=(3, 4), min_df=2, lowercase=True)
T = v.fit_transform(texts)
L = TruncatedSVD(256, random_state=0).fit_transform(T).astype(np.float32)
L /= np.maximum(np.linalg.norm(L, axis=1, keepdims=True), 1e-9)
H = np.concatenate([X, w * L], axis=1)
H /= np.linalg.norm(H, axis=1, keepdims=True)
out = os.path.join(ROOT, 'target', f'banking77-hybrid-{an}-{w}.npy')
np.save(out, H); print(out, H.shape)
