"""The findings card's own ceiling on clinical accuracy: every answer replaced by the card's template.

The app shows the template whenever the model's words disagree with the card or the model says
nothing (:mod:`stethodesk.model.grounded`), so the template's accuracy on the reference facts the
card states is what a card-following answer can reach at most with this bundle's encoder. Same
test recordings, sample and checker as :func:`training.evaluate.evaluate_bundle` (an empty model
answer goes through the app's run-time check, which shows the template).

    python -m training.card_ceiling [BUNDLE]   # default: the shipped bundle
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def card_ceiling(bundle: Path, n_per_task: int = 30, seed: int = 0) -> dict:
    """``{"by_task": {task: {"acc", "n"}}, "overall": {"acc", "n"}}`` of the template answers
    (shown stated clinical accuracy, :func:`training.eval_card.card_metrics`)."""
    from training import evaluate as ev
    from training.audio_feats import record_index, with_record_keys
    from training.eval_card import card_metrics, card_rows
    from training.instructions import generate

    records = ev.test_records(None, seed)
    m, _, findings, feats = ev.bundle_findings(Path(bundle), records)
    exs = with_record_keys(generate(records, "test", seed), record_index(records))
    exs = [e for e in exs if all(a in feats for a in e["audio"])]
    sample = ev.with_card_texts(ev.interleave_tasks(ev.sample_per_task(exs, n_per_task, seed)), findings, m["heads"])
    rows = card_rows(sample, [""] * len(sample), findings, m["heads"], m.get("prompt_template"))
    stated = card_metrics(rows)["stated"]
    return {"by_task": stated["shown_clinical_accuracy"], "overall": stated["shown_clinical_accuracy_overall"]}


def main(argv=None) -> int:
    from stethodesk.model.bundle import default_bundle_dir

    ap = argparse.ArgumentParser(description="Clinical accuracy of the card's template answers (the ceiling).")
    ap.add_argument("bundle", nargs="?", default=None)
    a = ap.parse_args(argv)
    out = card_ceiling(Path(a.bundle) if a.bundle else default_bundle_dir())
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
