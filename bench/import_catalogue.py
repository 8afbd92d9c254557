"""Import speed and memory: `import_catalogue` into a fresh database per catalogue.

    .venv/bin/python bench/import_catalogue.py ../shared/data/bench/fashion-xshop-dev \
        ../shared/data/bench/walmart-amazon --synthetic-rows 120000 \
        [--database-url postgres://postgres@127.0.0.1:55432/postgres] [--floor]

Each catalogue is imported by a child process (`manage.py import_catalogue`) into its own
fresh database (a temporary SQLite file, or with `--database-url` a new PostgreSQL database
`import_bench` created next to the one named) and a temporary media folder. The table gives
rows, images, the import's own time (`batch.seconds`: reading, checking, images, writing) and
rows/s and images/s from it, the child's wall time (with Django start-up and the count of
lines) and its peak resident memory. `--synthetic-rows N` adds a generated text-only
catalogue of N rows (plus one image per 100 rows). `--floor` also times a bare
decode-crop-resize-write loop (one process, the same code path as PIL in the import) over
the same image files of each catalogue: images/s of the import is compared with it.
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
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from matching.catalogue import COLUMNS  # noqa: E402

BENCH_DB = "import_bench"


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


def fresh_postgres(url: str) -> str:
    """Drop and create the bench database on the server of `url`; returns its URL."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {BENCH_DB}")
        connection.execute(f"CREATE DATABASE {BENCH_DB}")
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{BENCH_DB}"))


def image_files(catalogue: Path) -> list[Path]:
    files: list[Path] = []
    with (catalogue / "offers.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            files += [catalogue / n for n in (row.get("images") or "").split("|") if n.strip()]
    return list(dict.fromkeys(files))


def floor_images_per_second(files: list[Path]) -> float:
    """A bare decode, centre-crop, resize and JPEG write of each file, one process."""
    from PIL import Image, ImageOps

    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        for i, path in enumerate(files):
            with Image.open(path) as image:
                small = ImageOps.fit(
                    image.convert("RGB"), (254, 367), method=Image.Resampling.BICUBIC
                )
                small.save(Path(out) / f"{i}.jpg", format="JPEG", quality=90)
        return len(files) / (time.perf_counter() - started)


def run_import(catalogue: Path, database_url: str | None) -> dict:
    with tempfile.TemporaryDirectory() as var:
        env = {**os.environ, "FASHIONID_VAR_DIR": var, "SECRET_KEY": "bench", "DEBUG": "0"}
        env.pop("DATABASE_URL", None)
        env.pop("REDIS_URL", None)
        if database_url:
            env["DATABASE_URL"] = fresh_postgres(database_url)
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
        wall = time.perf_counter() - started
        peak = int(re.search(r"peak_rss_kb=(\d+)", done.stderr).group(1))
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-500:]
    numbers = {k: int(v) for v, k in re.findall(r"(\d+) (imported|rejected|images)", summary)}
    rows = int(re.search(r"(\d+) rows", summary).group(1)) if "rows" in summary else 0
    seconds = float(re.search(r"([\d.]+) s \(", summary).group(1)) if " s (" in summary else 0.0
    return {
        "rows": rows,
        **numbers,
        "seconds": seconds,
        "wall": wall,
        "rows_per_s": rows / seconds if seconds else 0.0,
        "images_per_s": numbers.get("images", 0) / seconds if seconds else 0.0,
        "peak_rss_mb": peak / 1024,
        "summary": summary,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("catalogues", nargs="*", type=Path)
    parser.add_argument("--synthetic-rows", type=int, default=0)
    parser.add_argument("--database-url", help="PostgreSQL server to use (default: SQLite)")
    parser.add_argument("--floor", action="store_true", help="time the bare image loop too")
    args = parser.parse_args()
    print("$ " + " ".join([".venv/bin/python", "bench/import_catalogue.py", *sys.argv[1:]]))
    print(f"database: {'PostgreSQL' if args.database_url else 'SQLite'}; cpus: {os.cpu_count()}")
    catalogues = list(args.catalogues)
    with tempfile.TemporaryDirectory() as scratch:
        if args.synthetic_rows:
            catalogues.append(
                synthetic_catalogue(
                    Path(scratch) / f"synthetic-{args.synthetic_rows}", args.synthetic_rows
                )
            )
        print(
            "| catalogue | rows | imported | rejected | images | import s | rows/s | images/s "
            "| floor images/s | vs floor | wall s | peak RSS MB |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for catalogue in catalogues:
            r = run_import(catalogue, args.database_url)
            floor = ""
            ratio = ""
            files = image_files(catalogue) if args.floor else []
            if len(files) >= 100:
                f = floor_images_per_second(files)
                floor, ratio = f"{f:.0f}", f"{r['images_per_s'] / f:.2f}x"
            print(
                f"| {catalogue.name} | {r['rows']} | {r.get('imported', 0)} | "
                f"{r.get('rejected', 0)} | {r.get('images', 0)} | {r['seconds']:.1f} | "
                f"{r['rows_per_s']:.0f} | {r['images_per_s']:.0f} | {floor} | {ratio} | "
                f"{r['wall']:.1f} | {r['peak_rss_mb']:.0f} |",
                flush=True,
            )
            if not r["rows"]:
                print(r["summary"], file=sys.stderr)
    sys.exit(0)


if __name__ == "__main__":
    main()
