import numpy as np, onnxruntime as ort
from tokenizers import Tokenizer
from common import load_banking, ROOT, EMB
M = ROOT + '/models/all-MiniLM-L6-v2/'
tok = Tokenizer.from_file(M + 'tokenizer.json'); tok.enable_padding(); tok.enable_truncation(256)
so = ort.SessionOptions(); so.intra_op_num_threads = 1
s = ort.InferenceSession(M + 'model.onnx', so)
texts = [t for t, _ in load_banking()]
out = []
for i in range(0, len(texts), 64):
    enc = tok.encode_batch(texts[i:i+64])
    ids = np.array([e.ids for e in enc], dtype=np.int64); am = np.array([e.attention_mask for e in enc], dtype=np.int64)
    feeds = {'input_ids': ids, 'attention_mask': am}
    if 'token_type_ids' in [x.name for x in s.get_inputs()]: feeds['token_type_ids'] = np.zeros_like(ids)
    h = s.run(None, feeds)[0]
    v = (h * am[..., None]).sum(1) / am.sum(1, keepdims=True)
    out.append(v / np.linalg.norm(v, axis=1, keepdims=True))
np.save(EMB, np.concatenate(out).astype(np.float32))
