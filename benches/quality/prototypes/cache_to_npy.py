"""Session 21: the Rust quality bench's embedding cache (target/quality-cache)
as arrays for the prototypes: target/proto-{banking,clinc}.npy, with
target/proto-{banking,clinc}.json holding [intent, domain] per row, in the
bench's own row order (BANKING77 train + test; CLINC150 train + val + test,
in-scope). Run the bench once first so the cache holds every query."""
import numpy as np, struct, csv, json, os, glob
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
D = os.environ.get('DATA', os.path.join(ROOT, '..', 'shared', 'data'))
def read_cache(path, dim=384):
    m = {}
    with open(path, 'rb') as f:
        b = f.read()
    i = 0
    while i + 4 <= len(b):
        n = struct.unpack_from('<I', b, i)[0]; i += 4
        if i + n + 4*dim > len(b): break
        t = b[i:i+n].decode(); i += n
        v = np.frombuffer(b, '<f4', dim, i); i += 4*dim
        m[t] = v
    return m
def banking():
    out = []
    for f in ['train.csv', 'test.csv']:
        with open(f'{D}/banking77/{f}') as fh:
            r = csv.reader(fh); next(r)
            for row in r: out.append((row[0].strip(), row[1], 'banking77'))
    return out
def clinc():
    doms = json.load(open(f'{D}/clinc150/domains.json'))
    dof = {i: d for d, ints in doms.items() for i in ints}
    full = json.load(open(f'{D}/clinc150/data_full.json'))
    out = []
    for s in ['train', 'val', 'test']:
        for q, it in full[s]:
            if it in dof: out.append((q.strip(), it, dof[it]))
    return out
if __name__ == '__main__':
    c = read_cache(glob.glob(os.path.join(ROOT, 'target', 'quality-cache', 'all_MiniLM*.bin'))[0])
    for name, rows in [('banking', banking()), ('clinc', clinc())]:
        X = np.stack([c[t] for t, _, _ in rows]).astype(np.float32)
        np.save(os.path.join(ROOT, 'target', f'proto-{name}.npy'), X)
        json.dump([[i, d] for _, i, d in rows], open(os.path.join(ROOT, 'target', f'proto-{name}.json'), 'w'))
        print(name, X.shape)
