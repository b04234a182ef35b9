"""Typed text cut to what the model's context holds, by the model's own tokens. No Qt, no torch.

A question or patient context of any length and script must leave room for the recording's
audio, its findings and the answer in the context (:data:`stethodesk.model.llm.N_CTX`
positions). Words are no measure: 3,000 CJK characters or one 21,000-letter "word" are a few
words and thousands of tokens (issue 11 item 5). :func:`fit_user_text` counts tokens with the
loaded GGUF's tokenizer, cuts the text to fit and says so in a note; the findings are never lost
to a long question.
"""

from __future__ import annotations

from collections.abc import Callable

MAX_QUESTION_TOKENS = 420  # ~300 English words
MAX_CONTEXT_TOKENS = 140  # ~100 English words
QUESTION_FLOOR = 64  # tokens of the question kept before the context gives way
ANSWER_RESERVE = 256  # positions kept free for the answer (at most the answer's max_tokens)


def cut_to_tokens(session, text: str | None, limit: int) -> tuple[str | None, int]:
    """(``text`` cut to at most ``limit`` tokens of ``session``'s tokenizer, the original token
    count when it was cut, else 0).

    ``session`` is a :class:`~stethodesk.model.llm.LlamaSession` (``tokenize``, ``piece``). The cut
    falls on a token boundary; a UTF-8 character split by it is dropped.
    """
    if not text:
        return text, 0
    ids = session.tokenize(text, special=False)
    if len(ids) <= limit:
        return text, 0
    keep = max(0, limit)
    while True:
        cut = b"".join(session.piece(t) for t in ids[:keep]).decode("utf-8", errors="ignore").rstrip()
        if keep == 0 or len(session.tokenize(cut, special=False)) <= limit:
            return cut, len(ids)
        keep -= 1  # re-tokenizing the cut text took more tokens: cut one more


def fit_user_text(session, build: Callable[[str | None, str | None], tuple], question: str | None,
                  context: str | None, max_tokens: int) -> tuple[tuple, str | None, str | None, list[str]]:
    """(what ``build`` returned last, question, context, notes), the prompt and answer fitting the context.

    ``build(question, context)`` returns a tuple whose first element is the prompt items
    (``str``/``Embeddings``; :func:`stethodesk.model.tasks.prompt_items`). The question is
    cut to :data:`MAX_QUESTION_TOKENS` and the context to :data:`MAX_CONTEXT_TOKENS`; when the
    whole prompt plus ``min(max_tokens, ANSWER_RESERVE)`` answer tokens still exceeds
    ``session.n_ctx``, the question gives way down to :data:`QUESTION_FLOOR` tokens, then the
    context, then the question again. Each cut adds one plain note.
    """
    orig_q, orig_c = question, context
    question, _ = cut_to_tokens(session, question, MAX_QUESTION_TOKENS)
    context, _ = cut_to_tokens(session, context, MAX_CONTEXT_TOKENS)
    built = build(question, context)
    reserve = min(max(int(max_tokens), 1), ANSWER_RESERVE)
    for which, floor in (("question", QUESTION_FLOOR), ("context", 0), ("question", 1)):
        over = session.positions(built[0]) + reserve - session.n_ctx
        text = question if which == "question" else context
        if over <= 0 or not text:
            continue
        have = len(session.tokenize(text, special=False))
        text, _ = cut_to_tokens(session, text, max(floor, have - over))
        if which == "question":
            question = text
        else:
            context = text or None
        built = build(question, context)
    notes = [_note(name, orig, now) for name, orig, now in
             (("question", orig_q, question), ("patient context", orig_c, context)) if orig and orig != now]
    return built, question, context, notes


def _note(name: str, orig: str, now: str | None) -> str:
    if not now:
        return f"The {name} was too long for the model beside the recording and was left out."
    return (f"The {name} was too long for the model ({len(orig):,} characters); only its first "
            f"{len(now):,} characters were read.")
