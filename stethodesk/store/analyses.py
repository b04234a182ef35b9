"""Stored model answers on a recording (the ``analyses`` table). No Qt here.

Mixed into :class:`stethodesk.store.store.Store` (uses its ``transaction()`` and ``_query()``).
Running the model and storing its answer is :mod:`stethodesk.store.analyse`; this module only
keeps and reads the rows.
"""

from __future__ import annotations

import json

from .db import StoreError, now
from .records import Analysis, clean_points, row_to_analysis


class AnalysesMixin:
    """Store methods for the ``analyses`` table (see the module docstring)."""

    def add_analysis(
        self, recording_id: int, task: str, answer: str, *, findings: dict | None = None,
        model_name: str = "", model_version: str = "", question: str | None = None,
        timings: dict | None = None, other_recording_id: int | None = None,
        heart_rate_bpm: float | None = None, grounding: dict | None = None, points: dict | None = None,
    ) -> Analysis:
        """Store a model answer; ``findings`` are probabilities keyed by finding name;
        ``grounding`` how the answer was checked (``Grounding.to_dict()``), stored as JSON;
        ``points`` the operating points the findings were called at (``AudioAnalysis.points``;
        only keys among the findings are kept, None / {} = every finding at 0.5)."""
        timings = timings or {}
        clean = {str(k): float(v) for k, v in (findings or {}).items()}
        with self.transaction() as con:
            cur = con.execute(
                "INSERT INTO analyses(recording_id, task, question, answer, findings, model_name,"
                " model_version, encode_ms, first_token_ms, total_ms, tokens, other_recording_id,"
                " heart_rate_bpm, grounding, operating_points, created) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (recording_id, task, question, answer, json.dumps(clean, sort_keys=True),
                 model_name, model_version, timings.get("encode_ms"), timings.get("first_token_ms"),
                 timings.get("total_ms"), timings.get("tokens"), other_recording_id,
                 heart_rate_bpm, None if grounding is None else json.dumps(grounding),
                 json.dumps(clean_points(points, clean), sort_keys=True), now()),
            )
            return self.get_analysis(cur.lastrowid)

    def get_analysis(self, analysis_id: int) -> Analysis:
        rows = self._query("SELECT * FROM analyses WHERE id=?", (analysis_id,))
        if not rows:
            raise StoreError(f"Analysis #{analysis_id} does not exist.")
        return row_to_analysis(rows[0])

    def list_analyses(self, recording_id: int) -> list[Analysis]:
        rows = self._query("SELECT * FROM analyses WHERE recording_id=? ORDER BY id", (recording_id,))
        return [row_to_analysis(r) for r in rows]

    def _latest(self, recording_id: int, column: str) -> dict:
        rows = self._query(
            f"SELECT {column} FROM analyses WHERE recording_id=? AND findings != '{{}}' ORDER BY id DESC LIMIT 1",
            (recording_id,),
        )
        return json.loads(rows[0][column] or "{}") if rows else {}

    def latest_findings(self, recording_id: int) -> dict[str, float]:
        """Findings of the newest analysis that has any, else {}."""
        return self._latest(recording_id, "findings")

    def latest_points(self, recording_id: int) -> dict[str, float]:
        """The operating points the :meth:`latest_findings` were called at ({}: all at 0.5)."""
        return self._latest(recording_id, "operating_points")
