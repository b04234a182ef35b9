"""Encoder, projector, calibration and whole-recording encoding (stethodesk.model)."""

import numpy as np
import pytest
import torch

from stethodesk.audio.fileio import read_audio
from stethodesk.model import calibration as cal
from stethodesk.model.encode import encode_features, encode_recording
from stethodesk.model.encoder import (
    HEADS,
    SITES,
    AudioEncoder,
    EncoderConfig,
    load_encoder,
    normalise_site,
    save_encoder,
)
from stethodesk.model.features import FrontendConfig, recording_features
from stethodesk.model.projector import (
    Projector,
    ProjectorConfig,
    head_probabilities,
    load_projector,
    probability_names,
    projector_input,
    save_projector,
)
from stethodesk.paths import shared_data_dir

SMALL = EncoderConfig(stem_channels=8, channels=(8, 16, 16, 24), depth=(1, 1, 1, 1), embed_dim=32)


def test_forward_shapes_for_every_head():
    torch.manual_seed(0)
    m = AudioEncoder(SMALL).eval()
    out = m(torch.randn(3, 64, 701))
    assert out.embedding.shape == (3, 32)
    assert set(out.logits) == set(HEADS)
    for name, z in out.logits.items():
        assert z.shape == (3, HEADS[name].n_out)
    with pytest.raises(ValueError, match="expects"):
        m(torch.randn(3, 32, 701))


def test_default_encoder_size():
    n = sum(p.numel() for p in AudioEncoder().parameters())
    assert 300_000 < n < 1_500_000


def test_config_round_trip():
    d = SMALL.to_dict()
    assert EncoderConfig.from_dict(d) == SMALL
    with pytest.raises(ValueError, match="unknown encoder head"):
        EncoderConfig.from_dict({**d, "heads": ["abnormal", "nonsense"]})


def test_save_load_gives_same_outputs(tmp_path):
    torch.manual_seed(1)
    m = AudioEncoder(SMALL)
    m.train()
    m(torch.randn(4, 64, 301))  # move BN running stats away from their init
    m.eval()
    save_encoder(m, tmp_path / "encoder.safetensors")
    m2 = load_encoder(tmp_path / "encoder.safetensors")
    assert m2.cfg == SMALL
    x = torch.randn(2, 64, 701)
    with torch.no_grad():
        a, b = m(x), m2(x)
    assert torch.equal(a.embedding, b.embedding)
    with pytest.raises(ValueError, match="do not match"):
        load_encoder(tmp_path / "encoder.safetensors", EncoderConfig())


def test_normalise_site():
    assert normalise_site("MV") == "MV"
    assert normalise_site("mitral") == "MV"
    assert normalise_site("Tc") == "trachea"
    assert normalise_site("left_posterior") == "posterior"
    assert normalise_site("anterior_right") == "anterior"
    assert normalise_site("Phc") is None and normalise_site(None) is None
    assert set(SITES) >= {"AV", "PV", "TV", "MV"}


def test_projector_rows_live_in_scaled_embedding_space(tmp_path):
    torch.manual_seed(0)
    heads = SMALL.heads
    names = probability_names(heads)
    cfg = ProjectorConfig(d_in=32 + len(names), hidden=64, k=4, n_embd=640)
    proj = Projector(cfg).eval()
    logits = {h: torch.randn(2, HEADS[h].n_out) for h in heads}
    probs = head_probabilities(logits, heads)
    assert probs.shape == (2, len(names))
    assert torch.allclose(probs[:, names.index("site_AV") :][:, : len(SITES)].sum(1), torch.ones(2))
    feats = projector_input(torch.randn(2, 32), probs)
    out = proj(feats)
    assert out.shape == (2, 4, 640)
    norms = out.norm(dim=-1)
    assert torch.allclose(norms, torch.full_like(norms, 26.0), rtol=1e-3)
    save_projector(proj, tmp_path / "projector.safetensors")
    again = load_projector(tmp_path / "projector.safetensors")
    with torch.no_grad():
        assert torch.equal(again(feats), proj(feats))


def test_calibrate_flat_names_in_unit_interval():
    rng = np.random.default_rng(0)
    logits = {h: rng.normal(size=HEADS[h].n_out).astype(np.float32) * 5 for h in HEADS}
    heads_cfg = {h: cal.head_entry(h, 2.0) for h in HEADS}
    f = cal.calibrate(logits, heads_cfg)
    assert set(f) == set(probability_names(tuple(HEADS)))
    assert all(0.0 <= v <= 1.0 for v in f.values())
    assert "lesion_AS" in f and "murmur_timing_systolic" in f and "site_MV" in f and "is_lung" in f
    assert abs(sum(f[f"site_{s}"] for s in SITES) - 1.0) < 1e-6
    # the temperature really is applied: T=2 halves the logit
    assert abs(f["abnormal"] - 1 / (1 + np.exp(-logits["abnormal"][0] / 2))) < 1e-6


def test_fit_temperature_recovers_overconfidence_and_lowers_ece():
    rng = np.random.default_rng(0)
    true = rng.normal(scale=1.5, size=4000)
    y = (rng.random(4000) < 1 / (1 + np.exp(-true))).astype(float)
    over = 3.0 * true  # an over-confident model: logits 3x too large
    t = cal.fit_temperature(over[:, None], y[:, None], "binary")
    assert 2.6 < t < 3.4
    before = cal.head_metrics(over, y, "binary", 1.0)
    after = cal.head_metrics(over, y, "binary", t)
    assert after["ece"] < before["ece"] / 2
    assert abs(after["auroc"] - before["auroc"]) < 1e-12  # temperature never changes ranking


def test_fit_temperature_multiclass_and_masked_labels():
    rng = np.random.default_rng(1)
    true = rng.normal(scale=2.0, size=(3000, 5))
    y = np.array([rng.choice(5, p=np.exp(r) / np.exp(r).sum()) for r in true])
    t = cal.fit_temperature(true * 0.7, y, "multiclass")  # under-confident: T < 1 fixes it
    assert 0.62 < t < 0.78
    ml_targets = np.full((100, 2), np.nan)
    assert cal.fit_temperature(rng.normal(size=(100, 2)), ml_targets, "multilabel") == 1.0


def test_separable_validation_does_not_give_infinite_confidence():
    z = np.array([-3.0, -2.0, 2.0, 3.0])[:, None]
    y = np.array([0.0, 0.0, 1.0, 1.0])[:, None]
    t = cal.fit_temperature(z, y, "binary")
    assert t == pytest.approx(cal.T_BOUNDS[0], abs=1e-3)


def test_auroc_known_values():
    assert cal.auroc(np.array([0.1, 0.2, 0.8, 0.9]), np.array([0, 0, 1, 1])) == 1.0
    assert cal.auroc(np.array([0.9, 0.8, 0.2, 0.1]), np.array([0, 0, 1, 1])) == 0.0
    assert cal.auroc(np.array([0.5, 0.5, 0.5, 0.5]), np.array([0, 1, 0, 1])) == 0.5
    assert np.isnan(cal.auroc(np.array([0.1, 0.2]), np.array([1, 1])))


def test_encode_recording_averages_every_window():
    files = sorted((shared_data_dir() / "physionet2016" / "audio").glob("*.flac"))
    assert files
    x, sr = read_audio(files[0])
    torch.manual_seed(0)
    m = AudioEncoder(SMALL).eval()
    front = FrontendConfig()
    enc = encode_recording(m, x, sr, front)
    mel = recording_features(x, sr, front)
    assert enc.n_windows == mel.shape[0] >= 2  # physionet records are > 7 s
    assert enc.embedding.shape == (32,)
    with torch.no_grad():
        per_window = m(torch.from_numpy(mel)).logits["abnormal"].numpy()
    assert np.allclose(enc.logits["abnormal"], per_window.mean(0), atol=1e-5)
    assert np.array_equal(encode_features(m, mel).embedding, enc.embedding)
