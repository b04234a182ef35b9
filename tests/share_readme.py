"""What the shared data's README says each set holds, so tests compare the adapters with it.

The share grows (issue 9 item 7: CirCor 147 -> 268 patients, PhysioNet 2016 587 -> 994 records);
its README is the statement of what is on disk. Tests read the counts from there instead of
freezing them, so they fail when the data and the README disagree, not when the share grows.
"""

from __future__ import annotations

import re
from pathlib import Path

from stethodesk.paths import shared_data_dir

# folder -> (column of the README table, regex, names of the numbers)
PATTERNS = {
    "circor2022": [("what is here", r"(\d+) patients, (\d+) recordings", ("patients", "records")),
                   ("labels", r"murmur Present (\d+) / Absent (\d+) / Unknown (\d+)",
                    ("Present", "Absent", "Unknown"))],
    "physionet2016": [("what is here", r"(\d+) recordings", ("records",)),
                      ("labels", r"normal (\d+) / abnormal (\d+)", ("normal", "abnormal"))],
    "yaseen2018": [("what is here", r"(\d+) clips", ("records",)),
                   ("labels", r"N, AS, MR, MS, MVP \((\d+) each\)", ("each",))],
    "pascal_chsc2011": [("what is here", r"(\d+) recordings", ("records",)),
                        ("labels", r"normal (\d+) / murmur (\d+) / extrasystole (\d+)",
                         ("normal", "murmur", "extrastole"))],
    "hls_cmds": [("what is here", r"(\d+) heart, (\d+) lung, (\d+) mixed", ("heart", "lung", "mixed"))],
    "icbhi2017_cycles": [("what is here", r"(\d+) patients, (\d+) cycles", ("patients", "records")),
                         ("labels", r"normal (\d+) / crackle (\d+) / wheeze (\d+) / both (\d+)",
                          ("normal", "crackle", "wheeze", "both"))],
    "sprsound2022": [("what is here", r"(\d+) recordings", ("records",)),
                     ("labels", r"Normal (\d+) / CAS (\d+) / DAS (\d+) / CAS & DAS (\d+) / Poor Quality (\d+)",
                      ("Normal", "CAS", "DAS", "CAS & DAS", "Poor Quality"))],
}
# dataset name (training.data) -> share folder
FOLDER = {"circor2022": "circor2022", "physionet2016": "physionet2016", "yaseen2018": "yaseen2018",
          "pascal_chsc2011": "pascal_chsc2011", "hls_cmds": "hls_cmds", "icbhi2017": "icbhi2017_cycles",
          "sprsound2022": "sprsound2022"}


def readme_path() -> Path:
    return shared_data_dir() / "README.md"


def readme_text() -> str:
    return readme_path().read_text()


def stated_counts() -> dict[str, dict[str, int]]:
    """``{dataset: {name: number}}`` from the README's table; ``records`` is the number of
    records the adapter yields (HLS-CMDS: heart + lung + 3 per mixed file, M/H/L)."""
    header, rows = None, {}
    for line in readme_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| folder"):
            header = cells
        m = re.match(r"\|\s*`([^`]+)/`\s*\|", line)
        if m and header:
            rows[m.group(1)] = dict(zip(header, cells))
    out = {}
    for ds, folder in FOLDER.items():
        cells = rows[folder]  # KeyError: the README lost a set's row
        got = {}
        for col, rx, names in PATTERNS[folder]:
            m = re.search(rx, cells[col])
            assert m, f"share README, {folder}: no {rx!r} in {cells[col]!r}"
            got.update(zip(names, map(int, m.groups())))
        out[ds] = got
    h = out["hls_cmds"]
    h["records"] = h["heart"] + h["lung"] + 3 * h["mixed"]
    return out


def stated_enrichment() -> dict[str, tuple[float, float]]:
    """``{dataset: (share here, share in the release)}`` of the positive class, from the README's
    "murmur Present 49% here vs 19% in the release; abnormal 52% vs 21%"."""
    text = " ".join(readme_text().split())
    m = re.search(r"murmur Present (\d+)% here vs (\d+)% in the release; abnormal (\d+)% vs (\d+)%", text)
    assert m, "share README no longer states the CirCor / PhysioNet enrichment"
    a, b, c, d = (int(x) / 100 for x in m.groups())
    return {"circor2022": (a, b), "physionet2016": (c, d)}
