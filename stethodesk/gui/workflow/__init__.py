"""The clinical workflow tabs: patients and exams with the chest-site map, guided exam,
compare, teaching. The main window adds ``make_tabs(ctx)`` as tabs.

``ctx`` is the app's :class:`stethodesk.gui.context.AppContext`. Read from it (all optional):

- ``store``: a :class:`stethodesk.store.Store` (default: opened in ``paths.user_home()``);
- ``engine``: the loaded Engine or None (read at the moment of use);
- ``selected_recording``: Path of the recording selected in the Listen tab;
- ``start_recording(site, domain, seconds, filter) -> Path | None``: asks the record panel to
  record a site through the protocol's stethoscope filter (None: it could not start and has
  said why). Without it the guided exam asks the user to press Record and takes the next
  saved recording (``ctx.recordingSaved``) for the current step;
- ``stop_recording()``: ends the running recording early; ``pipeline``: the live input's
  histories (the guided exam draws the filtered trace while a site records);
- ``recordingSaved`` signal (RecordingResult), ``show_message(level, text, key)``.

Each tab is also constructible on its own with explicit arguments (see the classes).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QWidget

from .compare import CompareTab
from .guided import GuidedExamTab
from .patients import PatientsTab
from .sitemap import SiteMapWidget, exam_site_status
from .state import JobRunner, WorkflowState
from .teaching import TeachingTab

__all__ = ["CompareTab", "GuidedExamTab", "JobRunner", "PatientsTab", "SiteMapWidget", "TeachingTab",
           "WorkflowState", "exam_site_status", "make_tabs"]


def make_tabs(ctx) -> list[tuple[str, QWidget]]:
    """The workflow tabs, wired to the app context ``ctx``."""
    store = getattr(ctx, "store", None)
    if store is None:
        from stethodesk.store import open_store

        store = open_store()
        ctx.store = store  # other panels may use the same records

    def notify(level: str, text: str) -> None:
        show = getattr(ctx, "show_message", None)
        if show is not None:
            show(level, text, "workflow")

    def get_engine():
        return getattr(ctx, "engine", None)

    def selected_recording() -> Path | None:
        p = getattr(ctx, "selected_recording", None)
        return Path(p) if p else None

    state = WorkflowState()
    runner = JobRunner()
    patients = PatientsTab(store, state, runner, get_engine, selected_recording, notify)
    def start_recording(site: str, domain: str, seconds: float, filter: str = ""):
        fn = getattr(ctx, "start_recording", None)  # looked up at use: the window may set it later
        if fn is None:
            notify("info", "Record this site with the Listen tab's Record button; "
                           "the saved recording is taken for the current step.")
            return True  # waiting for ctx.recordingSaved
        return fn(site, domain, seconds, filter)

    def stop_recording() -> None:
        fn = getattr(ctx, "stop_recording", None)
        if fn is not None:
            fn()

    def live_samples(seconds: float):
        """The live trace as the Listen tab draws it (through the chosen filter, with gain)."""
        pipe = getattr(ctx, "pipeline", None)
        return (pipe.latest_shown(seconds), pipe.rate) if pipe is not None else None

    tabs = [("Patients", patients)]
    builders = [
        ("Guided exam", lambda: GuidedExamTab(store, state, runner, get_engine, start_recording,
                                              selected_recording, notify, live_samples=live_samples,
                                              stop_recording=stop_recording)),
        ("Compare", lambda: CompareTab(store, state, runner, get_engine, notify)),
        ("Teaching", lambda: TeachingTab(store, runner, get_engine, notify)),
    ]
    for title, build in builders:
        try:
            tabs.append((title, build()))
        except Exception as exc:  # one broken tab must not take the records with it
            tabs.append((title, _broken_tab(title, exc)))
            notify("error", f"The {title} tab could not be opened: {exc}")
    guided = dict(tabs)["Guided exam"]
    saved = getattr(ctx, "recordingSaved", None)
    if saved is not None and isinstance(guided, GuidedExamTab):
        saved.connect(guided.accept_recording)
    # keep the shared objects alive as long as the tabs
    for _, w in tabs:
        w._workflow_state, w._workflow_runner = state, runner
    return tabs


def _broken_tab(title: str, exc: Exception) -> QWidget:
    from PySide6.QtWidgets import QLabel

    label = QLabel(f"The {title} tab could not be opened:\n{exc}\n\nThe other tabs and your records are unaffected.")
    label.setWordWrap(True)
    return label
