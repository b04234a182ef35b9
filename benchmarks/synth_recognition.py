"""Does the model recognise the app's own teaching sounds? (issue 9 item 5)

    .venv/bin/python benchmarks/synth_recognition.py [--bundle DIR] [--seeds 1000 1001 1002]

Renders every labelled preset of the synthesizer (stethodesk.audio.synth) with seeds that training
never used (training renders none), analyses it as its own domain and site, and compares the
card's calls (stethodesk.model.facts.card_facts at the bundle's operating points, as the app's card) with the preset's
labels: verdict (abnormal), murmur and its timing for heart presets, crackle and wheeze for lung
presets. A preset counts as recognised when every labelled call that the bundle has a head for
agrees on the majority of seeds. Prints a row per preset and the count (aim: >= 15 of 17).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

AIM = 15


def expected(labels: dict) -> dict:
    """The calls a card should make for a preset's labels (only those the heads can make)."""
    exp = {"abnormal": bool(labels.get("abnormal"))}
    if labels["domain"] == "heart":
        exp["murmur"] = labels.get("murmur", "absent")
        if labels.get("murmur") == "present" and labels.get("murmur_timing") in ("systolic", "diastolic"):
            exp["murmur_timing"] = labels["murmur_timing"]
    else:
        exp["crackle"] = bool(labels.get("crackle"))
        exp["wheeze"] = bool(labels.get("wheeze"))
    return exp


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bundle", type=Path, default=None)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1000, 1001, 1002])
    ap.add_argument("--seconds", type=float, default=12.0)
    a = ap.parse_args(argv)
    from stethodesk.audio.synth import render
    from stethodesk.audio.synth_presets import PRESETS
    from stethodesk.model.engine import Engine

    engine = Engine(bundle_path=a.bundle, n_threads=1).load()
    print(f"bundle {engine.name} {engine.version}; seeds {a.seeds}; load {os.getloadavg()[0]:.1f}")
    from stethodesk.model.analysis import operating_points

    points = operating_points(engine.bundle.heads)
    print("operating points: " + (", ".join(f"{k} {v:g}" for k, v in sorted(points.items())) or "0.5 for every finding"))
    ok = 0
    for name, (spec, _) in PRESETS.items():
        exp = expected(spec.labels)
        votes = {k: 0 for k in exp}
        n = 0
        for seed in a.seeds:
            snd = render(name, seconds=a.seconds, seed=seed)
            an = engine.analyze_audio(snd.samples, snd.samplerate, domain=spec.domain, site=spec.labels.get("site"))
            if not an.usable:
                continue
            n += 1
            got = engine.card_facts(an)
            for k, v in exp.items():
                votes[k] += int(got.get(k) == v or (k == "murmur" and v == "absent" and got.get(k) is None))
        good = n > 0 and all(votes[k] * 2 > n for k in exp)
        ok += good
        detail = ", ".join(f"{k} {votes[k]}/{n}" for k in exp)
        print(f"{'OK ' if good else 'MISS'} {name:22s} expected {exp}  agree: {detail}")
    print(f"recognised {ok}/{len(PRESETS)} presets (aim >= {AIM})")
    engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
