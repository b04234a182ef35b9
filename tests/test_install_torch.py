"""scripts/install-torch.sh: torch's CPU build where its index answers, the pinned registry wheel otherwise.

No network: the "PyTorch CPU index" is an HTTP server on 127.0.0.1 serving a PEP 503 page, the
"registry" a file:// simple index, and both hold tiny stand-in wheels named like the real ones
(``torch-2.13.0+cpu`` and ``torch-2.13.0``), so the real script and the real pip run end to end
into a throwaway venv in seconds. pip's own configuration is switched off (PIP_CONFIG_FILE=/dev/null)
so this machine's wheel folder cannot answer instead of the stand-ins.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import http.server
import os
import re
import socket
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest

from stethodesk.paths import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "install-torch.sh"
PIN = re.search(r'"torch==([^"]+)"', (REPO_ROOT / "pyproject.toml").read_text()).group(1)


def _wheel(folder: Path, version: str) -> Path:
    """A minimal valid wheel of a package named torch at ``version``."""
    files = {
        "torch/__init__.py": f'__version__ = "{version}"\n',
        f"torch-{version}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: torch\nVersion: {version}\n",
        f"torch-{version}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = f"torch-{version}.dist-info/RECORD"
    lines = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        lines.append(f"{name},sha256={digest},{len(text.encode())}")
    files[record] = "\n".join(lines + [f"{record},,"]) + "\n"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"torch-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    return path


def _simple_index(root: Path, versions: list[str]) -> Path:
    """root/torch/index.html linking the wheels (PEP 503); returns root."""
    links = "".join(f'<a href="{w.name.replace("+", "%2B")}">{w.name}</a>\n'
                    for w in (_wheel(root / "torch", v) for v in versions))
    (root / "torch" / "index.html").write_text(f"<html><body>\n{links}</body></html>\n")
    return root


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("torchvenv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(d)], check=True, timeout=300)
    return d / "bin" / "python"


@pytest.fixture
def registry(tmp_path) -> Path:
    return _simple_index(tmp_path / "registry", [PIN])


@pytest.fixture
def cpu_index(tmp_path):
    """URL of a loopback server whose /whl/cpu holds torch PIN+cpu (and a factory for other contents)."""
    servers = []

    def serve(versions: list[str]) -> str:
        root = tmp_path / f"pytorch{len(servers)}"
        _simple_index(root / "whl" / "cpu", versions)
        handler = functools.partial(_QuietHandler, directory=str(root))
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return f"http://127.0.0.1:{srv.server_address[1]}/whl/cpu"

    yield serve
    for srv in servers:
        srv.shutdown()
        srv.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output to what matters
        pass


def _run(python: Path, index: str, registry: Path | None) -> tuple[subprocess.CompletedProcess, str]:
    """Run the script with pip's configuration off; returns (process, torch version in the venv)."""
    subprocess.run([str(python), "-m", "pip", "uninstall", "-q", "-y", "torch"], capture_output=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_CACHE_DIR="1", PIP_DISABLE_PIP_VERSION_CHECK="1",
               STETHODESK_TORCH_INDEX=index,
               PIP_INDEX_URL=registry.as_uri() if registry else (Path("/nonexistent-registry")).as_uri())
    proc = subprocess.run(["bash", str(SCRIPT), str(python)], capture_output=True, text=True, env=env,
                          timeout=300)
    got = subprocess.run([str(python), "-c", "import torch; print(torch.__version__)"],
                         capture_output=True, text=True)
    return proc, got.stdout.strip()


def test_cpu_build_from_the_pytorch_index_when_it_answers(venv, registry, cpu_index):
    proc, version = _run(venv, cpu_index([PIN + "+cpu"]), registry)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert version == f"{PIN}+cpu" and "CPU build from http://127.0.0.1" in proc.stdout, proc.stdout


def test_registry_wheel_when_the_index_refuses(venv, registry):
    with socket.socket() as s:  # a port nothing listens on: connection refused at once
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc, version = _run(venv, f"http://127.0.0.1:{port}/whl/cpu", registry)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert version == PIN and "not reachable" in proc.stdout, proc.stdout


def test_registry_wheel_when_the_index_never_answers(venv, registry):
    with socket.socket() as s:  # accepts the connection, never answers: the probe's timeout ends it
        s.bind(("127.0.0.1", 0))
        s.listen(4)
        proc, version = _run(venv, f"http://127.0.0.1:{s.getsockname()[1]}/whl/cpu", registry)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert version == PIN and "not reachable" in proc.stdout, proc.stdout


def test_registry_wheel_when_the_index_lacks_the_pinned_version(venv, registry, cpu_index):
    proc, version = _run(venv, cpu_index(["2.0.0+cpu"]), registry)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert version == PIN and "falling back to the registry" in proc.stdout, proc.stdout


def test_index_none_goes_straight_to_the_registry_and_a_second_run_installs_nothing(venv, registry):
    proc, version = _run(venv, "none", registry)
    assert proc.returncode == 0 and version == PIN, proc.stdout + proc.stderr
    # installed already: no index, no registry needed
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_INDEX_URL=Path("/nonexistent-registry").as_uri())
    again = subprocess.run(["bash", str(SCRIPT), str(venv)], capture_output=True, text=True, env=env, timeout=120)
    assert again.returncode == 0 and f"torch {PIN} already installed" in again.stdout, again.stdout + again.stderr


def test_both_ways_failing_fails_with_pips_message(venv):
    proc, version = _run(venv, "none", None)
    assert proc.returncode != 0 and not version, proc.stdout
    assert "torch" in proc.stderr, proc.stderr
