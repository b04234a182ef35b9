"""llama.cpp logits at every position, for parity checks of exported weights against torch.

The app's session (``stethodesk.model.llm``) only exposes the logits of the last position; the
export checks need all of them. Same low-level calls (llama-cpp-python 0.3.36): a batch holds
tokens *or* embeddings (``llama_batch_init(n, n_embd, 1)`` + ``batch.embd``), decoded at
consecutive positions, with ``logits[i] = 1`` everywhere.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np


def all_logits(model_path: Path, pieces: list, lora_path: Path | None = None, lora_scale: float = 1.0,
               n_threads: int = 1) -> np.ndarray:
    """Logits ``[n_positions, n_vocab]`` for a sequence given as pieces.

    ``pieces``: list of ``list[int]`` (token ids) or ``np.ndarray [k, n_embd]`` (embeddings in the
    scaled space), decoded in order from position 0 (put BOS in the first token piece yourself).
    """
    import llama_cpp as L

    L.llama_backend_init()
    mp = L.llama_model_default_params()
    mp.n_gpu_layers = 0
    model = L.llama_model_load_from_file(str(model_path).encode(), mp)
    if not model:
        raise RuntimeError(f"llama.cpp could not load {model_path}")
    n_pos = sum(len(p) for p in pieces)
    cp = L.llama_context_default_params()
    cp.n_ctx = max(64, n_pos + 8)
    cp.n_batch = cp.n_ctx
    cp.n_ubatch = cp.n_ctx
    cp.n_threads = cp.n_threads_batch = n_threads
    ctx = L.llama_init_from_model(model, cp)
    adapter = None
    try:
        if lora_path is not None:
            adapter = L.llama_adapter_lora_init(model, str(lora_path).encode())
            if not adapter:
                raise RuntimeError(f"llama.cpp refused the adapter {lora_path}")
            rc = L.llama_set_adapters_lora(ctx, (L.llama_adapter_lora_p_ctypes * 1)(adapter), 1,
                                           (ctypes.c_float * 1)(lora_scale))
            if rc != 0:
                raise RuntimeError(f"llama_set_adapters_lora failed ({rc})")
        n_vocab = L.llama_vocab_n_tokens(L.llama_model_get_vocab(model))
        n_embd = L.llama_model_n_embd(model)
        out, pos = [], 0
        for piece in pieces:
            is_emb = isinstance(piece, np.ndarray) and piece.ndim == 2
            k = len(piece)
            b = L.llama_batch_init(k, n_embd if is_emb else 0, 1)
            try:
                if is_emb:
                    e = np.ascontiguousarray(piece, dtype=np.float32)
                    ctypes.memmove(b.embd, e.ctypes.data, e.nbytes)
                for i in range(k):
                    if not is_emb:
                        b.token[i] = int(piece[i])
                    b.pos[i] = pos + i
                    b.n_seq_id[i] = 1
                    b.seq_id[i][0] = 0
                    b.logits[i] = 1
                b.n_tokens = k
                rc = L.llama_decode(ctx, b)
                if rc != 0:
                    raise RuntimeError(f"llama_decode failed ({rc})")
                for i in range(k):
                    ptr = L.llama_get_logits_ith(ctx, i)
                    out.append(np.ctypeslib.as_array(ptr, shape=(n_vocab,)).astype(np.float32, copy=True))
            finally:
                L.llama_batch_free(b)
            pos += k
        return np.stack(out)
    finally:
        if ctx:
            L.llama_free(ctx)
        L.llama_model_free(model)  # frees the adapter too


def compare(got: np.ndarray, ref: np.ndarray, tie_margin: float = 0.5) -> dict:
    """Per-position cosine similarity and top-1 agreement of two logit arrays ``[n, vocab]``.

    ``top1_agree_clear`` counts agreement only where ``ref``'s best token leads the runner-up by
    at least ``tie_margin`` logits (a near-tie may flip under quantization noise).
    """
    a, b = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    cos = (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
    top = a.argmax(-1) == b.argmax(-1)
    s = np.sort(b, axis=-1)
    clear = (s[:, -1] - s[:, -2]) >= tie_margin
    return {"cos_min": float(cos.min()), "cos_mean": float(cos.mean()), "top1_agree": int(top.sum()),
            "positions": int(len(top)), "top1_agree_clear": int((top & clear).sum()),
            "positions_clear": int(clear.sum()), "tie_margin": tie_margin}
