"""Benchmark: import N prompts with 4 responses of about 300 characters each.

Generates the JSONL file on disk (streamed, never held whole), imports it through the
service code into a fresh database, and prints prompts per second and peak memory.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rlhf make bench
    .venv/bin/python bench/import_prompts.py --prompts 20000

Goal (issue 2): 100,000 prompts (400,000 responses) under 20 s, peak memory under 300 MB,
on the 2-core machine with PostgreSQL.
"""

import argparse
import json
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rlhf_site.settings")
# Measured as in production: DEBUG off (DEBUG keeps every SQL statement in memory).
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECRET_KEY", "benchmark-only-" + "k" * 40)

VOCABULARY = (
    "the model answer explains network congestion window packet loss retransmit timer "
    "gradient descent learning rate batch norm token context length reward policy value"
)
WORDS = VOCABULARY.split()


def write_file(path: Path, n: int, seed: int = 1) -> int:
    rng = random.Random(seed)
    with path.open("w") as out:
        for i in range(n):
            responses = []
            for r in range(4):
                text = " ".join(rng.choices(WORDS, k=45))[:300]
                responses.append({"external_id": f"r{r}", "model": f"model-{r}", "text": text})
            item = {
                "external_id": f"bench-{i}",
                "prompt": f"Question {i}: " + " ".join(rng.choices(WORDS, k=12)),
                "responses": responses,
                "metadata": {"domain": rng.choice(["code", "maths", "advice"])},
            }
            out.write(json.dumps(item) + "\n")
    return path.stat().st_size


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=100_000)
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.utils import timezone

    from labelling.importing import prompts_import
    from labelling.models import NearDuplicateScan, Project, Response
    from labelling.near_duplicates import near_duplicates_scan
    from labelling.services import project_create

    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        db.setdefault("TEST", {})["NAME"] = str(Path(tempfile.gettempdir()) / "rlhf_bench.sqlite3")
    test_db = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "prompts.jsonl"
            size = write_file(path, args.prompts)
            project = project_create(
                name="bench", created_by=None, now=timezone.now(), responses_per_prompt=4
            )
            before_mb = peak_mb()
            start, cpu_start = time.perf_counter(), time.process_time()
            with path.open("rb") as stream:
                result = prompts_import(
                    project=project, stream=stream, actor=None, now=timezone.now()
                )
            seconds = time.perf_counter() - start
            cpu_seconds = time.process_time() - cpu_start
            import_mb = peak_mb()
            assert result.created == args.prompts
            assert Response.objects.filter(prompt__project=project).count() == 4 * args.prompts

            start = time.perf_counter()
            with path.open("rb") as stream:
                again = prompts_import(
                    project=Project.objects.get(pk=project.pk),
                    stream=stream,
                    actor=None,
                    now=timezone.now(),
                )
            reimport_seconds = time.perf_counter() - start
            assert again.unchanged == args.prompts

            # The near-duplicate check the import queued, as the worker runs it.
            scan = NearDuplicateScan.objects.get(project=project)
            start = time.perf_counter()
            near_duplicates_scan(project_id=project.pk)
            scan_seconds = time.perf_counter() - start
            scan.refresh_from_db()
            assert scan.status == "idle" and scan.prompts == args.prompts, scan.error
    finally:
        connection.creation.destroy_test_db(test_db, verbosity=0)

    print(f"database          {connection.vendor}")
    print(
        f"file              {args.prompts:,} prompts, {4 * args.prompts:,} responses, "
        f"{size / 1e6:.1f} MB"
    )
    print(
        f"import            {seconds:.2f} s, {args.prompts / seconds:,.0f} prompts/s "
        f"({cpu_seconds:.2f} s of it on this process's CPU)"
    )
    rate = args.prompts / reimport_seconds
    print(f"re-import (no-op) {reimport_seconds:.2f} s, {rate:,.0f} prompts/s")
    print(f"peak memory       {import_mb:.0f} MB (process; {before_mb:.0f} MB before the import)")
    print(
        f"near-duplicates   {scan_seconds:.2f} s in the background job, "
        f"{scan.pairs_total:,} pairs found, peak memory {peak_mb():.0f} MB"
    )


if __name__ == "__main__":
    main()
