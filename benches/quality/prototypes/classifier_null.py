# Session 22: null calibration of a cross-validated domain classifier's AUC on
# Debian's fortunes (MiniLM embeddings from the bench cache, so run
# `cargo bench --bench quality -- ../shared/data --only fortunes` first):
# random 1000/1000 splits of one pool, 5-fold logistic regression, the pooled
# held-out scores' Mann-Whitney z. Usage: python3 classifier_null.py N_SPLITS
import sys, os, re, numpy as np
sys.path.insert(0, '/work/main/benches/quality/prototypes')
from cache_to_npy import read_cache
import glob
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from scipy.stats import mannwhitneyu, norm
c = read_cache(glob.glob('/work/main/target/quality-cache/all_MiniLM*.bin')[0])
texts=[]; seen=set()
d='/usr/share/games/fortunes'
for f in sorted(os.listdir(d)):
    p=os.path.join(d,f)
    if '.' in f or not os.path.isfile(p) or f in ('ascii-art','translate-me','pratchett'): continue
    for x in open(p,'rb').read().decode('utf-8','replace').split('\n%\n'):
        x=' '.join(x.split())
        if not x or x=='%' or len(x.encode())>600 or x in seen: continue
        seen.add(x); texts.append(x)
X=np.stack([c[t] for t in texts if t in c]); print(len(texts), X.shape, flush=True)
rng=np.random.default_rng(0); zs=[]
for it in range(int(sys.argv[1])):
    idx=rng.permutation(len(X))[:2000]
    y=np.r_[np.zeros(1000),np.ones(1000)]; A=X[idx]
    s=np.zeros(2000)
    for tr,te in StratifiedKFold(5,shuffle=True,random_state=it).split(A,y):
        m=LogisticRegression(C=1.0,max_iter=200).fit(A[tr],y[tr]); s[te]=m.decision_function(A[te])
    u=mannwhitneyu(s[y==1],s[y==0]).statistic; auc=u/1e6
    z=(auc-0.5)/np.sqrt((2001)/(12*1e6))
    zs.append(z)
zs=np.array(zs); print('n',len(zs),'mean z',zs.mean().round(3),'sd',zs.std().round(3),'q99',np.quantile(zs,0.99).round(2),'max',zs.max().round(2), 'share z>2.33', (zs>2.33).mean())
