"""Plain-text rendering of a quality report (for commands and BENCHMARKS.md)."""

from __future__ import annotations

import math


def format_number(value, digits: int = 3, *, infinity: str = "∞") -> str:
    """A number with `digits` decimals; "–" for None, NaN or non-numbers; ±`infinity` for inf.

    The one float formatter of the validation app (text reports and the `num` template filter).
    """
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "–"
    if math.isnan(v):
        return "–"
    if math.isinf(v):
        return infinity if v > 0 else "-" + infinity
    return f"{v:.{int(digits)}f}"


def _f(x, d: int = 3) -> str:
    return format_number(x, d, infinity="inf")


TRUTH_SOURCES = {
    "catalogue": "catalogue product ids at routing time",
    "file": "a truth file (simulate_validators --truth)",
}


def truth_source_text(sources: dict[str, int]) -> str:
    """Where the rows' ground truth comes from, e.g. "a truth file (...) (40 rows)"."""
    return "; ".join(f"{TRUTH_SOURCES.get(k, k)} ({n} rows)" for k, n in sorted(sources.items()))


def quality_text(q: dict) -> str:
    lines = [
        f"rows with ground truth: {q['rows']['with_truth']} "
        f"(decided {q['rows']['decided_with_truth']}, gold decided {q['rows']['gold_decided']})",
        *(
            [f"ground truth from: {truth_source_text(q['truth_sources'])}"]
            if q.get("truth_sources")
            else []
        ),
        "",
        "| | n | TP | FN | FP | TN | TPR | FNR | TNR | FPR | LR+ |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for label, key in (
        ("aggregated, gold rows", "aggregated_gold"),
        ("aggregated, all rows with truth", "aggregated"),
        ("single judgements", "judgements"),
    ):
        r = q[key]
        s = r["std"]
        lines.append(
            f"| {label} | {r['n']} | {r['tp']} | {r['fn']} | {r['fp']} | {r['tn']} | "
            f"{_f(r['tpr'])}±{_f(s['tpr'])} | {_f(r['fnr'])}±{_f(s['fnr'])} | "
            f"{_f(r['tnr'])}±{_f(s['tnr'])} | {_f(r['fpr'])}±{_f(s['fpr'])} | "
            f"{_f(r['lr_plus'], 1)}±{_f(s['lr_plus'], 1)} |"
        )
    lines += [
        "",
        f"agreement: {_f(q['agreement_alpha'])} ({q['agreement_measure']}; "
        f"{q['agreement_rows']} rows)",
        f"judgements per decided row: {_f(q['votes_per_decided_row'], 2)}",
        f"P_model (review band): {_f(q['p_model'])} ({q['p_model_source']})",
        f"predicted P_hitl: {_f(q['predicted_precision'])} ± {_f(q['predicted_std'])} "
        f"(LR+ from {q['lr_plus_source']})",
        f"observed precision: {_f(q['observed_precision'])} ± {_f(q['observed_std'])} "
        f"({q['n_accepted_with_truth']} human-accepted rows with ground truth)",
        f"agree within 2 sigma: {q['agree_within_2sd']}",
    ]
    return "\n".join(lines)


def replay_text(results: list[dict]) -> str:
    """Markdown table of an aggregation replay (validation/replay.py)."""
    lines = [
        "| rule | rows | decided | undecided | judgements/row | with truth | TP | FN | FP | TN "
        "| TPR | FPR | LR+ | precision (accepted) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        lines.append(
            f"| {r['label']} | {r['n_rows']} | {r['decided']} | {r['undecided']} | "
            f"{_f(r['votes_per_row'], 2)} | {r['n_truth']} | {r['tp']} | {r['fn']} | {r['fp']} | "
            f"{r['tn']} | {_f(r['tpr'])} | {_f(r['fpr'])} | {_f(r['lr_plus'], 1)} | "
            f"{_f(r['precision'])} ({r['n_accepted']}) |"
        )
    return "\n".join(lines)
