"""The preset tasks and how a request becomes the model's prompt. No Qt here.

The tasks (``resources/prompts/tasks.json``: title, description and instruction phrasings per
task) and the rules that turn a task or a typed question about one or two analysed recordings into
the prompt items :class:`stethodesk.model.llm.LlamaSession` decodes: the instruction with domain
and site filled in, the card's findings as text for bundles trained with them, and each
recording's audio prefix at its slot. :class:`stethodesk.model.engine.Engine` calls these.
"""

from __future__ import annotations

import json
from pathlib import Path

from stethodesk import paths
from stethodesk.model.analysis import AudioAnalysis, UnusableRecording
from stethodesk.model.grounded import findings_text_for
from stethodesk.model.prompts import AudioSlot, build_prompt, uses_facts
from stethodesk.model.sites import predicted_site, site_words

TASKS = ("binary", "detection", "report", "reasoning", "differential", "comparison", "location")
FREE_TEXT = "question"  # task name for a free-text question
TASKS_FILE = paths.RESOURCES / "prompts" / "tasks.json"

# Phrasings about heart sounds, never asked of a lung recording (same rule as training).
HEART_ONLY_WORDING = ("murmurs, extra heart", "extra heart sounds")


def load_tasks(path: Path = TASKS_FILE) -> dict:
    """The preset tasks (``resources/prompts/tasks.json``): name -> title, instructions, ..."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return data


def task_titles() -> dict[str, str]:
    """Task name -> button title, in :data:`TASKS` order."""
    tasks = load_tasks()["tasks"]
    return {name: tasks[name]["title"] for name in TASKS}


def instruction_for(tasks: dict, task: str, domain: str, site: str | None, site_b: str | None = None,
                    variant: int = 0) -> str:
    """The task's instruction with domain and site filled in (variant 0 = the default).

    ``tasks`` is :func:`load_tasks`'s dict. Phrasings naming ``{site}``/``{site_b}`` are used only
    when that site is known - the rule the training data follows (training/instructions.py), so
    no prompt says "recorded at the unspecified site".
    """
    phrasings = [
        p for p in tasks["tasks"][task]["instructions"]
        if ("{site}" not in p or site) and ("{site_b}" not in p or site_b)
        and not (domain == "lung" and any(w in p for w in HEART_ONLY_WORDING))
    ]
    if not phrasings:
        raise ValueError(f"the {task} task needs the chest site of the recording")
    text = phrasings[variant % len(phrasings)]
    return text.format(domain=domain, site=site or "", site_b=site_b or "")


def prompt_items(tasks: dict, template: dict | None, analysis: AudioAnalysis, task: str,
                 question: str | None, other: AudioAnalysis | None, variant: int,
                 context: str | None = None) -> tuple[list, str, str | None]:
    """(prompt items: text and ``Embeddings`` blocks, the instruction asked, the site in words).

    ``template`` is the bundle's prompt template. Raises :class:`UnusableRecording` when a
    recording cannot be analysed and ``ValueError`` for a request no prompt can be built for
    (unknown task, empty question, a comparison without a second recording, no site for location).
    """
    from stethodesk.model.llm import Embeddings

    for a, label in ((analysis, ""), (other, "The second recording: ")):
        if a is not None and not a.usable:
            raise UnusableRecording(label + (a.unusable_reason or "the recording cannot be analysed"))
    site = site_words(analysis.site)
    if task == "location" and site is None:  # the location task needs a site: take the head's
        site = site_words(predicted_site(analysis))
        if site is None:
            raise ValueError("the location task needs the chest site of the recording")
    site_b = site_words(other.site) if other is not None else None
    if task == "comparison":
        if other is None:
            raise ValueError("the comparison task needs a second recording (other=...)")
        n_audio = 2
    else:
        n_audio = 1
    if task == FREE_TEXT or (question and task not in TASKS):
        if not question or not question.strip():
            raise ValueError("a free-text question is empty")
        instruction = question.strip()
    elif task in TASKS:
        instruction = question.strip() if question and question.strip() else \
            instruction_for(tasks, task, analysis.domain, site, site_b, variant)
    else:
        raise ValueError(f"unknown task {task!r}; choose one of {', '.join(TASKS)} or ask a question")
    # the card's findings as text after each recording's audio, for bundles trained with them
    facts = [findings_text_for(a) for a in (analysis, other) if a is not None] if uses_facts(template) else None
    segs = build_prompt(instruction, domain=analysis.domain, site=site, site_b=site_b,
                        n_audio=n_audio, template=template, context=context, facts=facts)
    prefixes = [analysis.prefix, other.prefix if other is not None else None]
    items = [Embeddings(prefixes[s.index]) if isinstance(s, AudioSlot) else s for s in segs]
    return items, instruction, site
