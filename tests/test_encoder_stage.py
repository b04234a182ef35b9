"""Encoder pretraining stage (training/encoder_train.py and its parts) on real recordings, and its augmentation."""

import json
import math
import time

import numpy as np
import pytest
import torch

from stethodesk.audio.fileio import read_audio
from stethodesk.model.calibration import calibrate
from stethodesk.model.encode import encode_recording
from stethodesk.model.encoder import HEADS, SITES, load_encoder
from stethodesk.model.features import FrontendConfig, recording_features
from training.augment import AugmentConfig, Augmenter, mel_centres
from training.data import load_dataset
from training.encoder_targets import masked_losses, record_targets, stack_targets
from training.encoder_train import train_encoder
from training.feature_cache import cached_features
from training.splits import load_split

FRONT = FrontendConfig()


@pytest.fixture(scope="module")
def sample_records():
    """One real record from each of three sets with different sample rates (2, 4 and 8 kHz)."""
    out = []
    for name in ("physionet2016", "circor2022", "sprsound2022"):
        recs = sorted(load_dataset(name), key=lambda r: r.key)
        out.append(recs[3])
    assert sorted({r.samplerate for r in out}) == [2000, 4000, 8000]
    return out


def test_training_cache_equals_runtime_features_bit_for_bit(tmp_path, sample_records):
    """The training way (computed once, cached to .npy, reloaded) == the app's way on the same file."""
    for r in sample_records:
        first = cached_features(r, FRONT, tmp_path)  # computes and writes the cache
        again = cached_features(r, FRONT, tmp_path)  # reads the cache file back
        x, sr = read_audio(r.path)  # what the engine does with a file
        runtime = recording_features(x, sr, FRONT)
        assert first.dtype == runtime.dtype == np.float32
        assert np.array_equal(first, runtime), r.key
        assert np.array_equal(again, runtime), r.key
    assert len(list(tmp_path.rglob("*.npy"))) == 3


def test_unreadable_file_is_skipped_and_named(tmp_path, sample_records):
    from dataclasses import replace

    from training.encoded_records import encode_records
    from training.feature_cache import load_features
    from stethodesk.model.encoder import AudioEncoder, EncoderConfig

    bad_file = tmp_path / "broken.flac"
    bad_file.write_bytes(b"fLaC" + b"\x00" * 200)  # a FLAC magic number and nothing decodable
    bad = replace(sample_records[1], record_id="broken", path=str(bad_file))
    logs = []
    kept, feats = load_features([sample_records[0], bad, sample_records[2]], FRONT, tmp_path / "f", logs.append)
    assert [r.key for r in kept] == [sample_records[0].key, sample_records[2].key] and len(feats) == 2
    assert any("skipping circor2022/broken" in line for line in logs)
    small = AudioEncoder(EncoderConfig(stem_channels=4, channels=(4, 4, 4, 4), depth=(1, 1, 1, 1), embed_dim=8))
    enc = encode_records(small, [bad, sample_records[0]], FRONT, tmp_path / "f", log=logs.append)
    assert list(enc) == [sample_records[0].key]


def test_targets_follow_the_labels():
    circor_present = next(r for r in load_dataset("circor2022") if r.labels["murmur"] == "present"
                          and r.labels["murmur_timing"] == "systolic")
    t = record_targets(circor_present)
    assert t["murmur"] == 1.0 and t["murmur_timing"] == [1.0, 0.0]
    assert math.isnan(t["crackle"]) and t["is_lung"] == 0.0 and t["lesion"] == -1
    assert SITES[t["site"]] in ("AV", "PV", "TV", "MV")

    icbhi = next(r for r in load_dataset("icbhi2017") if r.labels["crackle"])
    t = record_targets(icbhi)
    assert t["crackle"] == 1.0 and t["is_lung"] == 1.0 and math.isnan(t["abnormal"])

    yaseen = next(r for r in load_dataset("yaseen2018") if r.labels["lesion"] == "MS")
    t = record_targets(yaseen)
    assert HEADS["lesion"].classes[t["lesion"]] == "MS" and t["site"] == -1

    mixed = [r for r in load_dataset("hls_cmds") if r.labels.get("mixed")]
    assert mixed and all(math.isnan(record_targets(r)["is_lung"]) for r in mixed)


def test_masked_rows_do_not_move_the_loss():
    torch.manual_seed(0)
    y = stack_targets([
        {"abnormal": 1.0, "murmur": float("nan"), "murmur_timing": [float("nan")] * 2, "lesion": -1,
         "crackle": float("nan"), "wheeze": float("nan"), "poor_quality": 0.0, "is_lung": 0.0, "site": 2},
        {"abnormal": float("nan"), "murmur": float("nan"), "murmur_timing": [float("nan")] * 2, "lesion": -1,
         "crackle": 1.0, "wheeze": 0.0, "poor_quality": float("nan"), "is_lung": 1.0, "site": -1},
    ], tuple(HEADS))
    y = {h: torch.from_numpy(v) for h, v in y.items()}
    z = {h: torch.randn(2, HEADS[h].n_out, requires_grad=True) for h in HEADS}
    a = masked_losses(z, y)
    z2 = {h: v.detach().clone() for h, v in z.items()}
    z2["abnormal"][1] += 100.0  # row 1 has no abnormal label
    z2["site"][1] += 100.0
    b = masked_losses(z2, y)
    assert torch.equal(a["abnormal"], b["abnormal"]) and torch.equal(a["site"], b["site"])
    assert a["lesion"].item() == 0.0 and a["murmur"].item() == 0.0  # no labels at all
    sum(a.values()).backward()
    assert z["lesion"].grad is not None and float(z["lesion"].grad.abs().sum()) == 0.0
    assert float(z["crackle"].grad[1].abs().sum()) > 0 and float(z["crackle"].grad[0].abs().sum()) == 0


def test_augmenter_band_limits_and_keeps_shapes():
    torch.manual_seed(0)
    mel = torch.randn(6, 64, 701)
    aug = Augmenter(FRONT, AugmentConfig(), seed=1)
    out = aug(mel)
    assert out.shape == mel.shape and torch.isfinite(out).all()
    assert not torch.equal(out, mel)
    # a forced low-pass at 250 Hz attenuates the top bands by far more than the bottom ones
    strict = Augmenter(FRONT, AugmentConfig(p_filter=1.0, lowpass_hz=(250.0, 250.0), highpass_hz=(25.0, 25.0)))
    h = strict.band_limit(4)
    f = mel_centres(FRONT)
    top, mid = int(np.argmax(f > 1500)), int(np.argmin(np.abs(f - 120)))
    assert torch.all(h[:, top] < -3.0) and torch.all(h[:, mid] > -1.0)


def test_stage_trains_calibrates_saves_and_skips(tmp_path):
    recs = load_split(None)
    by_split = {sp: [r for r in recs if r.split == sp] for sp in ("train", "val")}
    profile = {"name": "smoke", "encoder": {"max_records_per_dataset": {"train": 3, "val": 3},
                                             "threads": 1}}
    logs = []
    res = train_encoder(by_split, tmp_path / "enc", profile, log=logs.append,
                        feature_dir=tmp_path / "features")
    out = tmp_path / "enc"
    assert (out / "encoder.safetensors").exists() and (out / "encoder.json").exists()
    assert set(res) >= {"encoder", "frontend", "heads", "metrics", "training"}
    assert set(res["heads"]) == set(HEADS)
    for h, entry in res["heads"].items():
        assert entry["calibration"]["method"] == "temperature" and entry["calibration"]["T"] > 0
        assert entry["kind"] == HEADS[h].kind
        if res["metrics"][h]["n_val"] < 30:  # too few to fit: left at T = 1
            assert entry["calibration"]["T"] == 1.0 and not res["metrics"][h]["fitted"]
    assert res["metrics"]["is_lung"]["n_val"] > 0 and res["metrics"]["is_lung"]["auroc"] is not None
    assert res["training"]["records"]["train"]["icbhi2017"] == 3
    stored = json.loads((out / "encoder_result.json").read_text())
    assert stored["config_hash"] == res["config_hash"]

    # the saved encoder runs on a real file the app's way and gives calibrated findings
    enc = load_encoder(out / "encoder.safetensors")
    x, sr = read_audio(by_split["val"][0].path)
    e = encode_recording(enc, x, sr, FrontendConfig.from_dict(res["frontend"]))
    findings = calibrate({k: v for k, v in e.logits.items()}, res["heads"])
    assert "abnormal" in findings and "site_MV" in findings
    assert all(0.0 <= v <= 1.0 for v in findings.values())

    # a second call with the same inputs skips the work
    t0 = time.time()
    again = train_encoder(by_split, out, profile, log=logs.append, feature_dir=tmp_path / "features")
    assert again["config_hash"] == res["config_hash"] and time.time() - t0 < 5.0
    assert any("skipping" in line for line in logs)

    # an interrupted run (weights and result lost, checkpoint kept) resumes instead of retraining
    (out / "encoder_result.json").unlink()
    (out / "encoder.safetensors").unlink()
    logs.clear()
    resumed = train_encoder(by_split, out, profile, log=logs.append, feature_dir=tmp_path / "features")
    assert any("resuming" in line for line in logs)
    assert not any(line.startswith("  epoch") for line in logs)  # no epoch was trained again
    assert resumed["metrics"] == res["metrics"]


def test_budget_stopped_run_resumes_without_extra_steps(tmp_path):
    recs = load_split(None)
    by_split = {sp: [r for r in recs if r.split == sp] for sp in ("train", "val")}
    profile = {"name": "smoke", "encoder": {"max_records_per_dataset": {"train": 2, "val": 2},
                                             "epochs": 3, "max_minutes": 1e-4, "threads": 1}}
    logs = []
    res = train_encoder(by_split, tmp_path / "enc", profile, log=logs.append, feature_dir=tmp_path / "f")
    assert res["training"]["stopped_by_time_budget"] and res["training"]["epochs_done"] == 1
    assert res["training"]["steps"] == 1
    (tmp_path / "enc" / "encoder_result.json").unlink()
    logs.clear()
    again = train_encoder(by_split, tmp_path / "enc", profile, log=logs.append, feature_dir=tmp_path / "f")
    assert any("resuming" in line for line in logs)
    assert again["training"]["steps"] == 1 and again["training"]["epochs_done"] == 1
    assert again["metrics"] == res["metrics"]


def test_calibrate_heads_fits_only_with_enough_recordings():
    from training.encoder_calibration import MIN_CALIBRATION_N, calibrate_heads

    rng = np.random.default_rng(0)
    true = rng.normal(scale=1.5, size=400)
    y = (rng.random(400) < 1 / (1 + np.exp(-true))).astype(np.float32)[:, None]
    z = (3.0 * true)[:, None]  # over-confident by 3x
    heads, metrics = calibrate_heads({"crackle": z}, {"crackle": y}, log=lambda *_: None,
                                     datasets=["a"] * 200 + ["b"] * 200)
    assert metrics["crackle"]["fitted"] and 2.5 < heads["crackle"]["calibration"]["T"] < 3.5
    assert metrics["crackle"]["ece_after"] < metrics["crackle"]["ece_before"]
    assert set(metrics["crackle"]["auroc_by_dataset"]) == {"a", "b"}
    few = MIN_CALIBRATION_N - 1
    heads, metrics = calibrate_heads({"crackle": z[:few]}, {"crackle": y[:few]}, log=lambda *_: None)
    assert not metrics["crackle"]["fitted"] and heads["crackle"]["calibration"]["T"] == 1.0


def test_augmenter_nyquist_edge_floors_the_upper_bands_only():
    cfg = AugmentConfig(p_nyquist=1.0, nyquist_hz=(1000.0, 1000.0), p_filter=0.0, p_noise=0.0,
                        max_shift_frames=0, time_mask_frames=0, band_mask=0, gain_db=0.0)
    aug = Augmenter(FRONT, cfg, seed=3)
    mel = torch.randn(2, FRONT.n_mels, 50)
    out = aug(mel)
    above = torch.from_numpy(mel_centres(FRONT)) > 1000.0
    assert 0 < int(above.sum()) < FRONT.n_mels
    floor = float(np.log(1e-6))
    assert torch.allclose(out[:, above, :], torch.full_like(out[:, above, :], floor))
    assert torch.equal(out[:, ~above, :], mel[:, ~above, :])
