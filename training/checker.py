"""The deterministic clinical-accuracy checker, for training and evaluation.

The checker itself lives in :mod:`stethodesk.model.checker` (the app uses it at run time and must
not import ``training``); this module re-exports it and adds the command line:

    python -m training.checker runs/instructions     # chosen-pass / rejected-fail per task
"""

from __future__ import annotations

from stethodesk.model.checker import *  # the public checker API (its __all__)
from stethodesk.model.checker import CheckResult, check, parse_fact, split_ab  # noqa: F401


def main(argv=None) -> int:
    """``python -m training.checker runs/instructions``: checker agreement on generated data.

    Prints, per task, how many chosen answers pass and how many rejected (flipped) answers fail.
    """
    import argparse
    import json
    from collections import Counter
    from pathlib import Path

    ap = argparse.ArgumentParser(description="Check generated instruction data with the checker.")
    ap.add_argument("folder", type=Path, help="folder with train/val/test.jsonl")
    args = ap.parse_args(argv)
    ok, n, rok, rn = Counter(), Counter(), Counter(), Counter()
    for path in sorted(args.folder.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            e = json.loads(line)
            t = e["task"]
            n[t] += 1
            ok[t] += check(e["answer"], e["facts"]).correct
            for r in e.get("rejected", []):
                rn[t] += 1
                rok[t] += not check(r, e["facts"]).correct
    print(f"{'task':14s} {'chosen pass':>18s} {'rejected fail':>20s}")
    for t in sorted(n):
        print(f"{t:14s} {ok[t]:7d}/{n[t]:<7d} {ok[t] / n[t]:6.2%}  {rok[t]:7d}/{rn[t]:<7d} "
              f"{rok[t] / max(rn[t], 1):6.2%}")
    tn, tr = sum(n.values()), sum(rn.values())
    print(f"{'ALL':14s} {sum(ok.values()):7d}/{tn:<7d} {sum(ok.values()) / max(tn, 1):6.2%}  "
          f"{sum(rok.values()):7d}/{tr:<7d} {sum(rok.values()) / max(tr, 1):6.2%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
