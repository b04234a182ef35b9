"""Instruction data for the seven StethoBench task categories, generated from labels.

Every example asserts only what the record's labels support (unknown labels are never asserted;
where it matters the answer says the point "cannot be determined from this recording") and lists
the facts it asserts, so :func:`training.checker.check` can judge any answer against them. Each
example also carries ``rejected`` answers for DPO: the same answer template rendered from facts
with one fact flipped (a coherent but wrong answer).

    python -m training.instructions --out runs/instructions          # jsonl per split + counts
    python -m training.instructions --out runs/instructions --per-record 4 --seed 1

Example (one jsonl line)::

    {"id": "train-circor2022-13918_TV-report-0", "task": "report", "dataset": "circor2022",
     "split": "train", "audio": ["/.../13918_TV.flac"], "segments": [null], "domain": "heart",
     "site": "tricuspid", "site_title": "tricuspid area", "site_b": null, "instruction": "...",
     "answer": "...", "facts": {"abnormal": true, "murmur": "present", ...},
     "rejected": ["..."], "rejected_flips": ["murmur"]}

Modules: ``vocab`` (tasks, event names, knowledge file), ``facts`` (record -> facts, DPO flips),
``phrases`` (shared phrase builders), ``describe`` (binary, detection, report, comparison),
``interpret`` (differential, reasoning, location), ``generation`` (examples, CLI).
"""

from __future__ import annotations

from .describe import answer_binary, answer_comparison, answer_detection, answer_report
from .facts import flips, only_poor, record_facts
from .generation import RENDER, approx_tokens, count_table, generate, length_table, main, make_example
from .interpret import answer_differential, answer_location, answer_reasoning
from .phrases import crackle_phrase, findings_sentence, murmur_phrase, present_absent, verdict_word
from .vocab import (DEFAULT_MAX_TOKENS, EVENT_NAMES, HEART_EVENTS, LESIONS, LUNG_EVENTS, MAX_TOKENS,
                    N_REJECTED, TASKS, knowledge, site_title)

__all__ = [
    "DEFAULT_MAX_TOKENS", "EVENT_NAMES", "HEART_EVENTS", "LESIONS", "LUNG_EVENTS", "MAX_TOKENS",
    "N_REJECTED", "RENDER", "TASKS", "answer_binary", "answer_comparison", "answer_detection",
    "answer_differential", "answer_location", "answer_reasoning", "answer_report", "approx_tokens",
    "count_table", "crackle_phrase", "findings_sentence", "flips", "generate", "knowledge",
    "length_table", "main", "make_example", "murmur_phrase", "only_poor", "present_absent",
    "record_facts", "site_title", "verdict_word",
]
