"""all-MiniLM-L6-v2 embeddings of every BANKING77 query -> target/banking77-minilm.npy."""
import numpy as np
from common import load_banking, minilm_embed, EMB
texts = [t for t, _ in load_banking()]
np.save(EMB, minilm_embed(texts).astype(np.float32))
