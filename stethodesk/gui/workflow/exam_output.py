"""The Patients tab's exam report (PDF) and export folder, with their file dialogs."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog

from stethodesk.store import StoreError


class ExamOutput:
    """Mixed into :class:`~.patients.PatientsTab`: uses its ``store``, ``state``, ``strip``
    (the "Remove identifying fields" box) and ``notify``."""

    def make_report(self, path: Path) -> Path | None:
        from stethodesk.reports import build_exam_report

        try:
            out = build_exam_report(self.store, self.state.exam_id, Path(path), strip=self.strip.isChecked())
        except (StoreError, OSError) as exc:
            self.notify("error", f"The report could not be written: {exc}")
            return None
        self.notify("success", f"Report saved: {out}")
        return out

    def export(self, folder: Path):
        from stethodesk.reports import export_exam

        try:
            res = export_exam(self.store, self.state.exam_id, Path(folder), strip=self.strip.isChecked())
        except (StoreError, OSError) as exc:
            self.notify("error", f"The export failed: {exc}")
            return None
        if res.problems or res.notes:  # left out, or exported without damaged frames (exam.json says which)
            self.notify("warning", f"Exported to {res.folder}, but: " + " ".join(res.problems + res.notes))
        else:
            self.notify("success", f"Exported to {res.folder}")
        return res

    def _report_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the exam report", "exam-report.pdf", "PDF (*.pdf)")
        if path:
            self.make_report(Path(path))

    def _export_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export the exam into")
        if folder:
            self.export(Path(folder))
