"""``stethodesk analyze --exam FILE:SITE FILE:SITE ... [--task TASK]``: one answer about a whole exam.

Every recording is analysed on its own (findings, quality, usable or not), then pooled into the
exam findings (:func:`stethodesk.model.exam.exam_findings`). ``--format jsonl`` prints ONE object:

- the single-recording contract keys: ``file`` (here the list of the exam's files), ``task``,
  ``domain``, ``site`` (the most audible site), ``answer``, ``findings`` (patient-level
  probabilities), ``heart_rate_bpm`` (median of the usable heart sites), ``signal_quality`` (the
  worst usable site), ``timing`` (``encode_ms`` summed over sites, ``first_token_ms``,
  ``total_ms``, ``tokens``), ``model``, ``disclaimer``;
- ``exam_findings`` (:meth:`ExamFindings.to_dict`), ``exam_text``, ``sites`` (each site's own
  analysis with its ``file``; an unreadable file is a site with ``usable: false`` and the reason),
  ``unusable`` (sites left out and why);
- ``answer_source``: which path produced the answer (``"exam template"`` or ``"model (checked
  against the exam findings)"``), ``grounding`` (the check against the exam facts, the model's
  own text when it was withheld);
- ``file_notes`` when a file had damaged frames that could not be decoded and were left out (the
  reader's sentences, naming the file; text format: ``Note:`` lines).

``--no-model`` gives the template answer without asking the language model. An exam with no
usable site still prints its object (answer says why) and exits 1.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from stethodesk.model.exam_answer import EXAM_TASKS, TEMPLATE

QUALITY_ORDER = {"poor": 0, "fair": 1, "good": 2}


def parse_items(items: list[str]) -> list[tuple[str, str]]:
    """``["a.flac:AV", ...]`` -> ``[("a.flac", "AV"), ...]`` (split at the last colon).

    Raises ValueError naming the item when its site is missing.
    """
    out = []
    for it in items:
        file, sep, site = it.rpartition(":")
        if not sep or not file or not site.strip() or "/" in site or "\\" in site:
            raise ValueError(f"{it!r}: give each exam recording as FILE:SITE, e.g. apex.flac:MV")
        out.append((file, site.strip()))
    return out


def _unreadable(site: str, domain: str, reason: str):
    from stethodesk.audio.dsp import Quality
    from stethodesk.model.analysis import AudioAnalysis

    return AudioAnalysis(domain, site=site, findings={}, heart_rate_bpm=None,
                         quality=Quality("poor", 0.0, ["unreadable"], reason), usable=False,
                         unusable_reason=reason, encode_ms=0.0, duration_s=0.0)


def analyse_sites(engine, pairs: list[tuple[str, str]], domain: str, notes: list[str] | None = None) -> list:
    """One AudioAnalysis per (file, site); a file that cannot be read becomes an unusable site;
    ``notes`` gets the reader's note for each file with damaged frames left out.
    With ``domain="auto"`` the exam takes the domain most usable sites were detected as, and a
    site detected as the other domain is left out with that reason."""
    from stethodesk.audio.fileio import read_audio

    out = []
    for file, site in pairs:
        try:
            x, sr = read_audio(file, notes=notes)
            out.append(engine.analyze_audio(x, sr, domain=domain, site=site))
        except (OSError, ValueError) as exc:
            out.append(_unreadable(site, "heart" if domain == "auto" else domain, str(exc)))
    if domain == "auto":
        votes = [a.domain for a in out if a.usable] or [a.domain for a in out]
        main = max(set(votes), key=votes.count)
        for a in out:
            if a.domain != main:
                a.usable, a.findings, a.domain = False, {}, main
                a.unusable_reason = a.unusable_reason or (
                    f"sounds like a {'lung' if main == 'heart' else 'heart'} recording, and this is a {main} "
                    "exam (give --domain to override)")
    return out


def exam_object(pairs, analyses, ex, task: str, result: dict, encode_ms: float, engine) -> dict:
    """The one jsonl object of the exam (module docstring)."""
    usable = [a for a in analyses if a.usable]
    rates = [a.heart_rate_bpm for a in usable if a.heart_rate_bpm]
    worst = min(usable, key=lambda a: QUALITY_ORDER.get(getattr(a.quality, "level", "good"), 2), default=None)
    sites = [{"file": f, **a.to_dict()} for (f, _), a in zip(pairs, analyses)]
    timing = {"encode_ms": round(encode_ms, 1), "first_token_ms": None, "total_ms": None, "tokens": 0,
              **(result.get("timing") or {})}
    return {
        "file": [f for f, _ in pairs], "task": task, "domain": ex.domain, "site": ex.most_audible_site,
        "answer": result["answer"], "answer_source": result["source"],
        "findings": {k: round(v, 4) for k, v in ex.probabilities().items()},
        "heart_rate_bpm": round(statistics.median(rates), 1) if rates and ex.domain == "heart" else None,
        "signal_quality": {k: sites[analyses.index(worst)]["signal_quality"][k] for k in ("level", "score", "reason")}
        if worst else {"level": None, "score": None, "reason": None},
        "timing": timing, "model": {"name": engine.name, "version": engine.version},
        "disclaimer": analyses[0].disclaimer, "usable": bool(usable),
        "exam_findings": ex.to_dict(), "exam_text": ex.text(), "sites": sites, "unusable": ex.unusable,
        "grounding": {"checked_against": "exam findings", "violations": result.get("violations", []),
                      "model_answer": result.get("model_answer"), "site_heard": result.get("site_heard")},
        **({"notes": result["notes"]} if result.get("notes") else {}),
    }


def run_exam(args: argparse.Namespace, _emit) -> int:
    """The ``--exam`` form of ``stethodesk analyze``; exit 0, 1 (no usable site / model failed to
    load) or 2 (bad arguments). ``_emit(obj)`` writes one jsonl line (analyze's, passed in so the
    two modules do not import each other)."""
    from stethodesk.model import exam as exam_mod
    from stethodesk.model.exam_answer import model_exam_answer, template_exam_answer

    if args.task not in EXAM_TASKS:
        print(f"stethodesk analyze --exam: --task {args.task} is not an exam task; choose one of "
              f"{', '.join(EXAM_TASKS)}", file=sys.stderr)
        return 2
    if args.files:
        print("stethodesk analyze: give the recordings either as FILE... or as --exam FILE:SITE..., not both",
              file=sys.stderr)
        return 2
    try:
        pairs = parse_items(args.exam)
    except ValueError as exc:
        print(f"stethodesk analyze --exam: {exc}", file=sys.stderr)
        return 2
    from stethodesk.model.bundle import BundleError
    from stethodesk.model.engine import Engine
    from stethodesk.model.llm import LlmError

    try:
        engine = Engine(bundle_path=args.bundle, n_threads=args.threads).load()
    except (BundleError, LlmError, ImportError, OSError, ValueError) as exc:
        msg = f"the analysis model could not be loaded: {exc}"
        print(f"stethodesk analyze: {msg}", file=sys.stderr)
        if args.format == "jsonl":
            _emit({"file": [f for f, _ in pairs], "error": msg})
        return 1
    try:
        file_notes: list[str] = []
        analyses = analyse_sites(engine, pairs, args.domain, file_notes)
        encode_ms = sum(a.encode_ms for a in analyses)
        ex = exam_mod.exam_findings(analyses)
        t0 = time.perf_counter()
        if any(a.usable for a in analyses) and not args.no_model:
            result = model_exam_answer(engine, ex, analyses, args.task, args.question, args.max_tokens, args.context)
        else:
            result = {"answer": template_exam_answer(ex, args.task, args.question), "source": TEMPLATE,
                      "timing": {"total_ms": round((time.perf_counter() - t0) * 1000.0, 1)}}
        obj = exam_object(pairs, analyses, ex, args.task, result, encode_ms, engine)
        if file_notes:
            obj["file_notes"] = file_notes
    finally:
        engine.close()
    if args.format == "jsonl":
        _emit(obj)
    else:
        for note in file_notes:
            print(f"Note: {note}")
        print(obj["exam_text"])
        print()
        print(obj["answer"])
        print(f"\n-- answer: {obj['answer_source']}; {obj['model']['name']} {obj['model']['version']}: "
              f"{obj['disclaimer']}")
    return 0 if obj["usable"] else 1
