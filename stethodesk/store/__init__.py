"""SQLite clinical records (patients, exams, recordings, analyses, teaching). No Qt here."""

from .db import StoreError
from .records import Analysis, Exam, LibraryItem, Patient, QuizAttempt, Recording
from .shelf import ListenEntry, Shelf
from .sites import HEART_SITES, LUNG_SITES, SITES, Site, site_title
from .store import MissingAudioError, Store, TamperedAudioError, open_store

__all__ = [
    "Analysis", "Exam", "HEART_SITES", "LUNG_SITES", "LibraryItem", "ListenEntry", "MissingAudioError", "Patient",
    "QuizAttempt", "Recording", "SITES", "Shelf", "Site", "Store", "StoreError", "TamperedAudioError",
    "open_store", "site_title",
]
