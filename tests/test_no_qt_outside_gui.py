"""Qt stays in stethodesk/gui/: the model, audio, store and training layers must run headless.

Checked two ways: statically (no import statement names Qt outside gui/) and dynamically
(importing every non-GUI module in a fresh interpreter leaves Qt unloaded).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QT_MODULES = ("PySide6", "PyQt5", "PyQt6", "pyqtgraph", "superqt", "shiboken6")


def _non_gui_sources() -> list[Path]:
    files = [p for p in (ROOT / "stethodesk").rglob("*.py") if "gui" not in p.relative_to(ROOT).parts]
    files += list((ROOT / "training").rglob("*.py"))
    return files


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_no_qt_import_statements_outside_gui():
    sources = _non_gui_sources()
    assert len(sources) > 5, "the scan found almost nothing: the package layout changed"
    offenders = {
        str(p.relative_to(ROOT)): sorted(_imports(p) & set(QT_MODULES))
        for p in sources
        if _imports(p) & set(QT_MODULES)
    }
    assert not offenders, f"Qt imported outside stethodesk/gui/: {offenders}"


def test_importing_non_gui_modules_does_not_load_qt():
    modules = []
    for p in (ROOT / "stethodesk").rglob("*.py"):
        rel = p.relative_to(ROOT).with_suffix("")
        if "gui" in rel.parts or rel.name == "__main__":
            continue
        modules.append(".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts))
    code = (
        "import importlib, sys\n"
        f"for m in {sorted(modules)!r}:\n"
        "    importlib.import_module(m)\n"
        f"loaded = [m for m in sys.modules if m.split('.')[0] in {QT_MODULES!r}]\n"
        "print(','.join(loaded))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "", f"Qt got loaded by non-GUI modules: {out.stdout.strip()}"
