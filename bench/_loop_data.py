"""Data of bench/loop_scenario.py: the catalogue without the query shop's test-period product
ids (kept in a truth file), and reading product exports."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

QUERY_SHOP, CUTOFF = "abt", "2021-01-01"


def test_period_query_offer(row: dict) -> bool:
    return row["shop"] == QUERY_SHOP and (row.get("created_at") or "") >= CUTOFF


def make_catalogue(
    *,
    data_dir: Path,
    out_dir: Path,
    truth_path: Path,
    hide: Callable[[dict], bool] = test_period_query_offer,
) -> tuple[int, int]:
    """Copy offers.csv with the product ids of the rows ``hide`` picks (default: the test-period
    query-shop offers) emptied; write those ids to the truth file."""
    out_dir.mkdir(parents=True, exist_ok=True)
    src = data_dir / "offers.csv"
    with src.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        fields = list(reader.fieldnames or [])
        rows = list(reader)
    truth = []
    for row in rows:
        if hide(row):
            truth.append((row["offer_id"], row["shop"], row["product_id"]))
            row["product_id"] = ""
    with (out_dir / "offers.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    for extra in data_dir.iterdir():  # images folder etc., if any
        if extra.name != "offers.csv" and not (out_dir / extra.name).exists():
            (out_dir / extra.name).symlink_to(extra.resolve())
    with truth_path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["offer_id", "shop", "product_id"])
        w.writerows(truth)
    return len(rows), len(truth)


def read_truth(path: Path) -> dict[tuple[str, str], str]:
    """(shop, offer_id) -> product_id of a truth file."""
    with path.open(newline="", encoding="utf-8") as f:
        return {(row["shop"], row["offer_id"]): row["product_id"] for row in csv.DictReader(f)}


def read_export(path: Path) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def export_checks(rows: list[dict]) -> tuple[dict, int]:
    """(offer -> key, number of offers listed more than once)."""
    keys: dict = {}
    dup = 0
    for r in rows:
        k = (r["shop"], r["offer_id"])
        if k in keys:
            dup += 1
        keys[k] = r["product_key"]
    return keys, dup
