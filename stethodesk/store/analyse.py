"""Run the engine on stored recordings and store what it says. No Qt here.

``engine`` is a loaded ``stethodesk.model.engine.Engine`` (duck-typed here so
the store does not import the model). These calls are slow: run them on a
worker thread. The audio is always read through the store, so an altered
file is refused (TamperedAudioError) before the model sees it.
"""

from __future__ import annotations

from typing import Callable

from .records import Analysis
from .sites import SITES
from .store import Store

DEFAULT_TASK = "detection"  # lists what is heard; the guided exam's automatic question
DEFAULT_MAX_TOKENS = 96


def engine_site(key: str) -> str | None:
    """The site as the engine understands it: a dataset code (AV/PV/TV/MV) or a lung region word."""
    site = SITES.get(key)
    if site is None:
        return None
    if site.domain == "heart":
        return site.code or "Erb's point"
    return key.split("_", 1)[0]  # anterior | posterior | lateral


def _read(answer, cancelled: Callable[[], bool] | None) -> str:
    text = ""
    for piece in answer:
        text += piece
        if cancelled is not None and cancelled():
            answer.close()
            break
    return text.strip()


def _timings(analysis, answer) -> dict:
    return {"encode_ms": getattr(analysis, "encode_ms", None),
            "first_token_ms": getattr(answer, "first_token_ms", None),
            "total_ms": getattr(answer, "total_ms", None), "tokens": getattr(answer, "tokens", None)}


def _grounding(answer) -> dict | None:
    """How the answer was checked against the findings card, as stored with it."""
    g = getattr(answer, "grounding", None)
    return g.to_dict() if g is not None else None


def analyse_recording(store: Store, engine, recording_id: int, task: str = DEFAULT_TASK,
                      question: str | None = None, max_tokens: int = DEFAULT_MAX_TOKENS,
                      cancelled: Callable[[], bool] | None = None) -> Analysis:
    """Analyse one stored recording, ask ``task``, save findings + answer; returns the row.

    An unusable recording (no contact, too short...) is stored with the plain
    reason as its answer and no findings, so the map shows it as not analysed. A sound
    that contradicts the site's domain (a heart sound stored at a lung site) is analysed as
    the site says and the engine's warning leads the stored answer, so lists and reports show it.
    """
    rec = store.get_recording(recording_id)
    x, sr = store.load_audio(rec)
    a = engine.analyze_audio(x, sr, domain=rec.domain, site=engine_site(rec.site))
    if rec.quality_level is None and getattr(a, "quality", None) is not None:
        store.set_quality(rec.id, a.quality)
    if not a.usable:
        return store.add_analysis(rec.id, task, f"Not analysed: {a.unusable_reason}", findings={},
                                  model_name=engine.name, model_version=engine.version, question=question,
                                  timings={"encode_ms": a.encode_ms})
    answer = engine.ask(a, task, question=question, max_tokens=max_tokens)
    text = _read(answer, cancelled)
    warning = getattr(a, "domain_warning", None)
    if warning:
        text = f"Warning: {warning}\n\n{text}"
    return store.add_analysis(rec.id, task, text, findings=a.findings, model_name=engine.name,
                              model_version=engine.version, question=question,
                              timings=_timings(a, answer), heart_rate_bpm=a.heart_rate_bpm,
                              grounding=_grounding(answer), points=getattr(a, "points", None))


def compare_recordings(store: Store, engine, a_id: int, b_id: int, max_tokens: int = DEFAULT_MAX_TOKENS,
                       cancelled: Callable[[], bool] | None = None) -> Analysis:
    """The comparison task on recordings A and B; stored on A with ``other_recording_id`` = B."""
    ra, rb = store.get_recording(a_id), store.get_recording(b_id)
    xa, sra = store.load_audio(ra)
    xb, srb = store.load_audio(rb)
    aa = engine.analyze_audio(xa, sra, domain=ra.domain, site=engine_site(ra.site))
    ab = engine.analyze_audio(xb, srb, domain=rb.domain, site=engine_site(rb.site))
    for an, r in ((aa, ra), (ab, rb)):
        if not an.usable:
            raise ValueError(f"Recording {r.site} cannot be compared: {an.unusable_reason}")
    answer = engine.ask(aa, "comparison", other=ab, max_tokens=max_tokens)
    text = _read(answer, cancelled)
    return store.add_analysis(ra.id, "comparison", text, findings=aa.findings, model_name=engine.name,
                              model_version=engine.version, timings=_timings(aa, answer),
                              other_recording_id=rb.id, heart_rate_bpm=aa.heart_rate_bpm,
                              grounding=_grounding(answer), points=getattr(aa, "points", None))
