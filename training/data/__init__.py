"""Dataset adapters: every set in the shared data folder (or a user's full official release)
read into one :class:`Record` type with a shared label vocabulary.

    from training.data import load_all, load_dataset
    records = load_all()                      # every set under shared_data_dir()
    circor = load_dataset("circor2022", "/path/to/the-circor-digiscope-phonocardiogram-dataset-1.0.3")
"""

from __future__ import annotations

from pathlib import Path

from .circor import load_circor
from .hls_cmds import load_hls_cmds
from .icbhi import load_icbhi
from .pascal import load_pascal
from .physionet2016 import load_physionet2016
from .record import HEART_SITES, LABEL_KEYS, LABEL_VALUES, LUNG_SITES, SITES, Record
from .sprsound import load_sprsound
from .yaseen import load_yaseen

# dataset name -> (loader, folder name in the shared data folder)
LOADERS = {
    "circor2022": (load_circor, "circor2022"),
    "physionet2016": (load_physionet2016, "physionet2016"),
    "yaseen2018": (load_yaseen, "yaseen2018"),
    "pascal_chsc2011": (load_pascal, "pascal_chsc2011"),
    "hls_cmds": (load_hls_cmds, "hls_cmds"),
    "icbhi2017": (load_icbhi, "icbhi2017_cycles"),
    "sprsound2022": (load_sprsound, "sprsound2022"),
}
DATASETS = tuple(LOADERS)

_CACHE: dict[tuple[str, str], list[Record]] = {}


def load_dataset(name: str, root=None) -> list[Record]:
    """Records of one set. ``root`` is that set's folder (default: its folder in the shared data)."""
    if name not in LOADERS:
        raise KeyError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    fn, folder = LOADERS[name]
    if root is None:
        from stethodesk.paths import shared_data_dir

        root = shared_data_dir() / folder
    key = (name, str(Path(root).resolve()))
    if key not in _CACHE:  # reading ~4,400 headers takes ~2 s; tests and CLIs call this often
        _CACHE[key] = fn(root)
    return list(_CACHE[key])


def dataset_folder(name: str, root=None, roots: dict | None = None) -> Path:
    """Folder of set ``name``: ``roots[name]`` if given (e.g. a full official release unpacked
    anywhere), else ``<root>/<folder name from LOADERS>`` (root defaults to the shared data)."""
    if roots and roots.get(name):
        return Path(roots[name])
    if root is None:
        from stethodesk.paths import shared_data_dir

        root = shared_data_dir()
    return Path(root) / LOADERS[name][1]


def load_all(root=None, datasets=DATASETS, roots: dict | None = None) -> list[Record]:
    """Records of every set under ``root`` (default ``stethodesk.paths.shared_data_dir()``), which
    holds one folder per set named as in :data:`LOADERS`; ``roots`` overrides single sets'
    folders (``{"circor2022": "/data/the-circor-digiscope-phonocardiogram-dataset-1.0.3"}``).
    Missing folders are skipped."""
    out: list[Record] = []
    for name in datasets:
        folder = dataset_folder(name, root, roots)
        if folder.exists():
            out.extend(load_dataset(name, folder))
    return out


__all__ = ["Record", "LABEL_KEYS", "LABEL_VALUES", "SITES", "HEART_SITES", "LUNG_SITES", "LOADERS",
           "DATASETS", "dataset_folder", "load_all", "load_dataset", "load_circor", "load_physionet2016",
           "load_yaseen", "load_pascal", "load_hls_cmds", "load_icbhi", "load_sprsound"]
