"""Benchmark: export a project of 1,000,000 stored pairwise preferences.

Setup (not timed): the agreement benchmark's project builder (bench/agreement.py) in a
PostgreSQL database of its own: N prompts x 4 responses x 3 annotators, 18 preferences a
prompt, so 55,556 prompts give 1,000,008 preferences. Timed, each in a fresh process so
that its peak memory is its own, twice each: the whole export job (count, streaming query,
rows with both sides' ratings, a train and a test file, the dataset card, the zip, sha256,
rename, manifest) as `pairwise` JSONL and Parquet with a test share of 0.1.

    .venv/bin/python bench/export.py                   # 1,000,000 preferences
    .venv/bin/python bench/export.py --prompts 5000
    .venv/bin/python bench/export.py --reuse           # the project of the last run (migrated)

Goal (issues 6 and 14): at least 200,000 rows a second and under 300 MB peak on the 2-core
machine.
"""

import argparse
import multiprocessing
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from agreement import build  # noqa: E402
from annotate import machine_speed, recreate_database, use_settings  # noqa: E402


def _build_in_child(prompts: int) -> int:
    import django

    django.setup()
    from django.db import connection

    project_id = build(prompts)
    # Rows fresh from COPY are slow to read the first time (PostgreSQL sets their hint
    # bits then); a project being exported has labels that have been there a while.
    connection.ensure_connection()
    connection.connection.autocommit = True
    with connection.cursor() as cursor:
        for table in ("labelling_prompt", "labelling_response", "ranking_pairwisepreference"):
            cursor.execute(f"VACUUM (FREEZE, ANALYZE) {table}")
    return project_id


def _existing_project(prompts: int) -> int | None:
    """The benchmark project of an earlier run with this many prompts, migrated to the
    current schema; None if there is none."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import OperationalError

    from labelling.models import Project

    try:
        call_command("migrate", verbosity=0)
    except OperationalError:  # no database yet: this machine has not run the benchmark
        return None
    project = Project.objects.filter(name="bench").first()
    if project is None or project.prompts.count() != prompts:
        return None
    return project.pk


def _export_in_child(project_id: int, file_format: str, out_dir: str) -> tuple:
    import django

    django.setup()
    from django.test.utils import override_settings
    from django.utils import timezone

    from exports.services import export_build, export_create, export_path
    from labelling.models import Project

    project = Project.objects.get(pk=project_id)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with override_settings(EXPORTS_DIR=Path(out_dir)):
        start = time.perf_counter()
        export = export_create(
            project=project,
            user=None,
            format="pairwise",
            file_format=file_format,
            filters={},
            test_fraction=0.1,
            now=timezone.now(),
        )
        export = export_build(export_id=export.pk)
        seconds = time.perf_counter() - start
        size = export_path(export).stat().st_size
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return export.status, export.row_count, seconds, size, peak, before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/rlhf_bench_export"
    )
    parser.add_argument("--prompts", type=int, default=55_556)
    parser.add_argument("--out", default=str(ROOT / "bench" / "out"))
    parser.add_argument(
        "--reuse", action="store_true", help="export the project of an earlier run, if there is one"
    )
    args = parser.parse_args()
    use_settings(args.database_url)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    context = multiprocessing.get_context("spawn")
    start = time.perf_counter()
    project_id = None
    if args.reuse:
        with context.Pool(1) as pool:
            project_id = pool.apply(_existing_project, (args.prompts,))
    if project_id is None:
        recreate_database(args.database_url)
        with context.Pool(1) as pool:
            project_id = pool.apply(_build_in_child, (args.prompts,))
    print(f"setup      {time.perf_counter() - start:.1f} s (not timed)")
    print(machine_speed())
    failed = False
    for file_format in ("jsonl", "parquet", "jsonl", "parquet"):
        with context.Pool(1) as pool:
            status, rows, seconds, size, peak, before = pool.apply(
                _export_in_child, (project_id, file_format, args.out)
            )
        rate = rows / seconds if seconds else 0
        print(
            f"pairwise.{file_format:<8} {rows:,} rows in {seconds:.1f} s = {rate:,.0f} rows/s, "
            f"{size / 1e6:.0f} MB file, peak {peak:.0f} MB ({before:.0f} MB with Django loaded) "
            f"[{status}]"
        )
        failed |= status != "done" or not rows
    print("goal: >= 200,000 rows/s and < 300 MB peak")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
