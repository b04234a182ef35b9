"""Artifact windows for the poor-quality head (training/artifacts.py) and their place in the encoder stage."""

import numpy as np
import pytest
import torch

from stethodesk.model.encoder import HEADS
from stethodesk.model.features import FrontendConfig
from training.artifacts import KINDS, ArtifactConfig, ArtifactMixer, artifact_window, render
from training.augment import mel_centres
from training.data import load_dataset
from training.encoder_targets import masked_losses, record_targets, stack_targets
from training.encoder_train import PROFILES, train_encoder
from training.feature_cache import cached_features
from training.splits import load_split

FRONT = FrontendConfig()


@pytest.fixture(scope="module")
def real_batch(tmp_path_factory):
    """Eight real windows with their real targets: heart (CirCor, PhysioNet) and lung (ICBHI, SPRSound)."""
    recs = []
    for name in ("circor2022", "physionet2016", "icbhi2017", "sprsound2022"):
        recs += sorted(load_dataset(name), key=lambda r: r.key)[5:7]
    fdir = tmp_path_factory.mktemp("features")
    x = torch.stack([torch.from_numpy(cached_features(r, FRONT, fdir)[0]) for r in recs])
    y = {h: torch.from_numpy(v) for h, v in stack_targets([record_targets(r) for r in recs], tuple(HEADS)).items()}
    return x, y


def _is_masked(y, h, i) -> bool:
    v = y[h][i]
    return bool((v == -1).all()) if HEADS[h].kind == "multiclass" else bool(torch.isnan(v).all())


def test_artifact_rows_are_poor_quality_with_every_other_head_masked(real_batch):
    x, y = real_batch
    assert any(not _is_masked(y, h, i) for h in HEADS if h != "poor_quality" for i in range(len(x)))
    mix = ArtifactMixer(FRONT, ArtifactConfig(p=0.5), seed=3)
    x2, y2, kinds = mix(x, y)
    hit = [i for i in range(len(x)) if not torch.equal(x2[i], x[i])]
    assert 0 < len(hit) < len(x) and len(kinds) == len(hit)
    for i in range(len(x)):
        if i in hit:
            assert float(y2["poor_quality"][i, 0]) == 1.0
            assert all(_is_masked(y2, h, i) for h in HEADS if h != "poor_quality"), i
        else:  # the clean rows keep their window and every target
            for h in HEADS:
                assert torch.equal(torch.nan_to_num(y2[h][i], nan=-9.0), torch.nan_to_num(y[h][i], nan=-9.0)), (h, i)
    assert x2 is not x and not torch.equal(x2, x)  # a new tensor: the cached windows are not written to

    # the loss: an artifact row moves only the poor-quality head
    z = {h: torch.randn(len(x), HEADS[h].n_out, requires_grad=True) for h in HEADS}
    sum(masked_losses(z, y2).values()).backward()
    for h in HEADS:
        g = z[h].grad[hit].abs().sum()
        assert (float(g) > 0) if h == "poor_quality" else (float(g) == 0.0), h


def test_every_row_an_artifact_at_p_one_and_none_at_zero(real_batch):
    x, y = real_batch
    x2, y2, kinds = ArtifactMixer(FRONT, ArtifactConfig(p=1.0), seed=0)(x, y)
    assert len(kinds) == len(x) and bool((y2["poor_quality"] == 1.0).all())
    assert torch.isfinite(x2).all() and x2.shape == x.shape
    x3, y3, kinds = ArtifactMixer(FRONT, ArtifactConfig(p=0.0), seed=0)(x, y)
    assert kinds == [] and x3 is x and y3 is y


def test_mixed_rows_bury_the_body_sound(real_batch):
    """Mixed at -30..-15 dB the window is the artifact's, not the heart/lung recording's."""
    x, y = real_batch
    mix = ArtifactMixer(FRONT, ArtifactConfig(p=1.0, p_replace=0.0, kinds=("noise",)), seed=1)
    x2, _, kinds = mix(x, y)
    assert all(k == "noise+body" for k in kinds)
    for i in range(len(x)):
        d_real = float((x2[i] - x[i]).abs().mean())
        assert d_real > 1.0, i  # far from the original window (log-power units)
        # the heart cycles / breaths (each band's course over time) are gone: little correlation left
        a, b = x2[i] - x2[i].mean(dim=1, keepdim=True), x[i] - x[i].mean(dim=1, keepdim=True)
        corr = float((a * b).sum() / (a.norm() * b.norm()))
        assert corr < 0.3, (i, corr)


def test_the_pool_reuses_rendered_windows_and_keeps_refreshing_them():
    mix = ArtifactMixer(FRONT, ArtifactConfig(p=1.0, pool=4, p_fresh=0.5), seed=2)
    drawn = [mix.draw() for _ in range(40)]
    assert len(mix.pool) == 4 and 4 < mix.rendered < 40  # filled, then half new, half reused
    distinct = {hash(m.numpy().tobytes()) for _, m in drawn}
    assert len(distinct) == mix.rendered  # every rendered window is a different one
    assert {k for k, _ in drawn} <= set(KINDS)
    fresh = ArtifactMixer(FRONT, ArtifactConfig(p=1.0, pool=0), seed=2)
    [fresh.draw() for _ in range(5)]
    assert fresh.rendered == 5 and fresh.pool == []


def test_artifact_windows_are_not_all_alike():
    rng = np.random.default_rng(0)
    wins = {k: [artifact_window(k, rng, FRONT) for _ in range(3)] for k in KINDS}
    spectra = {k: [w.mean(axis=1) for w in ws] for k, ws in wins.items()}  # [F] mean band levels
    # same kind, different draws: different windows
    for k, ws in wins.items():
        assert not np.allclose(ws[0], ws[1]) and not np.allclose(ws[1], ws[2]), k
    # different kinds differ in their spectra by more than draws of one kind (mean over draws)
    centre = {k: np.mean(s, axis=0) for k, s in spectra.items()}
    dists = [np.abs(centre[a] - centre[b]).mean() for i, a in enumerate(KINDS) for b in KINDS[i + 1 :]]
    assert min(dists) > 0.3, dict(zip([(a, b) for i, a in enumerate(KINDS) for b in KINDS[i + 1 :]], dists))


def test_renderers_have_their_signatures():
    sr, n = 4000, 28000
    rng = np.random.default_rng(5)
    f = np.fft.rfftfreq(n, 1 / sr)

    h = render("hum", rng, 7.0, sr)
    p = np.abs(np.fft.rfft(h)) ** 2
    peak = f[np.argmax(p[f > 30]) + np.sum(f <= 30)]
    assert min(abs(peak / 50 - round(peak / 50)), abs(peak / 60 - round(peak / 60))) < 0.02, peak

    # speech: energy comes and goes at a syllable rate of 3-6 Hz
    s = render("speech", rng, 7.0, sr).astype(np.float64)
    env = np.abs(s).reshape(-1, 40).mean(axis=1)  # 100 Hz envelope
    e = np.abs(np.fft.rfft(env - env.mean())) ** 2
    fe = np.fft.rfftfreq(len(env), 1 / 100)
    assert e[(fe >= 2) & (fe <= 8)].sum() > e[(fe > 12) & (fe <= 50)].sum()
    ps = np.abs(np.fft.rfft(s)) ** 2  # voiced: most energy between 100 Hz and 2 kHz
    assert ps[(f >= 100) & (f < 2000)].sum() > 0.8 * ps.sum()

    # white/pink/brown noise, rubbing, handling and silence all give finite, non-constant audio
    for k in ("noise", "rubbing", "handling", "silence"):
        a = render(k, rng, 7.0, sr)
        assert a.shape == (n,) and np.isfinite(a).all() and a.std() > 0, k
    with pytest.raises(ValueError, match="unknown artifact kind"):
        render("thunder", rng, 1.0)
    assert len(mel_centres(FRONT)) == FRONT.n_mels


def test_stage_draws_and_reports_artifact_windows(tmp_path):
    recs = load_split(None)
    by_split = {sp: [r for r in recs if r.split == sp] for sp in ("train", "val")}
    profile = {"name": "smoke", "encoder": {"max_records_per_dataset": {"train": 2, "val": 1},
                                             "threads": 1, "artifact_p": 0.5}}
    logs = []
    res = train_encoder(by_split, tmp_path / "enc", profile, log=logs.append, feature_dir=tmp_path / "f")
    drawn = res["training"]["artifact_windows"]
    assert drawn["p"] == 0.5 and drawn["drawn"] > 0 and sum(drawn["by_kind"].values()) == drawn["drawn"]
    assert 0 < drawn["rendered"] <= drawn["drawn"]
    assert any(line.startswith("  artifact windows so far:") for line in logs)
    # the profiles the orchestrator uses draw artifacts by default
    assert 0.05 <= PROFILES["laptop"]["artifact_p"] <= 0.15 and PROFILES["smoke"]["artifact_p"] > 0
