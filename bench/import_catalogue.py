"""Import speed and memory: `import_catalogue` into a fresh database per catalogue.

    .venv/bin/python bench/import_catalogue.py ../shared/data/bench/walmart-amazon \
        --synthetic-rows 60000 --database-url postgres://postgres@127.0.0.1:55432/postgres
    .venv/bin/python bench/import_catalogue.py ../shared/data/bench/fashion-xshop-dev \
        --limit-rows 1500 --floor --repeats 3 [--database-url ...]

Each catalogue is imported by a child process into its own fresh database (a temporary
SQLite file, or with `--database-url` a new PostgreSQL database `import_bench` on that server)
and a temporary media folder. Columns: rows, images; "import s" is the wall time of the
`import_catalogue` call (reading, checking, images, writing; Django start-up excluded), with
rows/s and images/s from it; "CPU s" is the CPU time of everything the import ran: the import
process, its worker processes (the reader and the image workers, sampled from /proc every
0.1 s) and its PostgreSQL backend; "rows per CPU-s" is rows / that, the speed to expect on an
idle machine with one core (on a shared, loaded one the wall time mostly measures waiting for
a CPU); the child's peak resident memory. `--synthetic-rows N` adds a generated text-only
catalogue of N rows (plus one image per 100 rows); `--limit-rows N` imports a copy of each
catalogue's first N rows and the images they name. `--floor` also times a bare
decode-crop-resize-write loop (PIL, same size, JPEG quality and reduced-scale JPEG decoding
rule as the import) over the same image files, with the page cache warm for both, and gives
the import's images/s as a fraction of the floor's, in wall time ("vs floor") and per
CPU-second ("per CPU": images per CPU-second of the import, all its processes counted, over
the floor's images per CPU-second). The import prepares images in `IMAGE_WORKERS` processes
(2 on a 2-core machine; `--image-workers N` to choose), the floor in as many forked processes
(each a share of the files; `--floor-processes N` to choose): like for like. `--repeats N`
runs the floor and the import N times each, taking turns, and prints the median ratios (on a
shared machine one pair of runs swings by +-30 %); "load" is the 1-minute load average after
each import.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from statistics import median
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]

from matching.catalogue_rows import COLUMNS  # noqa: E402

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


def first_rows(catalogue: Path, rows: int, scratch: Path) -> Path:
    """A copy of the catalogue's first `rows` rows with the images they name."""
    import shutil

    folder = scratch / f"{catalogue.name}-first-{rows}"
    with (catalogue / "offers.csv").open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        kept = [row for _, row in zip(range(rows), reader, strict=False)]
    images = header.index("images") if "images" in header else None
    folder.mkdir(parents=True)
    with (folder / "offers.csv").open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([header, *kept])
    for row in kept:
        for name in (row[images] if images is not None else "").split("|"):
            if name.strip():
                (folder / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(catalogue / name, folder / name)
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


def _floor_loop(files: list[Path], out: str, prefix: str = "") -> None:
    """The floor's work: decode (a JPEG at reduced scale where the crop keeps its detail, as
    the import does), centre-crop, resize, JPEG write."""
    from PIL import Image, ImageOps

    width, height = 254, 367
    for i, path in enumerate(files):
        with Image.open(path) as image:
            scale = max(width / image.width, height / image.height)
            if image.format == "JPEG" and scale < 0.5:  # the import's draft rule (no EXIF turn)
                size = (math.ceil(image.width * scale), math.ceil(image.height * scale))
                image.draft(image.mode, size)
            small = ImageOps.fit(
                image.convert("RGB"), (width, height), method=Image.Resampling.BICUBIC
            )
            small.save(Path(out) / f"{prefix}{i}.jpg", format="JPEG", quality=90)


def floor_images_per_second(files: list[Path], processes: int = 1) -> tuple[float, float]:
    """A bare decode, centre-crop, resize and JPEG write of each file, in `processes` forked
    processes (each a share of the files): images per second of wall time and per CPU-second
    (the CPU of the processes, fork to exit)."""
    from PIL import Image  # noqa: F401  (imported before forking, like the import's workers)

    with tempfile.TemporaryDirectory() as out:
        started, before = time.perf_counter(), os.times()
        if processes == 1:
            _floor_loop(files, out)
        else:
            pids = []
            for k in range(processes):
                pid = os.fork()
                if pid == 0:  # child
                    try:
                        _floor_loop(files[k::processes], out, f"{k}-")
                    finally:
                        os._exit(0)
                pids.append(pid)
            for pid in pids:
                _, status = os.waitpid(pid, 0)
                if status:
                    raise SystemExit(f"a floor process failed ({status})")
        wall, after = time.perf_counter() - started, os.times()
    cpu = sum(after[i] - before[i] for i in range(4))  # own and children's user + system
    return len(files) / wall, len(files) / cpu


def run_import(catalogue: Path, database_url: str | None) -> dict:
    with tempfile.TemporaryDirectory() as var:
        env = {**os.environ, "FASHIONID_VAR_DIR": var, "SECRET_KEY": "bench", "DEBUG": "0"}
        env.pop("DATABASE_URL", None)
        env.pop("REDIS_URL", None)
        if database_url:
            env["DATABASE_URL"] = fresh_postgres(database_url)
        python = str(ROOT / ".venv/bin/python")
        subprocess.run([python, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        done = subprocess.run(
            ["/usr/bin/time", "-f", "peak_rss_kb=%M", python, __file__, "--child", str(catalogue)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        if done.returncode:
            raise SystemExit(done.stderr[-3000:])
        peak = int(re.search(r"peak_rss_kb=(\d+)", done.stderr).group(1))
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {**result, "peak_rss_mb": peak / 1024}


def _server_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) of a PostgreSQL backend on this machine, 0 if unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, TypeError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _Descendants(threading.Thread):
    """CPU seconds of this process's descendants (reader, forkserver, image workers): found
    through /proc/PID/task/TID/children, their /proc stat sampled every 0.1 s, the last value
    seen per process summed (a worker's last 0.1 s before it exits may be missed)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.cpu: dict[int, float] = {}
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(0.1):
            self.sample()

    def sample(self) -> None:
        todo, seen = [os.getpid()], set()
        while todo:
            pid = todo.pop()
            try:
                for task in os.scandir(f"/proc/{pid}/task"):
                    todo += [int(c) for c in Path(task.path, "children").read_text().split()]
            except OSError:
                continue
            if pid != os.getpid():
                seen.add(pid)
        for pid in seen:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            used = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            self.cpu[pid] = max(self.cpu.get(pid, 0.0), used)

    def stop(self) -> float:
        self._done.set()
        self.join()
        return sum(self.cpu.values())


def child(catalogue: Path) -> None:
    """Runs in the child: one import, timed (wall, this process's CPU, the server's CPU)."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fashionid_app.settings")
    django.setup()
    from django.db import connection

    from matching import catalogue_import
    from matching.catalogue_import import import_catalogue

    if os.environ.get("BENCH_IMAGE_WORKERS"):
        catalogue_import.IMAGE_WORKERS = int(os.environ["BENCH_IMAGE_WORKERS"])

    backend = None
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backend = cursor.fetchone()[0]
    descendants = _Descendants()
    descendants.start()
    server0, cpu0, wall0 = _server_cpu(backend), time.process_time(), time.perf_counter()
    batch = import_catalogue(directory=catalogue)
    wall = time.perf_counter() - wall0
    cpu, server = time.process_time() - cpu0, _server_cpu(backend) - server0
    workers = descendants.stop()
    total = cpu + server + workers
    print(
        json.dumps(
            {
                "rows": batch.n_rows,
                "imported": batch.n_imported,
                "rejected": batch.n_rejected,
                "images": batch.n_images,
                "seconds": wall,
                "cpu": cpu,
                "server_cpu": server,
                "workers_cpu": workers,
                "total_cpu": total,
                "rows_per_s": batch.n_rows / wall,
                "rows_per_cpu_s": batch.n_rows / total if total else 0.0,
                "images_per_s": batch.n_images / wall,
                "images_per_cpu_s": batch.n_images / total if total else 0.0,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("catalogues", nargs="*", type=Path)
    parser.add_argument("--synthetic-rows", type=int, default=0)
    parser.add_argument("--database-url", help="PostgreSQL server to use (default: SQLite)")
    parser.add_argument("--floor", action="store_true", help="time the bare image loop too")
    parser.add_argument("--limit-rows", type=int, help="import only each catalogue's first N rows")
    parser.add_argument(
        "--repeats", type=int, default=1, help="floor and import N times each, taking turns"
    )
    parser.add_argument(
        "--image-workers",
        type=int,
        help="image worker processes of the import (default: one per CPU, at most 8)",
    )
    parser.add_argument(
        "--floor-processes",
        type=int,
        help="processes of the floor (default: as many as the import's image workers)",
    )
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    print("$ " + " ".join([".venv/bin/python", "bench/import_catalogue.py", *sys.argv[1:]]))
    if args.image_workers:
        os.environ["BENCH_IMAGE_WORKERS"] = str(args.image_workers)
    workers = args.image_workers or max(1, min(os.cpu_count() or 1, 8))  # IMAGE_WORKERS
    floor_processes = args.floor_processes or workers
    print(
        f"database: {'PostgreSQL' if args.database_url else 'SQLite'}; cpus: {os.cpu_count()}; "
        f"load average: {os.getloadavg()[0]:.1f}; {time.strftime('%H:%M:%S UTC', time.gmtime())}"
        + (f"; image workers {workers}, floor processes {floor_processes}" if args.floor else "")
    )
    with tempfile.TemporaryDirectory() as scratch:
        catalogues = [
            first_rows(c, args.limit_rows, Path(scratch)) if args.limit_rows else c
            for c in args.catalogues
        ]
        if args.synthetic_rows:
            catalogues.append(
                synthetic_catalogue(
                    Path(scratch) / f"synthetic-{args.synthetic_rows}", args.synthetic_rows
                )
            )
        print(
            "| catalogue | rows | imported | rejected | images | import s | CPU s (main + "
            "workers + server) | rows/s | rows per CPU-s | images/s | floor images/s "
            "(per CPU-s) | vs floor | per CPU | peak RSS MB | load |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for catalogue in catalogues:
            files = image_files(catalogue) if args.floor else []
            for path in files:  # the same warm page cache for the floor and the import
                path.read_bytes()
            ratios: list[tuple[float, float]] = []
            for _ in range(args.repeats):  # floor and import take turns
                floor = ratio = per_cpu = ""
                f, f_cpu = (
                    floor_images_per_second(files, floor_processes)
                    if len(files) >= 100
                    else (0.0, 0.0)
                )
                r = run_import(catalogue, args.database_url)
                if f:
                    ratios.append((r["images_per_s"] / f, r["images_per_cpu_s"] / f_cpu))
                    floor = f"{f:.0f} ({f_cpu:.0f})"
                    ratio, per_cpu = f"{ratios[-1][0]:.2f}x", f"{ratios[-1][1]:.2f}x"
                print(
                    f"| {catalogue.name} | {r['rows']} | {r.get('imported', 0)} | "
                    f"{r.get('rejected', 0)} | {r.get('images', 0)} | {r['seconds']:.1f} | "
                    f"{r['total_cpu']:.1f} ({r['cpu']:.1f} + {r['workers_cpu']:.1f} + "
                    f"{r['server_cpu']:.1f}) | {r['rows_per_s']:.0f} | "
                    f"{r['rows_per_cpu_s']:.0f} | {r['images_per_s']:.0f} | {floor} | {ratio} | "
                    f"{per_cpu} | {r['peak_rss_mb']:.0f} | {os.getloadavg()[0]:.1f} |",
                    flush=True,
                )
            if len(ratios) > 1:
                print(
                    f"{catalogue.name}: median vs floor {median(r[0] for r in ratios):.2f}x "
                    f"wall, {median(r[1] for r in ratios):.2f}x per CPU-second "
                    f"({len(ratios)} runs; load average now {os.getloadavg()[0]:.1f})",
                    flush=True,
                )
    sys.exit(0)


if __name__ == "__main__":
    main()
