"""Every answer the Listen tab shows is kept with its recording (issue 10 item 4).

A stored patient recording's answers go into its history (and so the patient's PDF report); any
other file's, or the live input's, into the Listen tab's own table
(:func:`stethodesk.store.history.save_listen_answer`). Nothing the user asked is lost on restart.
"""

from __future__ import annotations


def save_answer(ctx, path, asked: tuple[str, str | None], result: dict, analysis, engine) -> str | None:
    """Store a finished answer; returns None when stored, "" when there was nothing to store,
    else the reason it could not be stored.

    ``path``: the analysed recording (None: the live input); ``asked``: (task, typed question);
    ``result``: the panel's finished-answer dict (``text``, ``grounding``, timings); ``analysis``:
    the :class:`~stethodesk.model.analysis.AudioAnalysis` it is about. The records database is
    ``ctx.store`` (opened and kept there when absent). An empty answer (stopped before its first
    word), or one about no usable analysis, is not stored.
    """
    from stethodesk.store import StoreError
    from stethodesk.store.history import save_listen_answer

    text = (result.get("text") or "").strip()
    if not text or analysis is None:
        return ""
    task, question = asked
    try:
        store = getattr(ctx, "store", None)
        if store is None:
            from stethodesk.store import open_store

            store = ctx.store = open_store()
        save_listen_answer(
            store, path, task, text, question=question, grounding=result.get("grounding"),
            findings=analysis.findings, model_name=getattr(engine, "name", ""),
            model_version=getattr(engine, "version", ""),
            timings={k: result[k] for k in ("first_token_ms", "total_ms", "tokens") if result.get(k) is not None},
            heart_rate_bpm=analysis.heart_rate_bpm, points=getattr(analysis, "points", None))
    except (StoreError, OSError, ValueError) as exc:
        return str(exc)
    return None
