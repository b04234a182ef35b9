"""How much of the test answers' reference facts a bundle's findings card can state, and how often
it states them as labelled.

An answer that keeps to the card (issue 9) can be clinically correct only where the card carries
the fact and calls it as the label does. This prints, per fact key, the share of the evaluation
sample's reference facts the card states as labelled ("not on card": no head gives it), and the
share of examples whose every reference fact the card states: an upper bound on the clinical
accuracy of a model that says exactly what the card says. Same recordings and questions as
``training.evaluate`` (its test records, generator, sampling and seed); the card calls each finding
at the bundle's operating points (:func:`training.eval_card.example_card`), which are printed.

    .venv/bin/python -m training.card_coverage runs/laptop/bundle [--per-task 30]
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path


def coverage(bundle: Path, per_task: int = 30, seed: int = 0) -> tuple[dict[str, list[bool]], float, int]:
    """({fact key: [card states it as labelled, ...]}, share of examples stated in full, N)."""
    from training.audio_feats import record_index, with_record_keys
    from training.eval_card import example_card
    from training.evaluate import bundle_findings, interleave_tasks, sample_per_task, test_records
    from training.instructions import generate

    recs = test_records(None, seed)
    m, _, findings, feats = bundle_findings(bundle, recs, lambda *a: None)
    exs = with_record_keys(generate(recs, "test", seed), record_index(recs))
    exs = [e for e in exs if all(a in feats for a in e["audio"])]
    sample = interleave_tasks(sample_per_task(exs, per_task, seed))
    by_key: dict[str, list[bool]] = defaultdict(list)
    full = 0
    for e in sample:
        card = example_card(e, findings, m["heads"]).facts
        stated = True
        for k, v in e["facts"].items():
            name = k.split(".")[-1]
            if k in card:
                by_key[name].append(card[k] == v)
            else:
                by_key[f"{name} (not on card)"].append(False)
            stated &= card.get(k) == v
        full += stated
    return dict(by_key), full / max(1, len(sample)), len(sample)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("bundle", type=Path)
    ap.add_argument("--per-task", type=int, default=30)
    args = ap.parse_args(argv)
    import json

    from training.eval_metrics import bundle_points

    points = bundle_points(json.loads((args.bundle / "bundle.json").read_text()))
    print("operating points: " + (", ".join(f"{k} {v:g}" for k, v in sorted(points.items())) or "0.5 for every finding"))
    by_key, full, n = coverage(args.bundle, args.per_task)
    for k, v in sorted(by_key.items()):
        print(f"{k:30s} card states the label fact: {sum(v) / len(v):.2f} (n={len(v)})")
    print(f"examples whose every reference fact the card states as labelled: {full:.3f} (N={n})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
