"""llama.cpp session for Gemma 3 with audio prefix embeddings. No Qt, no torch.

The high-level ``llama_cpp.Llama`` class cannot take embeddings, so this module
drives the low-level API (llama-cpp-python 0.3.36):

- a prompt is a list of *items*: text segments (tokenized separately, no BOS
  inside them) and float32 embedding blocks ``[K, n_embd]`` already in Gemma's
  *scaled* token-embedding space (guide section 1);
- BOS is decoded first, then every item at consecutive positions; a batch holds
  tokens or embeddings, never both (``llama_batch_init(n, n_embd, 1)`` +
  ``batch.embd`` for the audio);
- the KV cache remembers what it holds; a new prompt that shares a head with
  the previous one (same intro, same audio) only clears and re-decodes the
  positions after the shared part (``llama_memory_seq_rm``) - a follow-up
  question on the same recording costs only its own instruction tokens;
- the LoRA adapter is applied at run time (``llama_adapter_lora_init`` +
  ``llama_set_adapters_lora``), closer to torch than a merged re-quantized model;
- generation is greedy (or temperature sampling), token by token, stopping at
  an end-of-generation token, streaming UTF-8-safe text pieces and checking a
  cancel flag between tokens.

One thread owns a session at a time; :class:`LlamaSession` serialises callers
with a lock. The backend's one-time set-up and log live in ``llama_backend.py``,
the per-token helpers (loop guard, UTF-8 stream, sampling) in ``token_stream.py``.
"""

from __future__ import annotations

import ctypes
import hashlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stethodesk.model.llama_backend import default_threads, ensure_backend, recent_log
from stethodesk.model.prompts import UserText
from stethodesk.model.token_stream import Utf8Stream, is_looping, sample_token

N_CTX = 1024  # tokens: intro + 2 audio prefixes + instruction + a 256-token answer fit easily
N_BATCH = 512  # tokens per llama_decode call for prompt text
PIECE_BUF = 64  # bytes: longest Gemma token piece is far shorter
SEQ = 0  # the one sequence this session uses


class LlmError(RuntimeError):
    """llama.cpp refused a model, adapter or batch; the message says which and why."""


@dataclass(frozen=True)
class Embeddings:
    """A block of prefix embeddings ``data [K, n_embd]`` (float32, scaled space)."""

    data: np.ndarray

    def key(self) -> str:
        """Content hash: the same audio gives the same key, so its cache is reused."""
        return hashlib.sha1(np.ascontiguousarray(self.data, dtype=np.float32).tobytes()).hexdigest()


Item = str | Embeddings


@dataclass
class GenStats:
    """Figures of the last :meth:`LlamaSession.generate` call."""

    prompt_positions: int = 0  # positions in the prompt (BOS included)
    reused_positions: int = 0  # of which taken from the KV cache
    prefill_ms: float = 0.0
    tokens: int = 0
    cancelled: bool = False
    stop_reason: str = ""  # "eog" | "max_tokens" | "cancelled" | "context"


class LlamaSession:
    """A Gemma GGUF + optional LoRA adapter in one llama.cpp context.

    Parameters
    ----------
    model_path : Path
        Base GGUF.
    lora_path : Path, optional
        LoRA adapter GGUF (``general.type = adapter``).
    lora_scale : float
        Run-time adapter scale (the adapter's alpha/rank lives in its GGUF).
    n_threads : int, optional
        Threads for generation and prompt processing; default
        :func:`~stethodesk.model.llama_backend.default_threads`.
    n_ctx : int
        Context length in tokens.
    """

    def __init__(
        self,
        model_path: Path,
        lora_path: Path | None = None,
        lora_scale: float = 1.0,
        n_threads: int | None = None,
        n_ctx: int = N_CTX,
    ) -> None:
        ensure_backend()
        import llama_cpp as L

        self._L = L
        # A plain Lock (not RLock): a generator abandoned in another thread may release it.
        self.lock = threading.Lock()
        self.cancel_event = threading.Event()
        self.n_threads = int(n_threads or default_threads())
        self.n_ctx = n_ctx
        self._model = None
        self._ctx = None
        self._adapter = None

        mparams = L.llama_model_default_params()
        mparams.n_gpu_layers = 0
        self._model = L.llama_model_load_from_file(str(model_path).encode(), mparams)
        if not self._model:
            raise LlmError(f"{Path(model_path).name}: llama.cpp could not load the model ({recent_log()})")
        self.vocab = L.llama_model_get_vocab(self._model)
        self.n_vocab = int(L.llama_vocab_n_tokens(self.vocab))
        self.n_embd = int(L.llama_model_n_embd(self._model))

        cparams = L.llama_context_default_params()
        cparams.n_ctx = n_ctx
        cparams.n_batch = N_BATCH
        cparams.n_ubatch = N_BATCH
        cparams.n_seq_max = 1
        cparams.n_threads = self.n_threads
        cparams.n_threads_batch = self.n_threads
        self._ctx = L.llama_init_from_model(self._model, cparams)
        if not self._ctx:
            self.close()
            raise LlmError(f"llama.cpp could not create a context ({recent_log()})")
        self._mem = L.llama_get_memory(self._ctx)

        if lora_path is not None:
            self._adapter = L.llama_adapter_lora_init(self._model, str(lora_path).encode())
            if not self._adapter:
                name = Path(lora_path).name
                self.close()
                raise LlmError(f"{name}: llama.cpp refused the LoRA adapter ({recent_log()})")
            adapters = (L.llama_adapter_lora_p_ctypes * 1)(self._adapter)
            scales = (ctypes.c_float * 1)(float(lora_scale))
            if L.llama_set_adapters_lora(self._ctx, adapters, 1, scales) != 0:
                self.close()
                raise LlmError(f"llama.cpp could not apply the LoRA adapter ({recent_log()})")

        self.bos = int(L.llama_vocab_bos(self.vocab))
        self.eos = int(L.llama_vocab_eos(self.vocab))
        self._tok_batch = L.llama_batch_init(N_BATCH, 0, 1)
        self._emb_batch = None  # allocated on first use for the largest block seen
        self._emb_cap = 0
        # What the KV cache holds, one key per position: token id or (audio hash, row).
        self._cached: list[object] = []
        self.stats = GenStats()

    # ----------------------------------------------------------------- lifecycle
    def close(self) -> None:
        """Free the context, batches and model (the adapter goes with the model)."""
        L = self._L
        if getattr(self, "_tok_batch", None) is not None:
            L.llama_batch_free(self._tok_batch)
            self._tok_batch = None
        if getattr(self, "_emb_batch", None) is not None:
            L.llama_batch_free(self._emb_batch)
            self._emb_batch = None
        if self._ctx:
            L.llama_free(self._ctx)
            self._ctx = None
        if self._model:
            L.llama_model_free(self._model)
            self._model = None

    def __del__(self) -> None:  # best effort; close() is the real API
        try:
            self.close()
        except Exception:
            pass

    def set_threads(self, n_threads: int) -> None:
        """Change the thread count (e.g. while another busy thread runs)."""
        with self.lock:
            self.n_threads = int(n_threads)
            self._L.llama_set_n_threads(self._ctx, self.n_threads, self.n_threads)

    # ----------------------------------------------------------------- text
    def tokenize(self, text: str, special: bool = True) -> list[int]:
        """Token ids of one text segment, no BOS.

        ``special``: parse control markers such as ``<end_of_turn>`` as single tokens (template
        text); False for text a person typed (:class:`~stethodesk.model.prompts.UserText`), where
        a typed marker must stay plain characters.
        """
        L = self._L
        data = text.encode("utf-8", errors="replace")
        cap = len(data) + 8
        buf = (L.llama_token * cap)()
        n = L.llama_tokenize(self.vocab, data, len(data), buf, cap, False, special)
        if n < 0:  # buffer too small: -n is the count needed
            cap = -n
            buf = (L.llama_token * cap)()
            n = L.llama_tokenize(self.vocab, data, len(data), buf, cap, False, special)
        return list(buf[:n])

    def piece(self, token: int) -> bytes:
        """Raw bytes of one token (may be part of a UTF-8 character)."""
        buf = ctypes.create_string_buffer(PIECE_BUF)
        n = self._L.llama_token_to_piece(self.vocab, token, buf, PIECE_BUF, 0, False)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = self._L.llama_token_to_piece(self.vocab, token, buf, -n, 0, False)
        return buf.raw[:n]

    def is_eog(self, token: int) -> bool:
        return bool(self._L.llama_vocab_is_eog(self.vocab, token))

    # ----------------------------------------------------------------- decoding
    def reset(self) -> None:
        """Forget the whole KV cache."""
        with self.lock:
            self._L.llama_memory_clear(self._mem, True)
            self._cached = []

    def _truncate(self, n_keep: int) -> None:
        """Drop cached positions ``n_keep`` and later."""
        if n_keep < len(self._cached):
            self._L.llama_memory_seq_rm(self._mem, SEQ, n_keep, -1)
            del self._cached[n_keep:]

    def _decode_tokens(self, tokens: Sequence[int], pos0: int, want_logits: bool) -> None:
        L = self._L
        b = self._tok_batch
        for start in range(0, len(tokens), N_BATCH):
            chunk = tokens[start : start + N_BATCH]
            last_chunk = start + N_BATCH >= len(tokens)
            for i, tok in enumerate(chunk):
                b.token[i] = tok
                b.pos[i] = pos0 + start + i
                b.n_seq_id[i] = 1
                b.seq_id[i][0] = SEQ
                b.logits[i] = 1 if (want_logits and last_chunk and i == len(chunk) - 1) else 0
            b.n_tokens = len(chunk)
            rc = L.llama_decode(self._ctx, b)
            if rc != 0:
                raise LlmError(f"llama_decode failed on text (code {rc}; {recent_log()})")

    def _decode_embeddings(self, emb: np.ndarray, pos0: int, want_logits: bool) -> None:
        L = self._L
        emb = np.ascontiguousarray(emb, dtype=np.float32)
        k, d = emb.shape
        if d != self.n_embd:
            raise LlmError(f"prefix embeddings have width {d}, the model expects {self.n_embd}")
        if self._emb_batch is None or k > self._emb_cap:
            if self._emb_batch is not None:
                L.llama_batch_free(self._emb_batch)
            self._emb_cap = max(k, 8)
            self._emb_batch = L.llama_batch_init(self._emb_cap, self.n_embd, 1)
        b = self._emb_batch
        ctypes.memmove(b.embd, emb.ctypes.data, emb.nbytes)
        for i in range(k):
            b.pos[i] = pos0 + i
            b.n_seq_id[i] = 1
            b.seq_id[i][0] = SEQ
            b.logits[i] = 1 if (want_logits and i == k - 1) else 0
        b.n_tokens = k
        rc = L.llama_decode(self._ctx, b)
        if rc != 0:
            raise LlmError(f"llama_decode failed on audio embeddings (code {rc}; {recent_log()})")

    def _expand(self, items: Sequence[Item]) -> list[tuple[object, int | np.ndarray]]:
        """(cache key, token id or embedding row) per position, BOS first."""
        out: list[tuple[object, int | np.ndarray]] = [(self.bos, self.bos)]
        for item in items:
            if isinstance(item, Embeddings):
                key = item.key()
                data = np.asarray(item.data, dtype=np.float32)
                out += [((key, r), data[r]) for r in range(data.shape[0])]
            else:
                out += [(t, t) for t in self.tokenize(item, special=not isinstance(item, UserText))]
        return out

    def positions(self, items: Sequence[Item]) -> int:
        """Context positions ``items`` take, BOS included (what :meth:`prefill` would decode)."""
        return len(self._expand(items))

    def prefill(self, items: Sequence[Item]) -> np.ndarray:
        """Put BOS + ``items`` in the KV cache, reusing the cached head; logits of the last.

        Returns
        -------
        np.ndarray
            float32 ``[n_vocab]``: next-token logits after the prompt.
        """
        with self.lock:
            return self._prefill(items)

    def _prefill(self, items: Sequence[Item]) -> np.ndarray:
        """:meth:`prefill` without taking the lock (the caller holds it)."""
        t0 = time.perf_counter()
        seq = self._expand(items)
        if len(seq) + 1 > self.n_ctx:
            raise LlmError(f"prompt of {len(seq)} positions exceeds the context ({self.n_ctx})")
        keep = 0
        for (key, _), cached in zip(seq, self._cached):
            if key != cached:
                break
            keep += 1
        keep = min(keep, len(seq) - 1)  # always decode the last one to get its logits
        self._truncate(keep)
        try:
            self._decode_from(seq, keep)
        except Exception:
            # A failed decode may leave part of a batch in the cache: start clean next time.
            self._L.llama_memory_clear(self._mem, True)
            self._cached = []
            raise
        self.stats = GenStats(
            prompt_positions=len(seq),
            reused_positions=keep,
            prefill_ms=(time.perf_counter() - t0) * 1000.0,
        )
        return self.last_logits()

    def _decode_from(self, seq: list[tuple[object, int | np.ndarray]], start: int) -> None:
        """Decode ``seq[start:]`` in runs of tokens / embedding rows; logits for the last."""
        i = start
        while i < len(seq):
            is_emb = isinstance(seq[i][1], np.ndarray)
            j = i
            while j < len(seq) and isinstance(seq[j][1], np.ndarray) == is_emb:
                j += 1
            last = j == len(seq)
            if is_emb:
                self._decode_embeddings(np.stack([v for _, v in seq[i:j]]), i, last)
            else:
                self._decode_tokens([int(v) for _, v in seq[i:j]], i, last)
            self._cached += [k for k, _ in seq[i:j]]
            i = j

    def last_logits(self) -> np.ndarray:
        ptr = self._L.llama_get_logits_ith(self._ctx, -1)
        return np.ctypeslib.as_array(ptr, shape=(self.n_vocab,)).astype(np.float32, copy=True)

    # ----------------------------------------------------------------- generation
    def generate(
        self,
        items: Sequence[Item],
        max_tokens: int = 256,
        *,
        temperature: float = 0.0,
        seed: int = 0,
        stop_tokens: Sequence[int] = (),
        on_token: Callable[[int], None] | None = None,
        on_logits: Callable[[np.ndarray], None] | None = None,
    ) -> Iterator[str]:
        """Stream the answer to the prompt ``items`` as text pieces.

        Greedy when ``temperature`` is 0. Stops at an end-of-generation token, one of
        ``stop_tokens``, ``max_tokens`` or :attr:`cancel_event` (checked before every
        token, so a cancel takes effect within one token, ~10 ms here). Pieces are
        whole UTF-8 characters: a character split over tokens is held back until
        complete. Call :meth:`cancel_event.clear` before a new answer. ``on_logits`` receives the
        float32 ``[n_vocab]`` logits each token is chosen from (tests compare runs with it).
        """
        self.lock.acquire()
        try:
            self.stats = GenStats()
            if self.cancel_event.is_set():
                self.stats.cancelled, self.stats.stop_reason = True, "cancelled"
                return
            logits = self._prefill(items)
            stats = self.stats
            stops = set(int(t) for t in stop_tokens)
            rng = np.random.default_rng(seed)
            utf8 = Utf8Stream()
            generated: list[int] = []
            pos = len(self._cached)
            stats.stop_reason = "max_tokens"
            for _ in range(max_tokens):
                if self.cancel_event.is_set():
                    stats.cancelled, stats.stop_reason = True, "cancelled"
                    break
                if on_logits is not None:
                    on_logits(logits)
                tok = sample_token(logits, temperature, rng)
                if self.is_eog(tok) or tok in stops:
                    stats.stop_reason = "eog"
                    break
                if pos + 1 >= self.n_ctx:
                    stats.stop_reason = "context"
                    break
                if is_looping(generated):
                    stats.stop_reason = "repetition"
                    break
                stats.tokens += 1
                generated.append(tok)
                if on_token is not None:
                    on_token(tok)
                text = utf8.feed(self.piece(tok))
                if text:
                    yield text
                self._decode_tokens([tok], pos, True)
                self._cached.append(tok)
                pos += 1
                logits = self.last_logits()
            tail = utf8.flush()
            if tail:
                yield tail
        finally:
            self.lock.release()
