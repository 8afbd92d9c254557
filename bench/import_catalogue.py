"""Import speed and memory: `import_catalogue` into a fresh embedded database per catalogue.

    .venv/bin/python bench/import_catalogue.py ../shared/data/bench/fashion-xshop-dev \
        ../shared/data/bench/walmart-amazon --synthetic-rows 120000

Each catalogue is imported by a child process (`manage.py import_catalogue`) into its own
temporary SQLite database and media folder; the table gives rows, images, wall time, rows/s
and the child's peak resident memory (which stays flat with the row count: rows stream).
`--synthetic-rows N` adds a generated text-only catalogue of N rows (plus one image per 100
rows) to show streaming at 100k+ rows.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from matching.catalogue import COLUMNS  # noqa: E402


def synthetic_catalogue(folder: Path, rows: int) -> Path:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (60, 80), (200, 30, 30)).save(folder / "img.jpg")
    with (folder / "offers.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for i in range(rows):
            writer.writerow(
                [
                    f"o{i}",
                    f"shop{i % 3}",
                    "Brand",
                    f"Product {i} red shirt",
                    f"{10 + i % 90}.95",
                    "EUR",
                    "S|M|L",
                    "Tshirts",
                    "2025-01-01",
                    f"p{i // 3}",
                    "img.jpg" if i % 100 == 0 else "",
                ]
            )
    return folder


def run_import(catalogue: Path) -> dict:
    with tempfile.TemporaryDirectory() as var:
        env = {**os.environ, "FASHIONID_VAR_DIR": var, "SECRET_KEY": "bench", "DEBUG": "0"}
        env.pop("DATABASE_URL", None)
        env.pop("REDIS_URL", None)
        python = str(ROOT / ".venv/bin/python")
        subprocess.run([python, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        started = time.perf_counter()
        done = subprocess.run(
            [
                "/usr/bin/time",
                "-f",
                "peak_rss_kb=%M",
                python,
                "manage.py",
                "import_catalogue",
                str(catalogue),
                "--no-progress",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - started
        peak = int(re.search(r"peak_rss_kb=(\d+)", done.stderr).group(1))
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-500:]
    numbers = dict(
        re.findall(r"(\d+) (imported|rejected|images)", summary)[::1]
        and [(k, int(v)) for v, k in re.findall(r"(\d+) (imported|rejected|images)", summary)]
    )
    rows = int(re.search(r"(\d+) rows", summary).group(1)) if "rows" in summary else 0
    return {
        "catalogue": str(catalogue),
        "rows": rows,
        **numbers,
        "seconds": seconds,
        "rows_per_s": rows / seconds if seconds else 0.0,
        "peak_rss_mb": peak / 1024,
        "summary": summary,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("catalogues", nargs="*", type=Path)
    parser.add_argument("--synthetic-rows", type=int, default=0)
    args = parser.parse_args()
    catalogues = list(args.catalogues)
    with tempfile.TemporaryDirectory() as scratch:
        if args.synthetic_rows:
            catalogues.append(
                synthetic_catalogue(
                    Path(scratch) / f"synthetic-{args.synthetic_rows}", args.synthetic_rows
                )
            )
        print(
            "| catalogue | rows | imported | rejected | images | seconds | rows/s | peak RSS MB |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for catalogue in catalogues:
            r = run_import(catalogue)
            name = catalogue.name
            print(
                f"| {name} | {r['rows']} | {r.get('imported', 0)} | {r.get('rejected', 0)} | "
                f"{r.get('images', 0)} | {r['seconds']:.1f} | {r['rows_per_s']:.0f} | "
                f"{r['peak_rss_mb']:.0f} |",
                flush=True,
            )
    sys.exit(0)


if __name__ == "__main__":
    main()
