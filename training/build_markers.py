"""What a build remembers between runs: one ``<stage>.done.json`` marker per finished stage.

A rerun of ``training.build`` skips every stage whose marker exists; ``--redo <stage>`` forgets
the marker and the checkpoints that stage would otherwise resume from (:func:`forget`).
"""

from __future__ import annotations

import json
from pathlib import Path

# What "--redo <stage>" removes besides the stage marker: a checkpoint would otherwise be resumed,
# and the encoder skips itself when its config hash matches, which cannot see a change in how
# targets are made (the poor-quality targets of issue 9): redo means start that stage afresh.
REDO_FORGETS = {"encoder": ("encoder/encoder_result.json", "encoder/encoder_ckpt.pt"),
                "sft": ("sft_ckpt.pt",), "dpo": ("dpo_ckpt.pt",)}


def forget(run_dir: Path, stages, keep_checkpoints: bool = False) -> None:
    """Forget ``stages`` in ``run_dir`` so the next run does them afresh: each stage's
    ``<stage>.done.json`` marker and what :data:`REDO_FORGETS` names for it (kept with
    ``keep_checkpoints``: the stage then resumes from them, as ``--extend-sft`` wants)."""
    for stage in stages:
        (run_dir / f"{stage}.done.json").unlink(missing_ok=True)
        for name in () if keep_checkpoints else REDO_FORGETS.get(stage, ()):
            (run_dir / name).unlink(missing_ok=True)


def stage_done(run: Path, stage: str) -> dict | None:
    """The info a finished ``stage`` left in ``run/<stage>.done.json``; None when it has not finished."""
    p = run / f"{stage}.done.json"
    return json.loads(p.read_text()) if p.exists() else None


def mark_done(run: Path, stage: str, info: dict) -> dict:
    """Mark ``stage`` finished with ``info`` (written atomically: a killed run leaves no half marker)."""
    tmp = run / f"{stage}.done.json.tmp"
    tmp.write_text(json.dumps(info, indent=1, default=str))
    tmp.replace(run / f"{stage}.done.json")
    return info
