"""Dataset adapters on the real shared recordings (and official-layout variants built from them)."""

from __future__ import annotations

import csv
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from share_readme import stated_counts, stated_enrichment
from stethodesk.paths import shared_data_dir
from training.data import (DATASETS, LABEL_KEYS, LABEL_VALUES, SITES, load_dataset, load_hls_cmds,
                           load_icbhi, load_pascal, load_physionet2016, load_yaseen)

DATA = shared_data_dir()


@pytest.fixture(scope="module")
def sets():
    return {name: load_dataset(name) for name in DATASETS}


def test_every_set_loads_with_the_counts_the_share_readme_states(sets):
    # the share grows (issue 9 item 7); its README states what is on disk, so compare with that
    want = stated_counts()
    assert {k: len(v) for k, v in sets.items()} == {k: want[k]["records"] for k in DATASETS}
    for ds in ("circor2022", "icbhi2017"):
        assert len({r.patient_id for r in sets[ds]}) == want[ds]["patients"], ds
    # CirCor labels are per patient: count patients, not recordings
    murmur = Counter({r.patient_id: r.labels["orig"]["patient_murmur"] for r in sets["circor2022"]}.values())
    assert murmur == {k: want["circor2022"][k] for k in ("Present", "Absent", "Unknown")}
    pn = Counter(r.labels["abnormal"] for r in sets["physionet2016"])
    assert pn == {False: want["physionet2016"]["normal"], True: want["physionet2016"]["abnormal"]}
    assert Counter(r.labels["lesion"] for r in sets["yaseen2018"]) == \
        {c: want["yaseen2018"]["each"] for c in ("N", "AS", "MR", "MS", "MVP")}
    assert Counter(r.labels["orig"]["label"] for r in sets["pascal_chsc2011"]) == \
        {k: want["pascal_chsc2011"][k] for k in ("normal", "murmur", "extrastole")}
    hls = Counter(r.record_id.split("/")[0] for r in sets["hls_cmds"])
    assert hls == {"HS": want["hls_cmds"]["heart"], "LS": want["hls_cmds"]["lung"],
                   "Mix": 3 * want["hls_cmds"]["mixed"]}
    ic = Counter((r.labels["crackle"], r.labels["wheeze"]) for r in sets["icbhi2017"])
    w = want["icbhi2017"]
    assert ic == {(False, False): w["normal"], (True, False): w["crackle"], (False, True): w["wheeze"],
                  (True, True): w["both"]}
    sp = Counter(r.labels["orig"]["record_label"] for r in sets["sprsound2022"])
    assert sp == {k: v for k, v in want["sprsound2022"].items() if k != "records"}


def test_share_readme_enrichment_is_what_the_data_shows(sets):
    # "murmur Present 49% here vs 19% in the release; abnormal 52% vs 21%": the "here" figures
    # must be the share's own (rounded as stated), else the reweighting targets are stale
    stated = stated_enrichment()
    pat = {r.patient_id: r.labels["orig"]["patient_murmur"] for r in sets["circor2022"]}
    here = {"circor2022": sum(v == "Present" for v in pat.values()) / len(pat),
            "physionet2016": sum(bool(r.labels["abnormal"]) for r in sets["physionet2016"]) / len(sets["physionet2016"])}
    for ds, (share, _release) in stated.items():
        assert abs(here[ds] - share) <= 0.005 + 1e-9, (ds, here[ds], share)


def test_records_are_well_formed(sets):
    keys = set()
    for recs in sets.values():
        for r in recs:
            assert Path(r.path).is_absolute() and Path(r.path).exists(), r.path
            assert r.domain in ("heart", "lung")
            assert r.site is None or r.site in SITES
            assert r.samplerate in (2000, 4000, 8000) and r.duration_s > 0
            assert set(r.labels) == set(LABEL_KEYS)
            for k, v in r.labels.items():
                allowed = LABEL_VALUES[k]
                if v is not None and isinstance(allowed, tuple):
                    assert v in allowed, (r.key, k, v)
            keys.add(r.key)
    assert len(keys) == sum(len(v) for v in sets.values())  # ids unique


def test_circor_murmur_is_per_site_from_murmur_locations(sets):
    """Present patients: present exactly at 'Murmur locations', absent at their other sites."""
    table = {row["Patient ID"]: row for row in csv.DictReader(open(DATA / "circor2022" / "training_data.csv"))}
    seen = Counter()
    for r in sets["circor2022"]:
        row = table[r.patient_id]
        code = r.labels["orig"]["site_code"].split("_")[0]
        locs = set(row["Murmur locations"].split("+")) if row["Murmur"] == "Present" else set()
        want = {"Present": "present" if code in locs else "absent", "Absent": "absent",
                "Unknown": "unknown"}[row["Murmur"]]
        assert r.labels["murmur"] == want, r.key
        assert r.labels["abnormal"] == (row["Outcome"] == "Abnormal")
        assert r.labels["abnormal_scope"] == "patient"
        # murmur descriptors only where the murmur is
        assert (r.labels["murmur_timing"] is not None) == (want == "present")
        seen[(row["Murmur"], want)] += 1
    assert seen[("Present", "absent")] > 0 and seen[("Present", "present")] > 0
    assert all(r.path.endswith(".flac") for r in sets["circor2022"])  # .hea names .wav


def test_unannotated_findings_stay_unknown(sets):
    assert all(r.labels["murmur"] is None for r in sets["physionet2016"])
    assert all(r.labels["rhonchi"] is None and r.labels["crackle_type"] is None for r in sets["icbhi2017"])
    poor = [r for r in sets["sprsound2022"] if r.labels["poor_quality"]]
    assert len(poor) == 177 and all(r.labels["crackle"] is None and r.labels["wheeze"] is None for r in poor)
    assert all(r.labels["pleural_rub"] is None for r in sets["sprsound2022"])
    ext = [r for r in sets["pascal_chsc2011"] if r.labels["extrasystole"]]
    assert len(ext) == 46 and all(r.labels["abnormal"] is None and r.labels["murmur"] is None for r in ext)
    mvp = [r for r in sets["yaseen2018"] if r.labels["lesion"] == "MVP"]
    assert all(r.labels["murmur"] is None for r in mvp)


def test_sprsound_event_labels_match_record_labels(sets):
    for r in sets["sprsound2022"]:
        rl = r.labels["orig"]["record_label"]
        if rl == "Poor Quality":
            continue
        assert r.labels["adventitious"] == (rl != "Normal")
        if "DAS" in rl:
            assert r.labels["crackle"]
        if rl == "Normal":
            assert not (r.labels["crackle"] or r.labels["wheeze"] or r.labels["rhonchi"] or r.labels["stridor"])
        if rl == "CAS":
            assert not r.labels["crackle"] and (r.labels["wheeze"] or r.labels["rhonchi"] or r.labels["stridor"])


def test_hls_mix_has_heart_and_lung_labels_and_shared_group(sets):
    recs = {r.record_id: r for r in sets["hls_cmds"]}
    m, h, l_ = recs["Mix/M0001"], recs["Mix/H0001"], recs["Mix/L0001"]
    assert m.labels["mixed"] and m.labels["murmur_timing_detail"] == "late-systolic" and m.labels["rhonchi"]
    assert h.domain == "heart" and h.labels["murmur"] == "present" and h.labels["rhonchi"] is None
    assert l_.domain == "lung" and l_.labels["rhonchi"] and l_.labels["murmur"] is None
    assert m.group == h.group == l_.group
    assert recs["LS/M_FC_LUA"].labels["crackle_type"] == "fine"  # id mismatch in LS.csv fixed
    assert recs["HS/M_ESM_RUSB"].site == "aortic"


def _link(src: Path, dst: Path):
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(src, dst)


def test_official_layouts_physionet_yaseen_pascal_hls(tmp_path, sets):
    # PhysioNet 2016: training-x/REFERENCE.csv beside the audio
    pn = sets["physionet2016"][:6]
    for r in pn:
        tset = r.labels["orig"]["training_set"]
        _link(Path(r.path), tmp_path / "pn" / tset / Path(r.path).name)
        with open(tmp_path / "pn" / tset / "REFERENCE.csv", "a") as fh:
            fh.write(f"{r.record_id},{1 if r.labels['abnormal'] else -1}\n")
    (tmp_path / "pn" / "REFERENCE_withSQI.csv").write_text(f"{pn[0].record_id},-1,0\n")
    loaded = load_physionet2016(tmp_path / "pn")
    got = {r.record_id: r.labels["abnormal"] for r in loaded}
    assert got == {r.record_id: r.labels["abnormal"] for r in pn}
    quality = {r.record_id: r.labels["poor_quality"] for r in loaded}
    assert quality[pn[0].record_id] is True and quality[pn[1].record_id] is None
    # Yaseen: class folders only (official folder names carry a suffix)
    for cls in ("N", "MVP"):
        src = sorted((DATA / "yaseen2018" / cls).iterdir())[:2]
        for p in src:
            _link(p, tmp_path / "ya" / f"{cls}_New_3주기" / p.name)
    ya = load_yaseen(tmp_path / "ya")
    assert sorted(r.labels["lesion"] for r in ya) == ["MVP", "MVP", "N", "N"]
    # PASCAL: official set_b.csv with an unlabelled test row that must be skipped
    ps = sets["pascal_chsc2011"][:3]
    with open(tmp_path / "set_b.csv", "w") as fh:
        fh.write("dataset,fname,label,sublabel\n")
        for r in ps:
            _link(Path(r.path), tmp_path / "pa" / "set_b" / Path(r.path).name)
            fh.write(f"b,set_b/{Path(r.path).stem}.wav,{r.labels['orig']['label']},\n")
        fh.write("b,set_b/Bunlabelledtest__101_1305030823364_B.wav,,\n")
    os.replace(tmp_path / "set_b.csv", tmp_path / "pa" / "set_b.csv")
    pa = load_pascal(tmp_path / "pa")
    assert [r.record_id for r in pa] == [r.record_id for r in ps]
    assert pa[0].patient_id == ps[0].patient_id == "127"
    # HLS-CMDS: the official LS.csv only (with its mismatched crackle ids)
    for name in ("HS", "LS", "Mix"):
        os.symlink(DATA / "hls_cmds" / name, tmp_path / name)
        if name != "Mix":
            os.symlink(DATA / "hls_cmds" / f"{name}.csv", tmp_path / f"{name}.csv")
    hl = load_hls_cmds(tmp_path)
    assert len(hl) == 100 and Counter(r.labels["crackle_type"] for r in hl)[None] == 100 - 14


def test_official_icbhi_layout_cuts_cycles(tmp_path, sets):
    """A recording + cycle .txt + diagnosis file, built from three real cycles."""
    cyc = [r for r in sets["icbhi2017"] if r.labels["orig"]["recording"] == "104_1b1_Al_sc_Litt3200"][:3]
    assert len(cyc) == 3
    parts = [sf.read(r.path, dtype="float32")[0] for r in cyc]
    sr = cyc[0].samplerate
    sf.write(tmp_path / "104_1b1_Al_sc_Litt3200.wav", np.concatenate(parts), sr)
    t, lines = 0.0, []
    for r, x in zip(cyc, parts):
        d = len(x) / sr
        lines.append(f"{t:.3f}\t{t + d:.3f}\t{int(r.labels['crackle'])}\t{int(r.labels['wheeze'])}")
        t += d
    (tmp_path / "104_1b1_Al_sc_Litt3200.txt").write_text("\n".join(lines) + "\n")
    (tmp_path / "ICBHI_Challenge_diagnosis.txt").write_text(f"104\t{cyc[0].labels['diagnosis']}\n")
    got = load_icbhi(tmp_path)
    assert len(got) == 3
    for g, r in zip(got, cyc):
        assert (g.labels["crackle"], g.labels["wheeze"]) == (r.labels["crackle"], r.labels["wheeze"])
        assert g.labels["diagnosis"] == r.labels["diagnosis"] and g.site == "anterior_left"
        assert g.start_s is not None and abs((g.end_s - g.start_s) - r.duration_s) < 0.01


def test_missing_layout_gives_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="PhysioNet 2016"):
        load_physionet2016(tmp_path)
    with pytest.raises(FileNotFoundError, match="ICBHI"):
        load_icbhi(tmp_path)


def test_data_cli_prints_label_counts(capsys):
    from training.data.__main__ import main

    assert main([]) == 0
    out = capsys.readouterr().out
    c = stated_counts()["circor2022"]
    assert f"== circor2022: {c['records']} records, {c['patients']} patients" in out
    assert "crackle_type" in out and "'Pneumonia'" in out
