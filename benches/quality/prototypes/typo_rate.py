"""Session 21: how often hand-written prose holds a typo-like word with no typo
added, by a Python copy of the run's typo detector (`jobs::run::semantic::Typos`:
an unknown word of four or more letters one deleted, inserted or swapped letter,
not at the end, from a known word; known = the golden inputs' words and words of
two or more production inputs). Text: paragraphs of 200–1,500 characters from
the README.md files of the crates in the local cargo registry (code blocks,
tables, headings and links dropped), 1,000 as golden and the rest as production.
usage: typo_rate.py [REGISTRY_SRC_GLOB]"""
import glob, os, re, sys
import numpy as np

def words(t):
    return [w.lower() for w in re.split(r'[^\w]', t)
            if len(w) >= 3 and not any(c.isdigit() for c in w) and '_' not in w]

class Typos:
    def __init__(s, golden, prod):
        s.known = set(w for t in golden for w in words(t))
        seen = {}
        for t in prod:
            for w in set(words(t)):
                seen[w] = seen.get(w, 0) + 1
        s.known |= {w for w, n in seen.items() if n >= 2}
        s.dels = set()
        for w in s.known:
            if len(w) >= 5:
                for i in range(len(w) - 1):
                    s.dels.add(w[:i] + w[i+1:])

    def is_typo(s, w):
        if len(w) < 4 or w in s.known:
            return False
        k = lambda x: x != w and len(x) >= 4 and x in s.known
        if any(k(w[:i] + w[i+1:]) for i in range(len(w) - 1)):
            return True
        if any(k(w[:i] + w[i+1] + w[i] + w[i+2:]) for i in range(len(w) - 1)):
            return True
        return w in s.dels

src = sys.argv[1] if len(sys.argv) > 1 else os.path.expanduser('~/.cargo/registry/src/*/*/README.md')
paras = []
for f in sorted(glob.glob(src)):
    s = open(f, errors='ignore').read()
    s = re.sub(r'```.*?```', ' ', s, flags=re.S)
    for p in re.split(r'\n\s*\n', s):
        p = ' '.join(p.split())
        if 200 <= len(p) <= 1500 and not p.startswith(('[', '|', '<', '#', '!')):
            paras.append(p)
r = np.random.default_rng(0)
r.shuffle(paras)
g, p = paras[:1000], paras[1000:3000]
T = Typos(g, p)
flag = [[w for w in words(t) if T.is_typo(w)] for t in p]
print(f'{len(paras)} paragraphs, {np.mean([len(x.split()) for x in paras]):.1f} words on average; '
      f'production paragraphs with a typo-like word: {np.mean([bool(x) for x in flag]):.3f} of {len(p)}')
print('examples:', [x for x in flag if x][:10])
