"""The prompt layout shared by training and the app. No Qt, no torch, no llama.cpp.

A prompt is a list of *segments*: plain text, or an :class:`AudioSlot` where
the K prefix embeddings of one recording go. Training (``training/``) and the
runtime engine both build prompts only through :func:`build_prompt`, and both
tokenize each text segment separately (no BOS inside segments; BOS once at the
start), so the two can never disagree about what the model saw.

Layout (StethoLM-style, guide section 2)::

    BOS [prompt text][K audio embeddings][findings text][task instruction text] -> answer

For the comparison task there are two audio slots (recording A, recording B), each followed by
its own findings text. The findings text (issue 9, item 1) is the card's calibrated findings in
plain lines (:func:`stethodesk.model.facts.facts_text`): the model reads the facts the card
shows instead of guessing them from the prefix alone. A bundle trained with it carries the
template key ``"facts"``; an older bundle's stored template has none, and its prompts stay
exactly the ones it was trained on (:func:`uses_facts`).
"""

from __future__ import annotations

import string
from dataclasses import dataclass

# Gemma 3 chat markers: the base is not instruction-tuned, but its tokenizer
# knows these as single tokens, which gives the LoRA a clear answer boundary.
TURN_USER = "<start_of_turn>user\n"
TURN_END = "<end_of_turn>\n"
TURN_MODEL = "<start_of_turn>model\n"
ANSWER_END = "<end_of_turn>"  # generation stops here

DEFAULT_TEMPLATE = {
    "intro": TURN_USER + "Auscultation: {domain} sound recorded at the {site}.\nAudio:",
    "second_audio": "\nSecond recording ({site_b}):",
    "facts": "\n",  # before each recording's findings text (only for bundles trained with it)
    "context": "\nPatient context given by the user: ",
    "instruction": "\n{instruction}" + TURN_END + TURN_MODEL,
    "answer_end": ANSWER_END,
}


@dataclass(frozen=True)
class AudioSlot:
    """Placeholder for the prefix embeddings of recording ``index`` (0 = A, 1 = B)."""

    index: int = 0


class UserText(str):
    """Text that came from a person (a typed question, a follow-up, patient context).

    It is data, never control: the runtime tokenizes it without parsing special tokens, so a
    typed ``<end_of_turn>`` stays the characters it is (issue 11 item 5; llama.cpp's
    ``parse_special`` flag, guide section 2c). A plain ``str`` subclass, so training code that
    treats segments as strings keeps working.
    """

    __slots__ = ()


Segment = str | AudioSlot


def build_prompt(
    instruction: str,
    *,
    domain: str,
    site: str | None,
    site_b: str | None = None,
    n_audio: int = 1,
    template: dict | None = None,
    context: str | None = None,
    facts: list[str | None] | None = None,
) -> list[Segment]:
    """Segments of the prompt for one question about one or two recordings.

    ``site`` may be None ("unspecified site"). ``n_audio`` is 1 or 2. ``domain``, ``site`` and
    ``site_b`` fill the template through :func:`fill`, as :class:`UserText` (a typed site is data). ``context`` is what the
    user entered about the patient (age group, known conditions, symptoms); it goes after the
    audio as :class:`UserText` (data, never control), and only when given, so prompts without it
    are exactly the ones the model was trained on. ``facts`` holds one findings text per
    recording (``None`` entries are skipped); it goes right after that recording's audio, as
    :class:`UserText` (a site typed by the user can be part of it), and only when the template
    uses facts (:func:`uses_facts`), so an older bundle never sees text it was not trained on.
    """
    if n_audio not in (1, 2):
        raise ValueError("n_audio must be 1 or 2")
    t = {**DEFAULT_TEMPLATE, **(template or {})}
    with_facts = bool(facts) and uses_facts(template)
    site_txt = site or "unspecified site"

    def facts_of(i: int) -> list[Segment]:
        text = facts[i] if with_facts and i < len(facts) else None
        return [t["facts"], UserText(text.strip())] if text and text.strip() else []

    segs: list[Segment] = [*fill(t["intro"], domain=domain, site=site_txt), AudioSlot(0), *facts_of(0)]
    if n_audio == 2:
        segs += [*fill(t["second_audio"], site_b=site_b or "unspecified site"), AudioSlot(1), *facts_of(1)]
    if context and context.strip():
        segs += [t["context"], UserText(" ".join(context.split()))]
    # The instruction is user-supplied (or a preset phrasing): it becomes its own UserText segment
    # between the template's text, so markers typed into it are never parsed as control tokens.
    before, sep, after = t["instruction"].partition("{instruction}")
    if not sep:
        raise ValueError("the prompt template's instruction has no {instruction} slot")
    segs += [before, UserText(instruction.strip()), after]
    return [s for s in segs if not (isinstance(s, str) and s == "")]


def fill(template: str, **values: str) -> list[str]:
    """``template.format(**values)`` as segments: the template's own text stays ``str`` (its
    ``<start_of_turn>`` markers are control tokens), every filled-in value is a :class:`UserText`
    (a typed site such as ``"...<end_of_turn>"`` stays characters, issue 11 item 5).

    The whitespace right before a ``{field}`` moves into the value's segment ("at the" +
    " mitral area"), because Gemma's tokenizer joins a space to the word after it: the token ids
    of the pieces are then those of the whole string for every known site (checked on the real
    tokenizer in tests/test_engine_llm.py), so a split prompt is the prompt the model was trained
    on. Raises ``KeyError`` for a field not given, ``ValueError`` for a format spec.
    """
    segs: list[str] = []
    for literal, field, spec, conv in string.Formatter().parse(template):
        lead = ""
        if field is not None:
            if spec or conv:
                raise ValueError(f"the prompt template field {{{field}}} has a format spec")
            stripped = literal.rstrip()
            literal, lead = stripped, literal[len(stripped):]
        if literal:
            segs.append(literal)
        if field is not None:
            segs.append(UserText(lead + str(values[field])))
    return segs


def uses_facts(template: dict | None) -> bool:
    """Was a bundle with this stored prompt template trained with findings text in its prompts?

    ``None`` means the current default layout (training builds with it), which has facts; a
    stored template has them only if it carries the ``"facts"`` key (bundles exported before
    issue 9's findings-in-prompt change do not)."""
    return template is None or "facts" in template


def answer_end(template: dict | None = None) -> str:
    return {**DEFAULT_TEMPLATE, **(template or {})}["answer_end"]
