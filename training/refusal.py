"""The refusal operating point: held-out artifacts vs real recordings, through the app's engine.

Issue 9 item 8: a recording that holds no usable heart or lung sound (noise, talking, handling)
must be refused. The app refuses when the calibrated poor-quality finding is at or above the
bundle's ``heads.poor_quality.refuse_at`` (``stethodesk.model.analysis.refuse_at``). This module
chooses that value on the VALIDATION split and measures refusal rates on any split:

- real recordings: whole files of the split (``training.splits``) of at least
  :data:`MIN_SECONDS`, heart and lung, at most ``per_dataset`` per dataset and domain, the share's poor-quality-labelled ones and heart+lung
  mixes left out (their own group, ``labelled_poor``, is reported but never chosen on);
  the first :data:`MAX_SECONDS` s of each;
- artifacts (:func:`artifact_clips`): speech from ``espeak-ng`` when installed (else the
  synthetic speech-like source), the synthetic speech source, rubbing, handling, mains hum,
  ambient noise and a bare noise floor (``training/artifacts.py``, seeds never used in
  training: the training mixer draws from ``numpy`` seeds 0..); and real recordings of the
  same split buried under speech, noise, rubbing or handling at a body-sound SNR of
  :data:`BURY_SNR_DB` so no usable body sound remains. Each is given a random "phone"
  channel: sample rate 8, 16 or 44.1 kHz and a level of -40..-12 dBFS (peaks kept below full scale).

Every clip goes through ``Engine.analyze_audio`` (the app's entry point), which returns the
calibrated poor-quality probability even when it refuses. The operating point is the lowest
value at which at most ``budget`` (default :data:`REAL_BUDGET`) of the real validation
recordings reach it: as many artifacts refused as the budget for real recordings allows. It is
used only when it refuses at least :data:`MIN_ARTIFACTS` of the validation artifacts; otherwise the
bundle keeps no point and refuses on the signal checks alone (``refuse_source`` says why).

    .venv/bin/python -m training.refusal [--bundle DIR] [--budget 0.03] [--write]

``--write`` stores ``refuse_at`` and ``refuse_source`` (how, when, the validation figures) in the
bundle's ``bundle.json`` and seals the manifest again (``write_manifest``; the weights are unchanged).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import random
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stethodesk.audio.limits import MIN_SECONDS  # shorter real recordings are left out: the app's one minimum
from stethodesk.model.bundle import write_manifest
from training.artifacts import render

MAX_SECONDS = 30.0  # s of each real recording analysed (phone recordings are short)
BURY_SNR_DB = (-25.0, -15.0)  # body-sound power relative to the artifact in the buried mixes
REAL_BUDGET = 0.03  # share of real validation recordings the operating point may refuse
# A point is only used when it refuses at least this share of the validation artifacts: a head that
# cannot tell them apart would refuse its budget of real recordings for almost no artifact.
MIN_ARTIFACTS = 0.5
PHONE_RATES = (8000, 16000, 44100)
KINDS = ("speech", "speech_synthetic", "rubbing", "handling", "hum", "noise", "silence",
         "real+speech", "real+noise", "real+rubbing", "real+handling")
SPLIT_SEED = {"train": 0, "val": 1_000_003, "test": 2_000_003}  # artifact seeds per split
SENTENCES = (
    "Can you hear anything yet", "Please take a deep breath and hold it", "The patient came in this morning",
    "I think the battery is low", "Let me move it a little to the left", "Breathe out slowly through your mouth",
    "We will have the results tomorrow", "Is this thing recording or not", "Turn the volume up a bit please",
    "Cough once for me", "The next patient is waiting outside", "Sit up straight and relax your shoulders",
    "How long have you had this cough", "Any pain when you breathe in", "Lie back on the bed please",
)
VOICES = ("en", "en-us", "en-gb-scotland", "en-gb-x-rp", "de", "fr", "es")
VARIANTS = ("m1", "m2", "m3", "m4", "f1", "f2", "f3", "f4")


@dataclass
class Clip:
    """One test item: ``audio`` ``(n,)`` float32 at ``sr`` Hz, analysed as ``domain``."""

    name: str
    kind: str  # "real", "labelled_poor" or one of KINDS
    audio: np.ndarray
    sr: int
    domain: str

    @property
    def artifact(self) -> bool:
        return self.kind not in ("real", "labelled_poor")


def _resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    from stethodesk.model.features import resample_poly

    return resample_poly(x, sr_in, sr_out)


def espeak_speech(rng: np.random.Generator, seconds: float, sr: int) -> np.ndarray | None:
    """Talking from ``espeak-ng`` (random voice, speed, pitch, sentences), ``(n,)`` or None if absent."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        return None
    parts, total = [], 0
    with tempfile.TemporaryDirectory() as tmp:
        while total < seconds * sr:
            voice = f"{VOICES[rng.integers(len(VOICES))]}+{VARIANTS[rng.integers(len(VARIANTS))]}"
            text = SENTENCES[rng.integers(len(SENTENCES))]
            wav = Path(tmp) / "s.wav"
            subprocess.run([exe, "-w", str(wav), "-v", voice, "-s", str(int(rng.integers(120, 200))),
                            "-p", str(int(rng.integers(20, 80))), text], check=True, capture_output=True)
            from stethodesk.audio.fileio import read_audio

            y, ysr = read_audio(wav)
            y = _resample(y, ysr, sr)
            parts += [y, np.zeros(int(sr * rng.uniform(0.1, 0.8)), np.float32)]
            total += sum(len(p) for p in parts[-2:])
    x = np.concatenate(parts)[: int(seconds * sr)]
    return x + 0.01 * float(np.std(x)) * rng.standard_normal(x.size).astype(np.float32)


def _artifact_audio(kind: str, rng: np.random.Generator, seconds: float, sr: int) -> np.ndarray:
    if kind == "speech":
        x = espeak_speech(rng, seconds, sr)
        if x is not None:
            return x
        kind = "speech_synthetic"
    return render("speech" if kind == "speech_synthetic" else kind, rng, seconds, sr)


def _level(x: np.ndarray, dbfs: float) -> np.ndarray:
    """``x`` at an RMS of ``dbfs``, turned down further where its peaks would clip (a phone's AGC)."""
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
    y = x * (10 ** (dbfs / 20) / max(rms, 1e-12))
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    return (y * min(1.0, 0.9 / max(peak, 1e-12))).astype(np.float32)


def _phone(rng: np.random.Generator, x: np.ndarray, sr: int) -> tuple[np.ndarray, int]:
    """A random phone channel: resampled to 8/16/44.1 kHz, -40..-12 dBFS, peaks below full scale."""
    out_sr = int(PHONE_RATES[rng.integers(len(PHONE_RATES))])
    return _level(_resample(x, sr, out_sr), rng.uniform(-40.0, -12.0)), out_sr


def real_records(split: str, per_dataset: int, seed: int = 0, labelled_poor: bool = False) -> list:
    """Whole-file records of ``split``: up to ``per_dataset`` per (dataset, domain), seeded.

    ``labelled_poor`` selects the share's poor-quality-labelled recordings instead of the others.
    """
    from training.splits import load_split

    by: dict = {}
    for r in sorted(load_split(split), key=lambda r: r.key):
        if r.start_s is not None or r.labels.get("mixed") or (r.duration_s or 0.0) < MIN_SECONDS:
            continue
        if bool(r.labels.get("poor_quality")) != labelled_poor:
            continue
        by.setdefault((r.dataset, r.domain), []).append(r)
    rng = random.Random(seed)
    return [r for k in sorted(by) for r in rng.sample(by[k], min(per_dataset, len(by[k])))]


def _read(r) -> tuple[np.ndarray, int]:
    from stethodesk.audio.fileio import read_audio

    x, sr = read_audio(r.path)
    return x[: int(MAX_SECONDS * sr)], sr


def real_clips(split: str, per_dataset: int, seed: int = 0, labelled_poor: bool = False) -> list[Clip]:
    return [Clip(r.key, "labelled_poor" if labelled_poor else "real", *_read(r), r.domain)
            for r in real_records(split, per_dataset, seed, labelled_poor)]


def artifact_clips(split: str, per_kind: int, seed: int = 0) -> list[Clip]:
    """``per_kind`` artifacts of every kind in :data:`KINDS`, seeded per split."""
    rng = np.random.default_rng(SPLIT_SEED[split] + seed)
    bodies = real_records(split, 1000, seed + 17)
    random.Random(seed + 17).shuffle(bodies)
    out, work_sr = [], 16000
    for kind in KINDS:
        for i in range(per_kind):
            seconds = float(rng.uniform(8.0, 20.0))
            if kind.startswith("real+"):
                r = bodies[(KINDS.index(kind) * per_kind + i) % len(bodies)]
                body, bsr = _read(r)
                body = _resample(body, bsr, work_sr)
                if body.size < seconds * work_sr:  # a short recording (Yaseen: 1-4 s) played on a loop
                    body = np.tile(body, int(np.ceil(seconds * work_sr / max(body.size, 1))))
                art = _artifact_audio(kind[5:], rng, len(body) / work_sr, work_sr)[: len(body)]
                snr = rng.uniform(*BURY_SNR_DB)
                pa = float(np.mean(np.square(art, dtype=np.float64)))
                pb = max(float(np.mean(np.square(body, dtype=np.float64))), 1e-20)
                x = art + body * np.sqrt(pa / pb * 10 ** (snr / 10))
                domain, name = r.domain, f"{kind}:{r.key}@{snr:.0f}dB"
            else:
                x = _artifact_audio(kind, rng, seconds, work_sr)
                domain, name = ("heart", "lung")[i % 2], f"{kind}#{i}"
            x, sr = _phone(rng, np.asarray(x, np.float32), work_sr)
            if kind == "silence":  # nothing picked up stays quiet: a noise floor at -75..-50 dBFS
                x = _level(x, rng.uniform(-75.0, -50.0))
            out.append(Clip(name, kind, x, sr, domain))
    return out


def analyse(engine, clips: list[Clip], log=print) -> list[dict]:
    """Each clip through ``engine.analyze_audio``: ``{name, kind, artifact, refused, poor_quality, reason}``."""
    rows = []
    for i, c in enumerate(clips):
        a = engine.analyze_audio(c.audio, c.sr, domain=c.domain)
        rows.append({"name": c.name, "kind": c.kind, "artifact": c.artifact, "domain": c.domain,
                     "refused": not a.usable, "poor_quality": a.poor_quality, "reason": a.unusable_reason})
        if (i + 1) % 50 == 0:
            log(f"  analysed {i + 1}/{len(clips)}")
    return rows


def choose_operating_point(real_p: list[float], budget: float = REAL_BUDGET) -> float:
    """Lowest threshold on the calibrated probability that at most ``budget`` of ``real_p`` reach.

    Returns a value in (0, 1]; 1.0 when even the top score must not be refused (never refuse
    below certainty). Ties are safe: every real score equal to the returned value is below it.
    """
    p = np.sort(np.asarray([v for v in real_p if v is not None], dtype=np.float64))[::-1]
    if p.size == 0:
        raise ValueError("no real recordings scored: cannot choose an operating point")
    k = int(np.floor(budget * p.size))  # how many real recordings may be refused
    above = p[k]  # the highest score that must stay below the threshold
    return float(min(1.0, np.nextafter(above, np.inf)))


def rates(rows: list[dict]) -> dict:
    """Refusal counts by group (artifacts, real, labelled_poor) and by artifact kind."""
    out: dict = {}
    for key, sel in (("artifacts", lambda r: r["artifact"]), ("real", lambda r: r["kind"] == "real"),
                     ("labelled_poor", lambda r: r["kind"] == "labelled_poor")):
        rs = [r for r in rows if sel(r)]
        out[key] = {"refused": sum(r["refused"] for r in rs), "n": len(rs)}
    for dom in ("heart", "lung"):
        rs = [r for r in rows if r["kind"] == "real" and r["domain"] == dom]
        out[f"real_{dom}"] = {"refused": sum(r["refused"] for r in rs), "n": len(rs)}
    out["by_kind"] = {k: {"refused": sum(r["refused"] for r in rows if r["kind"] == k),
                          "n": sum(r["kind"] == k for r in rows)} for k in KINDS}
    return out


def would_refuse(rows: list[dict], at: float | None) -> list[dict]:
    """``rows`` as if the operating point were ``at``: signal refusals stay, the content rule moves."""
    from stethodesk.model.analysis import NOT_A_BODY_SOUND

    out = []
    for r in rows:
        signal_refused = r["refused"] and r["reason"] != NOT_A_BODY_SOUND
        content = at is not None and r["poor_quality"] is not None and r["poor_quality"] >= at
        out.append({**r, "refused": bool(signal_refused or content)})
    return out


def fmt(counts: dict) -> str:
    n = counts["n"]
    return f"{counts['refused']}/{n} ({counts['refused'] / n:.0%})" if n else "-"


def choose_on_validation(engine, budget: float = REAL_BUDGET, per_dataset: int = 25, per_kind: int = 12,
                         log=print) -> tuple[float | None, dict]:
    """(operating point, its ``refuse_source`` record) for ``engine``'s bundle, chosen on validation.

    The point is None (the bundle refuses on signal checks only) when it would refuse less than
    :data:`MIN_ARTIFACTS` of the validation artifacts; ``refuse_source["candidate"]`` keeps it.
    """
    clips = real_clips("val", per_dataset) + artifact_clips("val", per_kind)
    log(f"validation: {sum(not c.artifact for c in clips)} real, {sum(c.artifact for c in clips)} artifacts")
    rows = analyse(engine, clips, log)
    at = choose_operating_point([r["poor_quality"] for r in rows if r["kind"] == "real"], budget)
    at = math.ceil(at * 1e6) / 1e6  # stored rounded up: never below a real score it was chosen above
    got = rates(would_refuse(rows, at))
    log(f"operating point refuse_at = {at:.6f} (at most {budget:.0%} of real validation recordings)")
    log(f"  validation: artifacts refused {fmt(got['artifacts'])}, real refused {fmt(got['real'])}")
    source = {
        "how": f"lowest calibrated poor_quality probability that at most {budget:.0%} of real validation "
               f"recordings reach, used when it refuses at least {MIN_ARTIFACTS:.0%} of the held-out "
               "validation artifacts (training/refusal.py)",
        "split": "val", "chosen": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%MZ"),
        "candidate": at,
        "validation": {k: got[k] for k in ("artifacts", "real", "real_heart", "real_lung")},
    }
    art = got["artifacts"]
    if art["refused"] < MIN_ARTIFACTS * art["n"]:
        source["not_used"] = (f"refuses only {fmt(art)} of the validation artifacts: the poor-quality head does not "
                              "tell them from real recordings, so the bundle refuses on signal checks only")
        log(f"  not used: {source['not_used']}")
        return None, source
    return at, source


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Choose the poor-quality refusal point on the validation split.")
    ap.add_argument("--bundle", type=Path, default=None, help="bundle folder (default: the installed default)")
    ap.add_argument("--budget", type=float, default=REAL_BUDGET, help="share of real validation recordings refused")
    ap.add_argument("--per-dataset", type=int, default=25)
    ap.add_argument("--per-kind", type=int, default=12)
    ap.add_argument("--write", action="store_true", help="store refuse_at in the bundle's bundle.json")
    a = ap.parse_args(argv)
    from stethodesk.model.engine import Engine

    engine = Engine(bundle_path=a.bundle, n_threads=1).load()
    print(f"bundle {engine.name} {engine.version} ({engine.bundle.root})")
    engine.bundle.manifest["heads"]["poor_quality"].pop("refuse_at", None)  # score every clip unrefused
    at, source = choose_on_validation(engine, a.budget, a.per_dataset, a.per_kind)
    if a.write:
        path = engine.bundle.root / "bundle.json"
        m = json.loads(path.read_text(encoding="utf-8"))
        m["heads"]["poor_quality"].pop("refuse_at", None)
        if at is not None:
            m["heads"]["poor_quality"]["refuse_at"] = at
        m["heads"]["poor_quality"]["refuse_source"] = source
        write_manifest(path.parent, m)  # sealed again: the edit is ours
        print(f"wrote {'refuse_at and ' if at is not None else ''}refuse_source to {path}")
    engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
