"""A bundle's scorecard: the figures of its ``metrics.json`` that the regression gate compares.

:func:`scorecard` flattens ``metrics.json`` into named :class:`Metric` entries, each with the
number of cases behind it and its standard error; :func:`compare` puts two scorecards side by
side and says, metric by metric, whether the new one is worse beyond the tolerance.

What is gated (a drop beyond tolerance refuses the new bundle)
--------------------------------------------------------------
- ``finding/<head>``: pooled test AUROC of every finding head;
- ``dataset/<set>/<head>``: the same per source dataset (the honest figures, guide 2b);
- ``challenge/<score>``: PhysioNet 2016 MAcc, CirCor 2022 weighted accuracy, ICBHI and SPRSound;
- ``stated/clinical_accuracy`` and ``shown/stated/clinical_accuracy``: checker vs the label facts
  the findings card states, over all tasks, for the raw model and for the answer the app shows;
- ``clinical_accuracy`` and ``shown/clinical_accuracy`` (checker vs every label fact) are gated
  only in a scorecard without the ``stated`` figures (metrics of older evaluation code; the gate
  re-evaluates those). With them they are shown, not gated: a reference fact no head gives
  (rhonchi, stridor, crackle type, S3...) is one the answer must not assert (issue 9 item 2: no
  fact the prompt does not carry), so a bundle that keeps to its card would be refused for
  obeying that rule;
- ``card_agreement``: raw answers that agree with the findings card, all tasks;
- ``lodo/<set>/<head>``: leave-one-dataset-out AUROC, when both bundles have it.

An AUROC is gated only when it rests on at least :data:`MIN_CLASS` cases of each class, a
proportion when it rests on at least :data:`MIN_N` cases; thinner figures and the per-task
figures are shown but not gated (``info``). ``shown/card_agreement`` (what the user reads) has a
floor instead: it must be :data:`GROUNDED_FLOOR` (1.0) whatever the old bundle scored.

Tolerance
---------
``tol = max(MIN_TOLERANCE, z * SE)`` with ``z = 1`` by default and SE the standard error of the
*shipped* (old) figure: Hanley & McNeil (1982) for an AUROC, from its AUROC and class counts;
binomial ``sqrt(p (1 - p) / n)`` for accuracies, agreement rates and the challenge scores (an
approximation for the balanced scores, with n their recordings or patients). A figure of exactly
0 or 1 is taken half a case from the end for its SE (a perfect AUROC on 30 cases is not exact). The new bundle
fails a metric when ``new < old - tol``: a drop smaller than the shipped figure's own sampling
error is not called a regression, a larger one is. Both bundles are scored on the same test
recordings (the gate checks the fingerprint), so most of that noise is shared and one SE is a
conservative (lenient) margin per metric; with some 50 gated metrics, an equally good bundle
still fails one now and then - read the table, and widen with ``--z`` only with a reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MIN_TOLERANCE = 0.01  # no metric is judged finer than this
MIN_CLASS = 10  # cases of each class an AUROC needs before it is gated
MIN_N = 30  # cases a proportion needs before it is gated
GROUNDED_FLOOR = 1.0  # shown answers that agree with the card: all of them (issue 9, item 1)


@dataclass(frozen=True)
class Metric:
    """One scorecard figure: ``value`` in [0, 1] (None: not computable), ``n`` cases, ``se``
    its standard error, ``gated`` whether a drop refuses the bundle, ``floor`` an absolute
    minimum (None: none)."""

    value: float | None
    n: int = 0
    se: float | None = None
    gated: bool = True
    floor: float | None = None


@dataclass(frozen=True)
class Row:
    """One line of the side-by-side table; ``verdict`` is "ok", "better", "WORSE", "MISSING"
    (gated in the old scorecard, absent from the new), "BELOW FLOOR", "new" or "info"."""

    metric: str
    old: float | None
    new: float | None
    tol: float | None
    verdict: str

    @property
    def failed(self) -> bool:
        return self.verdict in ("WORSE", "MISSING", "BELOW FLOOR")


def auroc_se(a: float | None, n_pos: int, n_neg: int) -> float | None:
    """Hanley & McNeil (1982) standard error of an AUROC ``a`` from ``n_pos`` / ``n_neg`` cases.

    An observed 0 or 1 gives SE 0, which no finite sample supports: ``a`` is first kept within
    half a case of the ends (``1 - 0.5 / min(n_pos, n_neg)``), as for the binomial SE below.
    """
    if a is None or n_pos < 1 or n_neg < 1:
        return None
    edge = 0.5 / min(n_pos, n_neg)
    a = min(max(a, edge), 1 - edge) if edge < 0.5 else 0.5
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    var = (a * (1 - a) + (n_pos - 1) * (q1 - a * a) + (n_neg - 1) * (q2 - a * a)) / (n_pos * n_neg)
    return math.sqrt(max(var, 0.0))


def binomial_se(p: float | None, n: int) -> float | None:
    """``sqrt(p (1 - p) / n)`` with ``p`` kept half a case from 0 and 1; None without cases."""
    if p is None or n < 1:
        return None
    p = min(max(p, 0.5 / n), 1 - 0.5 / n)
    return math.sqrt(max(p * (1 - p), 0.0) / n)


def _auroc_metric(f: dict) -> Metric:
    n, pos = int(f.get("n") or 0), int(f.get("positives") or 0)
    a = f.get("auroc")
    return Metric(a, n, auroc_se(a, pos, n - pos), gated=a is not None and min(pos, n - pos) >= MIN_CLASS)


def _rate_metric(value: float | None, n: int, gated: bool = True, floor: float | None = None) -> Metric:
    return Metric(value, int(n or 0), binomial_se(value, int(n or 0)), gated=gated and value is not None
                  and int(n or 0) >= MIN_N, floor=floor)


def scorecard(m: dict, shown_floor: float = GROUNDED_FLOOR) -> dict[str, Metric]:
    """The named figures of one ``metrics.json`` (see the module docstring); ``shown_floor`` is
    the least share of shown answers that must agree with the card."""
    out: dict[str, Metric] = {}
    for head, f in sorted((m.get("findings") or {}).items()):
        out[f"finding/{head}"] = _auroc_metric(f)
    for ds, heads in sorted((m.get("findings_by_dataset") or {}).items()):
        for head, f in sorted(heads.items()):
            out[f"dataset/{ds}/{head}"] = _auroc_metric(f)
    for name, c in sorted((m.get("challenge") or {}).items()):
        if isinstance(c, dict):
            out[f"challenge/{name}"] = _rate_metric(c.get("value"), c.get("n") or c.get("patients") or 0)
    st = m.get("stated") or {}
    full_gated = not st.get("clinical_accuracy_overall")
    ca = m.get("clinical_accuracy_overall")
    if ca:
        out["clinical_accuracy"] = _rate_metric(ca.get("acc"), ca.get("n"), gated=full_gated)
    for key, name in (("clinical_accuracy_overall", "stated/clinical_accuracy"),
                      ("shown_clinical_accuracy_overall", "shown/stated/clinical_accuracy")):
        if st.get(key):
            out[name] = _rate_metric(st[key].get("acc"), st[key].get("n"))
    for task, v in sorted((m.get("clinical_accuracy") or {}).items()):
        out[f"clinical_accuracy/{task}"] = _rate_metric(v.get("acc"), v.get("n"), gated=False)
    ag = m.get("card_agreement_overall")
    if ag:
        out["card_agreement"] = _rate_metric(ag.get("rate"), ag.get("n"))
    for task, v in sorted((m.get("card_agreement") or {}).items()):
        out[f"card_agreement/{task}"] = _rate_metric(v.get("rate"), v.get("n"), gated=False)
    gr = m.get("grounded") or {}
    if gr.get("card_agreement_overall"):
        g = gr["card_agreement_overall"]
        out["shown/card_agreement"] = Metric(g.get("rate"), int(g.get("n") or 0), binomial_se(g.get("rate"), int(g.get("n") or 0)),
                                             gated=False, floor=shown_floor)
    if gr.get("clinical_accuracy_overall"):
        g = gr["clinical_accuracy_overall"]
        out["shown/clinical_accuracy"] = _rate_metric(g.get("acc"), g.get("n"), gated=full_gated)
    for ds, fold in sorted(((m.get("lodo") or {}).get("folds") or {}).items()):
        for head, f in sorted((fold.get("held_out") or {}).items()):
            out[f"lodo/{ds}/{head}"] = _auroc_metric(f)
    return out


def tolerance(old: Metric, z: float = 1.0, min_tol: float = MIN_TOLERANCE) -> float:
    """``max(min_tol, z * SE of the old figure)``."""
    return max(min_tol, z * (old.se or 0.0))


def compare(old: dict[str, Metric], new: dict[str, Metric], z: float = 1.0,
            min_tol: float = MIN_TOLERANCE) -> list[Row]:
    """Side-by-side rows for every metric of either scorecard, gated ones first.

    A LODO metric is compared only when the new scorecard has LODO figures at all; a new
    scorecard without any while the old one has them gets one ``MISSING`` row ``lodo``.
    """
    rows = []
    new_has_lodo = any(k.startswith("lodo/") for k in new)
    old_has_lodo = any(k.startswith("lodo/") for k in old)
    for name in sorted(set(old) | set(new)):
        o, n = old.get(name), new.get(name)
        if (o is None or o.value is None) and (n is None or n.value is None):
            continue  # not computable on either side (one class only)
        if name.startswith("lodo/") and not new_has_lodo:
            continue
        if n is not None and n.floor is not None:
            ok = n.value is not None and n.value >= n.floor - 1e-12
            rows.append(Row(name, o.value if o else None, n.value, None, "ok" if ok else "BELOW FLOOR"))
            continue
        if o is None:
            rows.append(Row(name, None, n.value, None, "new"))
            continue
        gated = o.gated and o.value is not None
        tol = tolerance(o, z, min_tol) if gated else None
        if n is None or n.value is None:
            rows.append(Row(name, o.value, None, tol, "MISSING" if gated else "info"))
        elif not gated:
            rows.append(Row(name, o.value, n.value, tol, "info"))
        elif n.value < o.value - tol:
            rows.append(Row(name, o.value, n.value, tol, "WORSE"))
        else:
            rows.append(Row(name, o.value, n.value, tol, "better" if n.value > o.value + tol else "ok"))
    if old_has_lodo and not new_has_lodo:
        rows.append(Row("lodo", None, None, None, "MISSING"))
    order = {"BELOW FLOOR": 0, "WORSE": 0, "MISSING": 0}
    return sorted(rows, key=lambda r: (order.get(r.verdict, 1), r.verdict == "info", r.metric))


def passed(rows: list[Row]) -> bool:
    """True when no row failed."""
    return not any(r.failed for r in rows)


def format_rows(rows: list[Row], old_name: str = "old", new_name: str = "new", show_info: bool = True) -> str:
    """The side-by-side table as text."""
    def f(v):
        return "-" if v is None else f"{v:.3f}"

    width = max([len(r.metric) for r in rows] + [6])
    head = f"{'metric':{width}s}  {old_name[:12]:>12s}  {new_name[:12]:>12s}  {'tol':>6s}  verdict"
    lines = [head, "-" * len(head)]
    for r in rows:
        if r.verdict == "info" and not show_info:
            continue
        lines.append(f"{r.metric:{width}s}  {f(r.old):>12s}  {f(r.new):>12s}  {f(r.tol):>6s}  {r.verdict}")
    return "\n".join(lines)
