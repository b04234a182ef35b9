"""Instruction examples as token ids with audio slots: the SFT/DPO input, in the app's prompt layout.

Sequence layout (the same one the app builds, :func:`stethodesk.model.prompts.build_prompt`)::

    BOS [intro text][K audio embeddings][(second text)(K audio)][instruction text] answer <end_of_turn>

Each text segment is tokenized on its own with no special tokens added; BOS once at the start.
Audio positions hold -1 in ``ids``; the projector fills them at batch time
(``training.sft.build_embeds``). Evaluation uses :func:`prompt_segments` to prompt llama.cpp
exactly as training did.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stethodesk.model.prompts import AudioSlot, answer_end, build_prompt


@dataclass
class Encoded:
    """One example as token ids with audio slot markers.

    ``ids``: list[int] of length L where audio positions hold -1 (the projector fills them);
    ``slot``: list[int] (L) recording index (0/1) at audio positions, -1 elsewhere;
    ``kpos``: list[int] (L) 0..K-1 at audio positions;
    ``n_prompt``: tokens before the answer; the rest (answer + end) carries the loss.
    """

    id: str
    ids: list[int]
    slot: list[int]
    kpos: list[int]
    n_prompt: int
    audio: list[str]
    meta: dict = field(default_factory=dict)


def site_text(site: str | None) -> str | None:
    """A site in the words the app's prompts use ("mitral" -> "mitral area"), as the engine does."""
    try:
        from stethodesk.model.sites import site_words
    except Exception:  # the runtime is optional for training: keep the dataset's words
        return site
    return site_words(site)


def prompt_segments(ex: dict, template: dict | None = None):
    """The app's prompt segments for an instruction example (dict from training.instructions).

    ``ex["findings_texts"]`` (one findings text per recording, label-consistent in training, the
    bundle's own findings in evaluation) goes in when ``template`` uses facts."""
    n_audio = max(1, len(ex.get("audio") or []))
    return build_prompt(
        ex["instruction"],
        domain=ex.get("domain") or "heart",
        site=site_text(ex.get("site")),
        site_b=site_text(ex.get("site_b")),
        n_audio=min(n_audio, 2),
        template=template,
        facts=ex.get("findings_texts"),
    )


class TokenCache:
    """Tokenizes text segments once (prompt templates repeat a lot)."""

    def __init__(self, tokenizer):
        self.tok = tokenizer
        self.cache: dict[str, list[int]] = {}
        self.bos = int(tokenizer.bos_token_id)

    def __call__(self, text: str) -> list[int]:
        got = self.cache.get(text)
        if got is None:
            got = list(self.tok(text, add_special_tokens=False).input_ids)
            if len(self.cache) < 50_000:
                self.cache[text] = got
        return got


def encode(tc: TokenCache, segments, answer: str | None, k: int, template: dict | None = None,
           ex_id: str = "", audio=(), max_len: int = 10_000, meta=None) -> Encoded:
    """Segments (+ answer) -> :class:`Encoded`. ``answer`` None gives the prompt only."""
    ids, slot, kpos = [tc.bos], [-1], [-1]
    for seg in segments:
        if isinstance(seg, AudioSlot):
            ids += [-1] * k
            slot += [seg.index] * k
            kpos += list(range(k))
        else:
            t = tc(seg)
            ids += t
            slot += [-1] * len(t)
            kpos += [-1] * len(t)
    n_prompt = len(ids)
    if answer is not None:
        a = tc(answer) + tc(answer_end(template))
        ids += a
        slot += [-1] * len(a)
        kpos += [-1] * len(a)
    meta = dict(meta or {})
    if len(ids) > max_len:  # keep the whole prompt, cut the answer's tail
        ids, slot, kpos = ids[:max_len], slot[:max_len], kpos[:max_len]
        meta["cut"] = True
    return Encoded(ex_id, ids, slot, kpos, n_prompt, list(audio), meta)


MAX_CUT_SHARE = 0.02  # share of a task's training answers that may lose their tail to max_len


def cut_shares(encoded: list[Encoded]) -> dict[str, float]:
    """Per task (``meta["task"]``), the share of encoded examples whose answer was cut at ``max_len``."""
    seen: dict[str, list[bool]] = {}
    for e in encoded:
        seen.setdefault(str(e.meta.get("task")), []).append(bool(e.meta.get("cut")))
    return {t: sum(v) / len(v) for t, v in sorted(seen.items())}


def check_cuts(encoded: list[Encoded], max_len: int, limit: float = MAX_CUT_SHARE) -> dict[str, float]:
    """:func:`cut_shares`, raising ValueError when a task loses more than ``limit`` of its answers'
    tails to ``max_len`` (the model would never learn how those answers go on, or end)."""
    shares = cut_shares(encoded)
    bad = {t: s for t, s in shares.items() if s > limit}
    if bad:
        raise ValueError(f"max_len {max_len} cuts the answers of " + ", ".join(f"{s:.0%} of {t}" for t, s in bad.items())
                         + f" (at most {limit:.0%} allowed): raise SFTConfig.max_len")
    return shares


def encode_example(tc: TokenCache, ex: dict, k: int, answer: str | None = "__answer__",
                   template: dict | None = None, max_len: int = 10_000) -> Encoded:
    """Encode an instruction example with its own answer (or another ``answer`` string)."""
    ans = ex["answer"] if answer == "__answer__" else answer
    return encode(tc, prompt_segments(ex, template), ans, k, template, ex.get("id", ""),
                  ex.get("audio") or [], max_len, {"task": ex.get("task"), "dataset": ex.get("dataset")})
