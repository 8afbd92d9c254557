"""Leave-one-shop-out benchmark: for each query shop other than the index shop, train without
that shop entirely and test on it (the paper's claim: a shop the model never saw).

Works on the CURRENT database like :func:`matching.benchmark.run_benchmark` (which it calls
once per held-out shop); the `benchmark --leave-one-shop-out` command runs it in its isolated
child process. The raw image+text baseline (raw text on text-only catalogues) is always
reported next to the trained configs. The run of a held-out shop that is no training shop
trains on all of them; it also queries the query shops that ARE training shops: their
in-domain results come for free (``in_domain``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from matching.benchmark import Log, run_benchmark
from matching.benchmark_configs import DEFAULT, parse_config
from matching.ml.evaluation import format_pct
from matching.models import OfferImage

SUMMARY_KEYS = ("AUCPR", "R@1", "best_F1")


def raw_baseline(*, has_images: bool) -> str:
    return "raw:image+text" if has_images else "raw:text"


def loo_configs(configs: Sequence[str] | None, *, has_images: bool) -> list[str]:
    """``configs`` (default: ``default``) plus the raw baseline, each once."""
    names = list(configs) if configs else [DEFAULT]
    baseline = raw_baseline(has_images=has_images)
    if baseline not in names:
        names.append(baseline)
    return names


def summarise(per_shop: dict[str, dict]) -> dict[str, dict]:
    """``{"mean": {...}, "worst": {...}}`` over the held-out shops (None where unknown)."""
    out: dict[str, dict] = {"mean": {}, "worst": {}}
    for key in SUMMARY_KEYS:
        values = [m[key] for m in per_shop.values() if m.get(key) is not None]
        out["mean"][key] = sum(values) / len(values) if values else None
        out["worst"][key] = min(values) if values else None
    return out


def run_leave_one_shop_out(
    *,
    train_shops: Sequence[str],
    index_shop: str,
    query_shops: Sequence[str],
    cutoff: dt.date,
    configs: Sequence[str] | None = None,
    log: Log = print,
    **kwargs,
) -> dict:
    """One :func:`run_benchmark` per held-out shop (``query_shops`` minus the index shop),
    trained on ``train_shops`` minus that shop. Returns ``{"results": {config: {shop:
    metrics}}, "summary": {config: {"mean", "worst"}}, "runs": {shop: report}, ...}``."""
    held_out = [s for s in query_shops if s != index_shop]
    if not held_out:
        raise ValueError("--leave-one-shop-out needs a query shop other than the index shop")
    names = loo_configs(configs, has_images=OfferImage.objects.exists())
    for name in names:
        parse_config(name)
    results: dict[str, dict[str, dict]] = {name: {} for name in names}
    in_domain: dict[str, dict[str, dict]] = {name: {} for name in names}
    runs: dict[str, dict] = {}
    for shop in held_out:
        train = [s for s in train_shops if s != shop]
        if not train:
            raise ValueError(f"holding out {shop} leaves no training shop")
        extra = [s for s in held_out if s in train_shops] if shop not in train_shops else []
        log(f"leave-one-shop-out: {shop} held out, training on {', '.join(train)}")
        report = run_benchmark(
            train_shops=train,
            index_shop=index_shop,
            query_shops=[shop, *extra],
            cutoff=cutoff,
            configs=names,
            log=log,
            **kwargs,
        )
        runs[shop] = report
        for name in names:
            results[name][shop] = report["results"][name][shop]
            for other in extra:
                in_domain[name][other] = report["results"][name][other]
    first = runs[held_out[0]]
    return {
        "leave_one_shop_out": True,
        "configs": names,
        "held_out": held_out,
        "results": results,
        "summary": {name: summarise(results[name]) for name in names},
        "in_domain": in_domain,
        "runs": runs,
        "shops": {**first["shops"], "train": list(train_shops), "queries": held_out},
        "encoders": first["encoders"],
        "match_config": first["match_config"],
    }


def format_table(report: dict, *, markdown: bool = False) -> str:
    """One row per config: AUCPR / R@1 per held-out shop, then mean and worst (%)."""
    shops = report["held_out"]
    header = ["config"]
    for s in shops:
        header += [f"{s} AUCPR", f"{s} R@1"]
    header += ["mean AUCPR", "worst AUCPR", "mean R@1", "worst R@1"]
    domain = sorted({s for per in report.get("in_domain", {}).values() for s in per})
    header += [f"in-domain {s} AUCPR" for s in domain]
    rows = []
    for name in report["configs"]:
        row = [name]
        for s in shops:
            m = report["results"][name][s]
            row += [format_pct(m["AUCPR"]), format_pct(m["R@1"])]
        summary = report["summary"][name]
        row += [
            format_pct(summary["mean"]["AUCPR"]),
            format_pct(summary["worst"]["AUCPR"]),
            format_pct(summary["mean"]["R@1"]),
            format_pct(summary["worst"]["R@1"]),
        ]
        row += [format_pct(report["in_domain"][name][s]["AUCPR"]) for s in domain]
        rows.append(row)
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    return "\n".join(fmt.format(*r) for r in [header, *rows])


def json_summary(report: dict) -> dict:
    """``{config: {shop: {"R@1", "R@3", "AUCPR", "best_F1"}, "mean": ..., "worst": ...}}``."""
    out = {}
    for name, per_shop in report["results"].items():
        keys = ("R@1", "R@3", "AUCPR", "best_F1")
        out[name] = {s: {k: m.get(k) for k in keys} for s, m in per_shop.items()}
        out[name].update(report["summary"][name])
        for s, m in report.get("in_domain", {}).get(name, {}).items():
            out[name][f"in-domain {s}"] = {k: m.get(k) for k in keys}
    return out
