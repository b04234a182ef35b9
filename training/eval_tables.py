"""Markdown tables of the evaluation metrics added for issue 9 (model card and metrics.md).

Pure formatting of ``metrics.json`` contents, no imports from the rest of ``training`` (the
model card writer, :func:`training.export._metrics_md`, calls these; keeping them here keeps
export free of the evaluation modules and the import graph without circles).
"""

from __future__ import annotations

LODO_HEADS = ("abnormal", "murmur", "crackle", "wheeze")  # the heads the LODO scorecard reports


def _f(v) -> str:
    return "-" if v is None else f"{v:.3f}"


def card_table(m: dict) -> list[str]:
    """Per task: answer-vs-card agreement and clinical accuracy, raw model and shown answer."""
    ag, gr = m.get("card_agreement") or {}, m.get("grounded") or {}
    ca = m.get("clinical_accuracy") or {}
    if not ag:
        return []
    gag, gca = gr.get("card_agreement") or {}, gr.get("clinical_accuracy") or {}
    lines = ["Answer-vs-card agreement (the answer names no finding against the findings card, no lung "
             "sound in a heart answer or the reverse, no event the card does not call; "
             "`stethodesk.model.grounding.verify`) and clinical accuracy (checker vs the labels), for the "
             "model's raw answer and for the answer the app shows after its run-time check:", "",
             "| task | N | agreement, raw | agreement, shown | accuracy, raw | accuracy, shown |",
             "|---|---|---|---|---|---|"]
    for t in sorted(ag):
        lines.append(f"| {t} | {ag[t].get('n')} | {_f(ag[t].get('rate'))} | {_f(gag.get(t, {}).get('rate'))} | "
                     f"{_f(ca.get(t, {}).get('acc'))} | {_f(gca.get(t, {}).get('acc'))} |")
    o, go = m.get("card_agreement_overall") or {}, gr.get("card_agreement_overall") or {}
    lines.append(f"| **all** | {o.get('n')} | {_f(o.get('rate'))} | {_f(go.get('rate'))} | "
                 f"{_f((m.get('clinical_accuracy_overall') or {}).get('acc'))} | "
                 f"{_f((gr.get('clinical_accuracy_overall') or {}).get('acc'))} |")
    st = m.get("stated") or {}
    if st.get("clinical_accuracy"):
        sc, ssc = st["clinical_accuracy"], st.get("shown_clinical_accuracy") or {}
        lines += ["", "Clinical accuracy on the label facts the findings card states (what an answer that keeps "
                  "to its card can say; examples whose card states none left out; the gated figure):", "",
                  "| task | N | accuracy, raw | accuracy, shown |", "|---|---|---|---|"]
        for t in sorted(sc):
            lines.append(f"| {t} | {sc[t].get('n')} | {_f(sc[t].get('acc'))} | {_f(ssc.get(t, {}).get('acc'))} |")
        so, sso = st.get("clinical_accuracy_overall") or {}, st.get("shown_clinical_accuracy_overall") or {}
        lines.append(f"| **all** | {so.get('n')} | {_f(so.get('acc'))} | {_f(sso.get('acc'))} |")
    viol = m.get("card_violations") or {}
    if viol:
        lines += ["", "Raw answers with each kind of violation: " + ", ".join(
            f"{k.replace('_', ' ')} {v.get('answers')}/{v.get('n')}" for k, v in viol.items()) + "."]
    src = gr.get("sources") or {}
    if src:
        tot: dict[str, int] = {}
        for c in src.values():
            for k, v in c.items():
                tot[k] = tot.get(k, 0) + v
        lines.append("Shown answers by source (model: as generated; template: the card's wording; "
                     "model+findings: model sentences, then the card's): "
                     + ", ".join(f"{k} {v}" for k, v in sorted(tot.items())) + ".")
    return lines + [""]


def by_dataset_table(m: dict, heads=LODO_HEADS) -> list[str]:
    """AUROC of the main heads per source dataset (``findings_by_dataset``)."""
    bd = m.get("findings_by_dataset") or {}
    if not bd:
        return []
    lines = ["Findings AUROC per test dataset (N recordings with the label; '-': no label or one class):", "",
             "| dataset | " + " | ".join(heads) + " |", "|---" * (len(heads) + 1) + "|"]
    for ds, f in sorted(bd.items()):
        cells = [f"{_f(f[h].get('auroc'))} (N {f[h].get('n')})" if h in f else "-" for h in heads]
        lines.append(f"| {ds} | " + " | ".join(cells) + " |")
    return lines + [""]


def lodo_table(lodo: dict | None) -> list[str]:
    """The leave-one-dataset-out table: held-out AUROC per dataset and head, in-domain beside it."""
    if not lodo or not lodo.get("folds"):
        return []
    heads = tuple(lodo.get("heads") or LODO_HEADS)
    lines = [f"Leave-one-dataset-out (encoder trained on the other datasets' training splits, "
             f"{lodo.get('minutes_per_fold', '?')} min per fold; tested on the held-out dataset's test split). "
             "Cells: AUROC held out / in-domain (the full model on the same recordings):", "",
             "| held-out dataset | test N | " + " | ".join(heads) + " |", "|---" * (len(heads) + 2) + "|"]
    for ds, fold in sorted(lodo["folds"].items()):
        ho, ind = fold.get("held_out") or {}, fold.get("in_domain") or {}
        cells = [f"{_f(ho[h].get('auroc'))} / {_f((ind.get(h) or {}).get('auroc'))}" if h in ho else "-"
                 for h in heads]
        lines.append(f"| {ds} | {fold.get('test_records', '-')} | " + " | ".join(cells) + " |")
    summ = lodo.get("summary") or {}
    if summ:
        lines.append("| **mean** | | " + " | ".join(
            f"{_f((summ.get(h) or {}).get('held_out'))} / {_f((summ.get(h) or {}).get('in_domain'))}"
            if h in summ else "-" for h in heads) + " |")
    return lines + [""]


def previous_table(m: dict) -> list[str]:
    """The gated metrics of this bundle beside the previous default's (``previous_bundle``,
    written by ``python -m training.gate --promote``)."""
    prev = m.get("previous_bundle") or {}
    rows = prev.get("rows") or []
    if not rows:
        return []
    lines = [f"Compared with the previous default bundle `{prev.get('name')}` (regression gate, "
             f"{prev.get('rule', '')}):", "",
             "| metric | previous | this bundle | tolerance | verdict |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['metric']} | {_f(r.get('old'))} | {_f(r.get('new'))} | {_f(r.get('tol'))} | "
                     f"{r.get('verdict')} |")
    return lines + [""]
