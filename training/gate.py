"""Regression gate: a new bundle becomes the default only if its scorecard is not worse.

    python -m training.gate runs/laptop/bundle                      # against the app's default
    python -m training.gate runs/laptop/bundle --against models/stetholm-270m-laptop
    python -m training.gate runs/laptop/bundle --promote            # copy into models/, make default

Each bundle's scorecard comes from its ``metrics.json`` (:mod:`training.scorecard`: findings
AUROC per head and per dataset, challenge scores, clinical accuracy, answer-vs-card agreement,
and the leave-one-dataset-out figures when present). Two scorecards are compared only when they
were measured on the same test recordings and questions: ``metrics.json["fingerprint"]``
(:func:`training.eval_metrics.evaluation_fingerprint`) must agree. When it does not (the old
bundle was evaluated on an earlier split, by earlier code, or has no fingerprint), the old bundle
is evaluated again with the current code and the new bundle's evaluation settings, into
``runs/gate/<name>-<bundle hash>-<settings hash>/`` - ``models/`` is never modified by that. If the
new bundle's own metrics do not match the current split either, it is re-evaluated the same way.
Each bundle is judged at its OWN operating points (``heads.<head>.call_at``, what the app calls its
findings at; :func:`training.eval_metrics.bundle_points`): a bundle whose metrics.json was measured
at other points (evaluated before its points were chosen) is re-evaluated the same way too.

Exit status: 0 the new bundle passes (and, with ``--promote``, is now the default), 1 it is
worse on a gated metric (nothing is promoted), 2 the scorecards cannot be compared. The
tolerance rule is :func:`training.scorecard.tolerance` (printed with the table).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from stethodesk.paths import MODELS, REPO_ROOT
from training.eval_metrics import THRESHOLD, bundle_points
from training.scorecard import GROUNDED_FLOOR, MIN_TOLERANCE, compare, format_rows, passed, scorecard

GATE_CACHE = REPO_ROOT / "runs" / "gate"
DEFAULT_SETTINGS = {"n_per_task": 30, "max_new_tokens": 96, "seed": 0, "per_dataset_cap": None,
                    "budget_minutes": 0.0}  # when the new bundle's metrics carry no fingerprint
RULE = (f"a gated metric fails when new < old - max({MIN_TOLERANCE}, z x SE of the old figure), "
        "SE Hanley-McNeil for AUROC, binomial otherwise; shown answers must all agree with the card")

Evaluator = Callable[[Path, dict, Path], dict]  # (bundle, settings, out_dir) -> metrics


class GateError(RuntimeError):
    """The scorecards cannot be compared (missing metrics, split mismatch that re-evaluation
    did not resolve)."""


def load_metrics(bundle: Path) -> dict:
    """``<bundle>/metrics.json``, with ``lodo.json`` beside it as the ``lodo`` key when present."""
    path = Path(bundle) / "metrics.json"
    if not path.exists():
        raise GateError(f"{path} does not exist: evaluate the bundle first "
                        f"(python -m training.evaluate {bundle})")
    m = json.loads(path.read_text())
    lodo = Path(bundle) / "lodo.json"
    if lodo.exists():
        m["lodo"] = json.loads(lodo.read_text())
    return m


def fingerprint(m: dict) -> str | None:
    return (m.get("fingerprint") or {}).get("sha256")


def stale_points(bundle: Path, m: dict) -> bool:
    """Were the thresholded figures of metrics ``m`` measured at operating points other than the
    bundle's own (``bundle.json`` ``call_at``)? Metrics without ``operating_points`` were measured
    at 0.5 for every finding."""
    p = Path(bundle) / "bundle.json"
    want = bundle_points(json.loads(p.read_text())) if p.exists() else {}
    measured = set(m.get("findings") or {}) | set(m.get("operating_points") or {})
    want = {k: v for k, v in want.items() if k in measured and v != THRESHOLD}
    got = {k: float(v) for k, v in (m.get("operating_points") or {}).items() if float(v) != THRESHOLD}
    return want != got


def outdated(m: dict) -> bool:
    """Were metrics ``m`` written by evaluation code older than :data:`EVAL_VERSION` (e.g. without
    the ``stated`` clinical accuracy the scorecard gates)?"""
    from training.evaluate import EVAL_VERSION

    return int(m.get("eval_version") or 1) < EVAL_VERSION


def bundle_hash(bundle: Path) -> str:
    """sha256 of the bundle's manifest (it holds every file's sha256), else of its metrics."""
    for name in ("bundle.json", "metrics.json"):
        p = Path(bundle) / name
        if p.exists():
            return hashlib.sha256(p.read_bytes()).hexdigest()
    return hashlib.sha256(str(Path(bundle).resolve()).encode()).hexdigest()


def default_evaluator(bundle: Path, settings: dict, out_dir: Path) -> dict:
    """:func:`training.evaluate.evaluate_bundle` with ``settings``, writing only into ``out_dir``."""
    from training.evaluate import evaluate_bundle

    return evaluate_bundle(bundle, None, n_per_task=settings["n_per_task"],
                           max_new_tokens=settings["max_new_tokens"], seed=settings["seed"],
                           budget_minutes=settings.get("budget_minutes") or 0.0,
                           per_dataset_cap=settings.get("per_dataset_cap"), out_dir=out_dir)


def reevaluated(bundle: Path, settings: dict, target: str | None, cache: Path, evaluator: Evaluator,
                log=print) -> dict:
    """Metrics of ``bundle`` measured now with ``settings`` (cached under ``cache``).

    A cached result is reused when its fingerprint equals ``target`` (or, with no target, when
    the settings match) and it was written by the current evaluation code. The bundle's own LODO figures are carried over (they do not depend on
    the test split's answers).
    """
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
    out_dir = Path(cache) / f"{Path(bundle).resolve().name}-{bundle_hash(bundle)[:12]}-{key}"
    cached = out_dir / "metrics.json"
    if cached.exists():
        m = json.loads(cached.read_text())
        if outdated(m):
            log(f"gate: the cached evaluation in {out_dir} was made by older evaluation code; measuring again")
        elif target is None or fingerprint(m) == target:
            log(f"gate: using the cached evaluation of {bundle} in {out_dir}")
            return m
    log(f"gate: evaluating {bundle} with the current code into {out_dir} (the bundle is not modified)")
    out_dir.mkdir(parents=True, exist_ok=True)
    m = evaluator(Path(bundle), settings, out_dir)
    try:
        own = load_metrics(bundle)
    except GateError:
        own = {}
    if own.get("lodo") and not m.get("lodo"):
        m["lodo"] = own["lodo"]
    tmp = out_dir / "metrics.json.tmp"
    tmp.write_text(json.dumps(m, indent=1) + "\n")
    tmp.replace(cached)
    return m


def comparable_metrics(new: Path, old: Path, cache: Path = GATE_CACHE, evaluator: Evaluator | None = None,
                       log=print) -> tuple[dict, dict]:
    """(new metrics, old metrics) measured on the same test split and settings.

    Raises
    ------
    GateError
        When even after re-evaluation the fingerprints differ.
    """
    evaluator = evaluator or default_evaluator
    m_new, m_old = load_metrics(new), load_metrics(old)
    fp_new, fp_old = fingerprint(m_new), fingerprint(m_old)
    stale_new = stale_points(new, m_new) or outdated(m_new)
    stale_old = stale_points(old, m_old) or outdated(m_old)
    for b, stale in ((new, stale_new), (old, stale_old)):
        if stale:
            log(f"gate: {b}'s metrics.json was not measured at its own operating points or by the current "
                "evaluation code: re-evaluating it")
    if fp_new is not None and fp_new == fp_old and not (stale_new or stale_old):
        log(f"gate: both scorecards were measured on the same test split and settings ({fp_new[:12]})")
        return m_new, m_old
    settings = dict((m_new.get("fingerprint") or {}).get("settings") or DEFAULT_SETTINGS)
    settings.pop("threshold", None)  # a constant of the evaluation code, not a choice
    if fp_new is None or fp_new != fp_old or stale_old:
        log(f"gate: test-split fingerprints new {str(fp_new)[:12]}, old {str(fp_old)[:12]}: "
            f"re-evaluating the old bundle with settings {json.dumps(settings, sort_keys=True)}")
        m_old = reevaluated(old, settings, fp_new, cache, evaluator, log)
    if fingerprint(m_old) != fp_new or stale_new:
        log("gate: re-evaluating the new bundle too (other test split or other operating points)")
        m_new = reevaluated(new, settings, fingerprint(m_old), cache, evaluator, log)
    if fingerprint(m_new) is None or fingerprint(m_new) != fingerprint(m_old):
        raise GateError(f"cannot compare: fingerprints still differ after re-evaluation "
                        f"(new {fingerprint(m_new)}, old {fingerprint(m_old)})")
    return m_new, m_old


def promote(new: Path, models: Path, name: str, metrics: dict, previous: dict, verify=None, log=print) -> Path:
    """Copy ``new`` into ``models/<name>`` (replacing a bundle of that name), record the
    comparison as ``previous_bundle`` in its metrics and model card, and make it the default
    (``models/default.txt``). Returns the installed folder."""
    from training.evaluate import write_metrics

    models = Path(models)
    dest = models / name
    if verify is not None:
        verify(Path(new))
    if Path(new).resolve() != dest.resolve():
        tmp = models / f".{name}.incoming"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(new, tmp)
        old_dir = models / f".{name}.replaced"
        shutil.rmtree(old_dir, ignore_errors=True)
        if dest.exists():
            dest.rename(old_dir)
        tmp.rename(dest)
        shutil.rmtree(old_dir, ignore_errors=True)
    metrics = {**metrics, "previous_bundle": previous}
    write_metrics(dest, metrics, update_bundle=(dest / "bundle.json").exists())
    pointer = models / "default.txt"
    tmp_ptr = models / "default.txt.tmp"
    tmp_ptr.write_text(name + "\n")
    tmp_ptr.replace(pointer)
    log(f"gate: promoted {new} to {dest}; models/default.txt now names {name}")
    return dest


def install_name(new: Path, metrics: dict) -> str:
    """Folder name under models/ for ``new``: its own name, or ``stetholm-270m-<profile>`` for a
    build's ``.../bundle`` folder."""
    new = Path(new)
    if new.name != "bundle":
        return new.name
    try:
        profile = json.loads((new / "bundle.json").read_text()).get("profile")
    except (OSError, ValueError):
        profile = None
    return f"stetholm-270m-{profile or new.parent.name}"


def run_gate(new: Path, against: Path | None = None, *, models: Path = MODELS, promote_it: bool = False,
             name: str | None = None, z: float = 1.0, min_tol: float = MIN_TOLERANCE,
             shown_floor: float = GROUNDED_FLOOR, cache: Path = GATE_CACHE, evaluator: Evaluator | None = None,
             verify=None, log=print) -> int:
    """The gate as a function; returns the CLI's exit status.

    Parameters
    ----------
    new : path
        Candidate bundle folder (with ``metrics.json``).
    against : path, optional
        Bundle to beat; default: the default bundle of ``models`` (``default.txt``). With no
        bundle installed at all there is nothing to beat and the candidate passes.
    models : path
        The models folder (default ``models/``).
    promote_it : bool
        Install a passing candidate into ``models/<name>`` and make it the default.
    z, min_tol : float
        Tolerance ``max(min_tol, z x SE of the old figure)`` (:mod:`training.scorecard`).
    shown_floor : float
        Least share of shown (grounded) answers that agree with the card (default 1.0).
    evaluator : callable, optional
        ``(bundle, settings, out_dir) -> metrics`` for re-evaluations (default: the real one).
    verify : callable, optional
        Called with the candidate folder before it is installed (the CLI verifies sha256s).
    """
    from stethodesk.model.bundle import BundleError, default_bundle_dir

    new = Path(new)
    try:
        old = Path(against) if against else default_bundle_dir(models)
    except BundleError as exc:
        log(f"gate: no bundle to compare against ({exc}); the candidate passes")
        old, rows, m_new = None, [], load_metrics(new)
    if old is not None:
        if new.resolve() == old.resolve():
            log(f"gate: {new} is the bundle it would be compared against; nothing to do")
            return 0
        try:
            m_new, m_old = comparable_metrics(new, old, cache, evaluator, log)
        except GateError as exc:
            log(f"gate: {exc}")
            return 2
        rows = compare(scorecard(m_old, shown_floor), scorecard(m_new, shown_floor), z=z, min_tol=min_tol)
        log(format_rows(rows, old.name, new.name if new.name != "bundle" else str(new)))
        log(f"gate: rule: a gated metric fails when new < old - max({min_tol:g}, {z:g} x SE of the old figure) "
            f"(SE: Hanley-McNeil for AUROC, binomial otherwise); shown answers agreeing with the card >= {shown_floor:g}")
    ok = passed(rows)
    bad = [r.metric for r in rows if r.failed]
    log("gate: PASS" if ok else f"gate: FAIL on {len(bad)} metric(s): {', '.join(bad)}")
    if not ok:
        if promote_it:
            log("gate: not promoted; the default bundle is unchanged")
        return 1
    if promote_it:
        rule = RULE if (z, min_tol, shown_floor) == (1.0, MIN_TOLERANCE, GROUNDED_FLOOR) else \
            f"{RULE} [run with z={z:g}, min_tol={min_tol:g}, shown floor={shown_floor:g}]"
        previous = {"name": old.name if old is not None else None, "rule": rule,
                    "rows": [{"metric": r.metric, "old": r.old, "new": r.new, "tol": r.tol, "verdict": r.verdict}
                             for r in rows if r.verdict != "info"]}
        promote(new, models, name or install_name(new, m_new), m_new, previous, verify, log)
    return 0


def _verify_bundle(path: Path) -> None:
    from stethodesk.model.bundle import load_bundle

    load_bundle(path)  # every sha256 checked; raises BundleError naming the file


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Refuse a model bundle whose scorecard is worse than the shipped one.")
    ap.add_argument("new", type=Path, help="the candidate bundle folder (with metrics.json)")
    ap.add_argument("--against", type=Path, default=None, help="the bundle to beat (default: the app's default)")
    ap.add_argument("--promote", action="store_true", help="install a passing bundle into models/ as the default")
    ap.add_argument("--name", default=None, help="folder name under models/ (default: the bundle's)")
    ap.add_argument("--models", type=Path, default=MODELS, help="models folder (default: models/)")
    ap.add_argument("--z", type=float, default=1.0, help="tolerance in standard errors of the old figure")
    ap.add_argument("--min-tol", type=float, default=MIN_TOLERANCE, help="smallest tolerance")
    ap.add_argument("--shown-floor", type=float, default=GROUNDED_FLOOR,
                    help="least share of shown answers that must agree with the card (default 1.0: all)")
    ap.add_argument("--cache", type=Path, default=GATE_CACHE, help="where re-evaluations go")
    args = ap.parse_args(argv)
    return run_gate(args.new, args.against, models=args.models, promote_it=args.promote, name=args.name,
                    z=args.z, min_tol=args.min_tol, shown_floor=args.shown_floor, cache=args.cache,
                    verify=_verify_bundle)


if __name__ == "__main__":
    sys.exit(main())
