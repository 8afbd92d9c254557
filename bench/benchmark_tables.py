"""Write the benchmark tables (paper Table 3 layout) into BENCHMARKS.md from `--report` files.

    .venv/bin/python bench/benchmark_tables.py NAME=REPORT.json [NAME=REPORT.json ...] --write

Each REPORT.json is the `--report` output of `manage.py benchmark`; NAME labels it. The
command lines are rebuilt from the report (shops, cut-off, encoders, threshold).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from matching.ml.evaluation import format_pct as pct


def section(name: str, report: dict, catalogue: str) -> str:
    shops = report["shops"]
    queries = shops["queries"]
    command = (
        f"python manage.py benchmark {catalogue} --train-shops {','.join(shops['train'])} "
        f"--index-shop {shops['index']} --query-shops {','.join(queries)} "
        f"--cutoff {shops['cutoff']} --embedding-cache var/embedding-cache "
        f"--json {re.sub(r'[^a-z0-9]+', '-', name.lower()).strip('-')}.json --markdown"
    )
    scoring = report.get("scoring") or {}
    if scoring.get("text_weight"):
        command += f" --text-weight {scoring['text_weight']:g}"
    if scoring.get("one_to_one") is False:
        command += " --no-one-to-one"
    if report.get("explicit_configs"):
        command += f" --configs {','.join(report['configs'])}"
    header = "| config | " + " | ".join(
        f"{q} AUCPR | {q} R@1 | {q} R@3 | {q} best F1" for q in queries
    )
    lines = [
        f"### {name}",
        "",
        "```",
        command,
        "```",
        "",
        f"Encoders: image `{report['encoders']['image']}`, text `{report['encoders']['text']}`; "
        f"brand threshold {report['brand_threshold']}; scoring {scoring or 'plain cosine'}; k=3. "
        "Percent; AUCPR and best F1 at k=1.",
        "",
        header + " |",
        "|---" * (1 + 4 * len(queries)) + "|",
    ]
    for config in report["configs"]:
        cells = []
        for q in queries:
            m = report["results"][config][q]
            cells += [pct(m["AUCPR"]), pct(m["R@1"]), pct(m["R@3"]), pct(m["best_F1"])]
        lines.append(f"| {config} | " + " | ".join(cells) + " |")
    first = report["results"][report["configs"][0]]
    lines.append("")
    for q in queries:
        m = first[q]
        lines.append(
            f"- {q}: {m['n_queries']} queries ({m['n_with_match']} with a match) against "
            f"{m['n_index']} index offers; blocking recall {pct(m['blocking_recall'])} %, "
            f"comparisons {pct(m['comparisons_share'])} % of brute force."
        )
    t = report["timings"]
    train = {k[6:]: v for k, v in t.items() if k.startswith("train ")}
    lines.append(
        f"- Time (2 shared CPU cores): import {report.get('import_seconds', 0):.0f} s, "
        f"encode {t['encode']:.0f} s (0 s when the embedding cache is warm), training "
        + ", ".join(f"{k} {v:.0f} s" for k, v in train.items())
        + "; each match run "
        + f"{max((v for k, v in t.items() if k.startswith('match ')), default=0):.1f} s or less."
    )
    for config, info in report.get("models", {}).items():
        m = info["metrics"]
        lines.append(
            f"- {config}: {info['n_train_offers']} training offers, {info['n_train_products']} "
            f"products with >= 2 offers; best epoch {m['best_epoch']}/{m['epochs_run']}, "
            f"val R@1 {pct(m['val_R@1'])}, {m['seconds_per_epoch']:.2f} s/epoch."
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("reports", nargs="+", help="TITLE=path/to/report.json=catalogue[=configs]")
    parser.add_argument("--intro", default="")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    parts = ["## Matching quality (manage.py benchmark)", "", args.intro.strip(), ""]
    for item in args.reports:
        name, path, catalogue, *flags = item.split("=")
        report = json.loads(Path(path).read_text())
        report["explicit_configs"] = "configs" in flags
        parts += [section(name, report, catalogue), ""]
    text = "\n".join(parts)
    print(text)
    if args.write:
        from _sections import write_section  # bench/ is the script's folder: sys.path[0]

        write_section("matching-quality", text)


if __name__ == "__main__":
    main()
