"""``stethodesk analyze FILE... --task TASK``: findings and a model answer per recording, headless.

Examples::

    stethodesk analyze a.flac b.wav --task report --format jsonl
    stethodesk analyze apex.flac --task location --site MV
    stethodesk analyze today.flac --task comparison --compare last_week.flac
    stethodesk analyze lung.flac --task question --question "Are there crackles?"
    stethodesk analyze --exam av.flac:AV pv.flac:PV tv.flac:TV mv.flac:MV --task differential --format jsonl

``--exam FILE:SITE ...`` answers about the whole exam in one object (stethodesk/commands/exam.py).

``--format jsonl`` prints one JSON object per file as soon as that file is done (contract in
docs/ARCHITECTURE.md): ``file``, ``task``, ``domain``, ``site``, ``answer``, ``findings``,
``operating_points`` (finding -> the bundle's point it is called at; a finding not listed is called
at 0.5), ``heart_rate_bpm``, ``signal_quality`` (``level``, ``score``, ``reason``,
``issues``: keys such as "flat" - nothing comes in, check the cable - or "too_quiet" - raise the
gain), ``timing``
(``encode_ms``, ``first_token_ms``, ``total_ms``, ``tokens``), ``model`` (``name``, ``version``),
``disclaimer``; plus ``usable``/``unusable_reason`` (a too short, flat or clipped recording, or one
whose poor-quality finding reaches the bundle's refusal point - noise, talking, handling - gets
``answer: null`` and the reason), ``instruction``, ``duration_s``, ``n_windows``, ``channels``
(``used``: the file's channels analysed, 0-based as ``--channel``; ``rule``: how they were chosen
and combined; text format: a ``Channels:`` line for a multi-channel file), and
``file_notes`` when damaged frames in the file could not be decoded and were left out (the
reader's sentence; text format: a ``Note:`` line). A file that cannot be read or analysed
gives ``{"file": ..., "error": ...}``; the batch goes on and the exit status is 1 at the end.
``first_token_ms`` and ``total_ms`` count from the question (after the encoder); ``encode_ms``
is the encoder and projector. ``--format text`` streams the answer.

Heavy imports (torch, llama.cpp) happen in :func:`run`, so ``stethodesk --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from stethodesk.audio.fileio import display_name, display_path

TASK_CHOICES = ("binary", "detection", "report", "reasoning", "differential", "comparison",
                "location", "question")
TOP_FINDINGS = 6  # findings shown in text mode


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "analyze",
        help="analyse recordings with the on-device model (findings + answer)",
        description=(
            "Analyse heart or lung recordings offline: calibrated findings, heart rate, signal "
            "quality and the model's answer to a preset task or a question. Decision support, "
            "not a diagnosis."
        ),
    )
    p.add_argument("files", nargs="*", metavar="FILE", help="audio files (WAV, FLAC, OGG, MP3, M4A)")
    p.add_argument("--channel", type=int, default=None, metavar="N",
                   help="channel of multi-channel files to analyse, 0-based as in 'record --channel' "
                        "(default: all channels mixed down)")
    p.add_argument("--exam", nargs="+", default=None, metavar="FILE:SITE",
                   help="the recordings of one exam, each with its site (e.g. apex.flac:MV): one answer "
                        "about the whole exam")
    p.add_argument("--no-model", action="store_true",
                   help="with --exam: answer from the exam findings' template only, without the language model")
    p.add_argument("--task", default="report", choices=TASK_CHOICES,
                   help="preset task, or 'question' with --question (default: report)")
    p.add_argument("--site", default=None, help="chest site, e.g. MV, AV, 'left posterior'")
    p.add_argument("--domain", default="auto", choices=("auto", "heart", "lung"),
                   help="heart or lung sound; auto = detected by the model (default)")
    p.add_argument("--compare", default=None, metavar="OTHER",
                   help="second recording for --task comparison")
    p.add_argument("--compare-site", default=None, help="chest site of the --compare recording")
    p.add_argument("--question", default=None, help="free-text question (replaces the task's wording)")
    p.add_argument("--context", default=None,
                   help="what you know of the patient (age group, known conditions, symptoms): the "
                        "answer may use it; it is data, never instructions")
    p.add_argument("--max-tokens", type=int, default=256, help="longest answer in tokens (default 256)")
    p.add_argument("--format", default="text", choices=("jsonl", "text"), help="output format")
    p.add_argument("--bundle", default=None, metavar="PATH", help="model bundle folder (default: models/)")
    p.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: cores - 1)")


def _error_obj(file: str, message: str) -> dict:
    return {"file": file, "error": message}


def _safe(v):
    """Strings with the undecodable bytes of a non-UTF-8 file name (kept by Python as lone
    surrogates) shown as ``\\xe9``: every line stays valid UTF-8 JSON."""
    if isinstance(v, str):
        return v.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    if isinstance(v, dict):
        return {_safe(k): _safe(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_safe(x) for x in v]
    return v


def _emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(_safe(obj), ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _read(path: str, domain: str, site: str | None, engine, channel: int | None = None,
          notes: list[str] | None = None, channels: dict | None = None):
    """Read and analyse one file; ``notes`` gets the reader's note on damage left out, ``channels``
    which channels were used and how (``read_audio``'s ``channels``)."""
    from stethodesk.audio.fileio import read_audio

    samples, sr = read_audio(path, channel=channel, notes=notes, channels=channels)
    # handed over: nothing here uses the samples again, so the engine cuts in place (bounded memory)
    return engine.analyze_audio(samples, sr, domain=domain, site=site, owned=True)


def _result(file: str, task: str, analysis, answer) -> dict:
    a = analysis.to_dict()
    timing = {"encode_ms": a["encode_ms"], "first_token_ms": None, "total_ms": None, "tokens": 0}
    obj = {
        "file": file,
        "task": task,
        "domain": a["domain"],
        "site": a["site"],
        "answer": None,
        "findings": a["findings"],
        "operating_points": a.get("operating_points", {}),
        "heart_rate_bpm": a["heart_rate_bpm"] if a["domain"] == "heart" else None,
        "signal_quality": {k: a["signal_quality"][k] for k in ("level", "score", "reason", "issues")},
        "timing": timing,
        "model": a["model"],
        "disclaimer": a["disclaimer"],
        "usable": a["usable"],
        "unusable_reason": a["unusable_reason"],
        "domain_source": a["domain_source"],
        "domain_warning": a["domain_warning"],
        "duration_s": a["duration_s"],
        "n_windows": a["n_windows"],
    }
    if answer is not None:
        d = answer.to_dict()
        obj["answer"] = d["answer"]
        obj["instruction"] = d["instruction"]
        obj["cancelled"] = d["cancelled"]
        obj["grounding"] = d["grounding"]  # how the answer was checked against the findings
        if d["notes"]:
            obj["notes"] = d["notes"]
        if answer.site and not a["site"]:
            obj["site_used"] = answer.site  # location task: site taken from the site head
        timing.update(d["timing"])
    return obj


def _print_header(file: str, analysis) -> None:
    a = analysis.to_dict()
    site = f", {a['site']}" if a["site"] else ""
    print(f"== {display_path(file)}  ({a['domain']}{site}, {a['duration_s']:.1f} s, {a['n_windows']} window(s))")
    top = sorted(a["findings"].items(), key=lambda kv: -kv[1])[:TOP_FINDINGS]
    if top:
        pts = a.get("operating_points", {})
        print("Findings: " + ", ".join(f"{k} {v:.2f}" + (f" (called from {pts[k]:.2f})" if pts.get(k, 0.5) != 0.5 else "")
                                       for k, v in top))
    q = a["signal_quality"]
    hr = f"Heart rate: {a['heart_rate_bpm']:.0f} bpm   " if a["heart_rate_bpm"] else ""
    print(f"{hr}Signal quality: {q['level']} ({q['reason']})")
    if a["domain_warning"]:
        print(f"Warning: {a['domain_warning']}")
    sys.stdout.flush()


def run(args: argparse.Namespace) -> int:
    if getattr(args, "exam", None):
        from stethodesk.commands.exam import run_exam

        return run_exam(args, _emit)
    if not args.files:
        print("stethodesk analyze: give at least one FILE (or --exam FILE:SITE ...)", file=sys.stderr)
        return 2
    jsonl = args.format == "jsonl"
    task = args.task
    if task == "question" and not (args.question and args.question.strip()):
        print("stethodesk analyze: --task question needs --question TEXT", file=sys.stderr)
        return 2
    if task == "comparison" and not args.compare:
        print("stethodesk analyze: --task comparison needs --compare OTHER", file=sys.stderr)
        return 2
    if args.max_tokens < 1:
        print("stethodesk analyze: --max-tokens must be at least 1", file=sys.stderr)
        return 2

    from stethodesk.model.bundle import ASSEMBLING, REPAIRING, BundleError
    from stethodesk.model.analysis import UnusableRecording
    from stethodesk.model.engine import Engine
    from stethodesk.model.llm import LlmError

    def first_start(step: str, _frac: float) -> None:  # the one slow load step worth a word
        if step in (ASSEMBLING, REPAIRING):
            print(f"stethodesk analyze: {step}", file=sys.stderr, flush=True)

    try:
        engine = Engine(bundle_path=args.bundle, n_threads=args.threads).load(progress=first_start)
    except (BundleError, LlmError, ImportError, OSError, ValueError) as exc:
        msg = f"the analysis model could not be loaded: {exc}"
        print(f"stethodesk analyze: {msg}", file=sys.stderr)
        if jsonl:
            for f in args.files:
                _emit(_error_obj(f, msg))
        return 1

    failed = 0
    other = None
    if args.compare:
        try:
            other = _read(args.compare, args.domain, args.compare_site, engine, args.channel)
        except Exception as exc:  # an unreadable comparison file fails every pair
            msg = f"comparison recording {display_path(args.compare)}: {exc}"
            for f in args.files:
                if jsonl:
                    _emit(_error_obj(f, msg))
                else:
                    print(f"== {display_path(f)}\nerror: {msg}", file=sys.stderr)
            return 1

    for f in args.files:
        t0 = time.perf_counter()
        try:
            file_notes: list[str] = []  # damaged frames the reader left out
            used: dict = {}  # {"used": [0-based channels], "rule": "..."}
            analysis = _read(f, args.domain, args.site, engine, args.channel, file_notes, used)
            answer = None
            if not jsonl:
                _print_header(f, analysis)
                if len(used.get("used", ())) != 1 or used["used"] != [0]:
                    print(f"Channels: {used['rule']}")
                for note in file_notes:
                    print(f"Note: {note}")
            if analysis.usable:
                try:
                    answer = engine.ask(analysis, task, question=args.question, other=other,
                                        max_tokens=args.max_tokens, context=args.context)
                except UnusableRecording as exc:  # the --compare recording is unusable
                    raise ValueError(str(exc)) from None
                for piece in answer:
                    if not jsonl:
                        sys.stdout.write(piece)
                        sys.stdout.flush()
            obj = _result(f, task, analysis, answer)
            obj["channels"] = used
            if file_notes:
                obj["file_notes"] = file_notes
            if other is not None:
                obj["compare"] = {"file": args.compare, "domain": other.domain, "site": other.site}
            if jsonl:
                _emit(obj)
            else:
                _print_footer(obj, time.perf_counter() - t0)
        except KeyboardInterrupt:
            engine.cancel()
            print("\nstethodesk analyze: interrupted", file=sys.stderr)
            return 130
        except Exception as exc:  # one bad file never stops the batch
            failed += 1
            msg = str(exc) or type(exc).__name__
            if isinstance(exc, (OSError, ValueError)):  # the reader's messages name the file already
                msg = msg if display_name(f) in msg else f"{display_name(f)}: {msg}"
            if jsonl:
                _emit(_error_obj(f, msg))
            else:
                print(f"== {display_path(f)}\nerror: {msg}", file=sys.stderr)
    engine.close()
    return 1 if failed else 0


def _print_footer(obj: dict, seconds: float) -> None:
    if obj["answer"] is None:
        print(f"No answer: {obj['unusable_reason']}")
    else:
        t = obj["timing"]
        print()
        print(
            f"-- {obj['model']['name']} {obj['model']['version']}: {obj['disclaimer']}  "
            f"[encode {t['encode_ms']:.0f} ms, first token {t['first_token_ms'] or 0:.0f} ms, "
            f"{t['tokens']} tokens in {t['total_ms'] or 0:.0f} ms]"
        )
    print()
    sys.stdout.flush()
