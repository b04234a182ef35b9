"""Exam reports (PDF) and export folders (FLAC + JSON). No Qt here."""

from .export import export_exam, strip_identity
from .pdf import build_exam_report

__all__ = ["build_exam_report", "export_exam", "strip_identity"]
