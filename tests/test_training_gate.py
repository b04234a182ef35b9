"""Regression gate (training/gate.py, training/scorecard.py) on synthetic metrics.json files.

No model is loaded: bundles are folders holding only a metrics.json, the evaluator that a
fingerprint mismatch calls is injected, and promotion is checked on a temporary models folder.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from training import gate
from training.evaluate import EVAL_VERSION
from training.scorecard import auroc_se, binomial_se, compare, passed, scorecard

SETTINGS = {"n_per_task": 30, "max_new_tokens": 96, "seed": 0, "threshold": 0.5, "per_dataset_cap": None,
            "budget_minutes": 7.0}


def metrics(fp="split-A", auroc=0.90, acc=0.45, agree=0.80, shown=1.0, lodo=None, heads=("abnormal", "murmur"),
            stated=0.70, version=EVAL_VERSION):
    """A metrics.json as training.evaluate writes it, with the figures given (``stated`` None:
    none of the stated-facts figures, as older evaluation code wrote)."""
    fnd = {h: {"n": 400, "positives": 150, "auroc": auroc, "sens": 0.8, "spec": 0.8} for h in heads}
    m = {
        "findings": fnd,
        "findings_by_dataset": {"circor2022": {h: {"n": 130, "positives": 40, "auroc": auroc} for h in heads}},
        "challenge": {"physionet2016_macc": {"value": 0.77, "n": 149}},
        "clinical_accuracy": {"binary": {"acc": acc, "n": 30}},
        "clinical_accuracy_overall": {"acc": acc, "n": 210},
        "card_agreement": {"binary": {"rate": agree, "n": 30}},
        "card_agreement_overall": {"rate": agree, "n": 210},
        "grounded": {"card_agreement_overall": {"rate": shown, "n": 210},
                     "clinical_accuracy_overall": {"acc": acc, "n": 210}},
        "fingerprint": {"sha256": fp, "settings": SETTINGS},
        "eval_version": version,
    }
    if stated is not None:
        m["stated"] = {"clinical_accuracy_overall": {"acc": stated, "n": 180},
                       "shown_clinical_accuracy_overall": {"acc": stated, "n": 180}}
    if lodo is not None:
        m["lodo"] = {"folds": {"icbhi2017": {"held_out": {"crackle": {"n": 187, "positives": 60, "auroc": lodo}}}}}
    return m


def bundle(root: Path, name: str, m: dict) -> Path:
    d = root / name
    d.mkdir(parents=True)
    (d / "metrics.json").write_text(json.dumps(m))
    return d


class Evaluator:
    """Stands in for training.evaluate: returns ``result(bundle)`` and records the calls."""

    def __init__(self, result):
        self.result = result
        self.calls = []

    def __call__(self, bundle_dir, settings, out_dir):
        self.calls.append((Path(bundle_dir).name, dict(settings), Path(out_dir)))
        return self.result(Path(bundle_dir))


def no_eval(*_):
    raise AssertionError("no re-evaluation expected")


def run(tmp_path, new, old, **kw):
    logs = []
    kw.setdefault("evaluator", no_eval)
    rc = gate.run_gate(new, old, cache=tmp_path / "cache", log=logs.append, **kw)
    return rc, "\n".join(map(str, logs))


def test_standard_errors():
    # Hanley & McNeil 1982 by hand: A = 0.9, Q1 = 0.9/1.1, Q2 = 2*0.81/1.9, 50 + 50 cases:
    # var = (0.09 + 49 (Q1 - 0.81) + 49 (Q2 - 0.81)) / 2500 = 0.0010319 -> SE 0.0321
    assert auroc_se(0.9, 50, 50) == pytest.approx(0.03212, abs=1e-4)
    assert auroc_se(0.9, 200, 200) < auroc_se(0.9, 50, 50)
    assert binomial_se(0.5, 100) == pytest.approx(0.05)
    assert auroc_se(None, 5, 5) is None and binomial_se(0.5, 0) is None


def test_worse_bundle_refused(tmp_path):
    old = bundle(tmp_path, "old", metrics(auroc=0.90))
    new = bundle(tmp_path, "new", metrics(auroc=0.85))  # SE of 0.90 on 150/250 is ~0.016: 0.05 is beyond
    rc, log = run(tmp_path, new, old)
    assert rc == 1
    assert "finding/abnormal" in log and "WORSE" in log and "gate: FAIL" in log


def test_better_and_within_tolerance_accepted(tmp_path):
    old = bundle(tmp_path, "old", metrics(auroc=0.90, acc=0.45))
    better = bundle(tmp_path, "better", metrics(auroc=0.93, acc=0.55, agree=0.9))
    assert run(tmp_path, better, old)[0] == 0
    close = bundle(tmp_path, "close", metrics(auroc=0.895, acc=0.44, agree=0.79))  # inside max(0.01, SE)
    rc, log = run(tmp_path, close, old)
    assert rc == 0 and "gate: PASS" in log


def test_tolerance_rule():
    # metrics of older evaluation code (no stated-facts figures): the full accuracy is gated
    old = scorecard(metrics(acc=0.5, stated=None))["clinical_accuracy"]
    assert old.se == pytest.approx(math.sqrt(0.25 / 210))
    rows = {r.metric: r for r in compare(scorecard(metrics(acc=0.5, stated=None)),
                                         scorecard(metrics(acc=0.5 - 0.04, stated=None)))}
    assert rows["clinical_accuracy"].tol == pytest.approx(max(0.01, old.se))
    assert rows["clinical_accuracy"].verdict == "WORSE"  # 0.04 > SE 0.035
    assert rows["clinical_accuracy/binary"].verdict == "info"  # per-task figures are shown, not gated


def test_shown_answers_must_all_agree_and_heads_must_not_vanish(tmp_path):
    old = bundle(tmp_path, "old", metrics())
    new = bundle(tmp_path, "new", metrics(shown=0.995))
    rc, log = run(tmp_path, new, old)
    assert rc == 1 and "BELOW FLOOR" in log
    assert run(tmp_path, new, old, shown_floor=0.99)[0] == 0  # an explicit, logged exception
    fewer = bundle(tmp_path, "fewer", metrics(heads=("abnormal",)))
    rc, log = run(tmp_path, fewer, old)
    assert rc == 1 and "MISSING" in log
    assert not passed(compare(scorecard(metrics(lodo=0.7)), scorecard(metrics())))  # LODO dropped


def test_lodo_figures_are_gated(tmp_path):
    old = bundle(tmp_path, "old", metrics(lodo=0.80))
    assert run(tmp_path, bundle(tmp_path, "a", metrics(lodo=0.70)), old)[0] == 1
    assert run(tmp_path, bundle(tmp_path, "b", metrics(lodo=0.81)), old)[0] == 0
    # lodo.json next to metrics.json counts as the metrics' "lodo" key
    c = bundle(tmp_path, "c", metrics())
    (c / "lodo.json").write_text(json.dumps(metrics(lodo=0.60)["lodo"]))
    assert run(tmp_path, c, old)[0] == 1


def test_mismatched_fingerprints_trigger_reevaluation_of_the_old_bundle(tmp_path):
    old = bundle(tmp_path, "old", metrics(fp="split-OLD", auroc=0.97))
    old_bytes = (old / "metrics.json").read_bytes()
    new = bundle(tmp_path, "new", metrics(fp="split-NEW", auroc=0.90))
    ev = Evaluator(lambda b: metrics(fp="split-NEW", auroc=0.89))  # the old bundle, measured now
    rc, log = run(tmp_path, new, old, evaluator=ev)
    assert rc == 0, log  # 0.90 vs 0.89 on the same split; against the stale 0.97 it would have failed
    assert [c[0] for c in ev.calls] == ["old"]
    assert ev.calls[0][1]["budget_minutes"] == 7.0 and "threshold" not in ev.calls[0][1]  # new's settings
    assert tmp_path / "cache" in ev.calls[0][2].parents
    assert (old / "metrics.json").read_bytes() == old_bytes  # the old bundle is never modified
    rc2, log2 = run(tmp_path, new, old, evaluator=ev)  # second time: from the cache
    assert rc2 == 0 and len(ev.calls) == 1 and "cached" in log2


def test_new_bundle_reevaluated_when_its_split_is_stale(tmp_path):
    old = bundle(tmp_path, "old", metrics(fp=None))  # no fingerprint at all (metrics of older code)
    new = bundle(tmp_path, "new", metrics(fp="split-STALE"))
    ev = Evaluator(lambda b: metrics(fp="split-NOW", auroc=0.90 if b.name == "old" else 0.92))
    rc, log = run(tmp_path, new, old, evaluator=ev)
    assert rc == 0 and sorted(c[0] for c in ev.calls) == ["new", "old"]
    broken = Evaluator(lambda b: metrics(fp=f"split-{b.name}"))  # never agree: cannot compare
    assert run(tmp_path, bundle(tmp_path, "x", metrics(fp="q")), bundle(tmp_path, "y", metrics(fp="r")),
               evaluator=broken)[0] == 2


def test_promote_writes_default_only_on_pass(tmp_path):
    models = tmp_path / "models"
    shipped = bundle(models, "shipped", metrics(auroc=0.90))
    (models / "default.txt").write_text("shipped\n")
    verified = []
    worse = bundle(tmp_path / "runs", "worse", metrics(auroc=0.80))
    rc, log = run(tmp_path, worse, None, models=models, promote_it=True, verify=verified.append)
    assert rc == 1 and "not promoted" in log
    assert (models / "default.txt").read_text() == "shipped\n" and not (models / "worse").exists()
    assert verified == []
    good = bundle(tmp_path / "runs" / "laptop", "bundle", metrics(auroc=0.92))
    rc, log = run(tmp_path, good, None, models=models, promote_it=True, name="candidate", verify=verified.append)
    assert rc == 0 and verified == [good]
    assert (models / "default.txt").read_text() == "candidate\n"
    installed = json.loads((models / "candidate" / "metrics.json").read_text())
    assert installed["previous_bundle"]["name"] == "shipped"
    assert any(r["metric"] == "finding/abnormal" and r["old"] == 0.90 for r in installed["previous_bundle"]["rows"])
    assert (shipped / "metrics.json").exists()  # the previous bundle stays installed
    assert "Compared with the previous default bundle" in (models / "candidate" / "metrics.md").read_text()


def test_first_bundle_passes_without_a_default(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    first = bundle(tmp_path / "runs", "first", metrics())
    rc, log = run(tmp_path, first, None, models=models, promote_it=True)
    assert rc == 0 and (models / "default.txt").read_text() == "first\n"


def test_install_name(tmp_path):
    b = tmp_path / "runs" / "laptop" / "bundle"
    b.mkdir(parents=True)
    (b / "bundle.json").write_text(json.dumps({"profile": "laptop"}))
    assert gate.install_name(b, {}) == "stetholm-270m-laptop"
    assert gate.install_name(tmp_path / "mine", {}) == "mine"


def test_cli_compares_against_a_given_bundle(tmp_path, capsys):
    old = bundle(tmp_path, "old", metrics(auroc=0.9))
    new = bundle(tmp_path, "new", metrics(auroc=0.8))
    assert gate.main([str(new), "--against", str(old), "--cache", str(tmp_path / "c")]) == 1
    out = capsys.readouterr().out
    assert "finding/abnormal" in out and "WORSE" in out


def test_accuracy_on_the_facts_the_card_states_is_gated_and_the_full_one_shown():
    """Issue 9 item 2: an answer must not assert a fact its prompt does not carry, so the full
    clinical accuracy (which counts rhonchi, stridor... that no head gives) is shown, not gated,
    once the stated-facts figures exist; a drop in those refuses the bundle."""
    card = scorecard(metrics())
    assert card["stated/clinical_accuracy"].gated and card["shown/stated/clinical_accuracy"].gated
    assert not card["clinical_accuracy"].gated and not card["shown/clinical_accuracy"].gated
    old_code = scorecard(metrics(stated=None, version=1))
    assert old_code["clinical_accuracy"].gated and "stated/clinical_accuracy" not in old_code
    # full accuracy 0.49 -> 0.25 with the stated one equal: shown, passes
    assert passed(compare(scorecard(metrics(acc=0.49)), scorecard(metrics(acc=0.25))))
    rows = compare(scorecard(metrics(stated=0.70)), scorecard(metrics(stated=0.55)))
    assert not passed(rows) and {r.metric for r in rows if r.failed} == {
        "stated/clinical_accuracy", "shown/stated/clinical_accuracy"}


def test_metrics_of_older_evaluation_code_are_measured_again(tmp_path):
    old = bundle(tmp_path, "old", metrics(stated=None, version=1))  # same split, older code
    new = bundle(tmp_path, "new", metrics())
    ev = Evaluator(lambda b: metrics(stated=0.69))
    rc, log = run(tmp_path, new, old, evaluator=ev)
    assert rc == 0 and [c[0] for c in ev.calls] == ["old"] and "evaluation code" in log


def test_a_cached_evaluation_by_older_code_is_not_reused(tmp_path):
    old = bundle(tmp_path, "old", metrics(fp="split-OLD"))
    new = bundle(tmp_path, "new", metrics(fp="split-NEW"))
    stale = Evaluator(lambda b: metrics(fp="split-NEW", stated=None, version=1))  # older code wrote the cache
    run(tmp_path, new, old, evaluator=stale)
    ev = Evaluator(lambda b: metrics(fp="split-NEW"))
    rc, log = run(tmp_path, new, old, evaluator=ev)
    assert [c[0] for c in ev.calls] == ["old"] and "older evaluation code" in log
