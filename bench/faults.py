"""Fault test: kill the worker in the middle of an export, then of a scoring run, and
check what is left.

Against a PostgreSQL database of its own: a project of N prompts x 3 annotators (18
stored preferences a prompt), a real django-q2 worker (`manage.py qcluster`) with a short
task timeout and retry, and an export of every preference as JSONL. When the export has
written its first rows, the worker is killed (SIGKILL, the whole process group). Then:
  - the export is not "done" and no file is served under its final name;
  - a new worker, once django-q2 hands the task out again, builds it completely: every
    row, the sha256 of the file on disk, no temporary file left behind.
Then the project's responses are scored by the tiny reward model of the tests (built
here, offline), and the worker is killed when the first batches are stored:
  - the run is not "done", and the scores stored so far are kept;
  - a new worker resumes it: every response ends with exactly one score, and those the
    killed run stored are not scored again.
Exits non-zero if any of that fails.

    .venv/bin/python bench/faults.py
    .venv/bin/python bench/faults.py --prompts 10000
"""

import argparse
import hashlib
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from annotate import recreate_database, use_settings  # noqa: E402

TIMEOUT, RETRY = 20, 25  # the worker's task timeout and re-delivery, in seconds
SCORING_SECONDS = TIMEOUT - 2  # a scoring run stops itself before the worker's timeout


def _build_in_child(prompts: int) -> int:
    import django

    django.setup()
    from agreement import build

    return build(prompts)


def worker(env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "qcluster"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, killed as a whole
    )


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to the cluster's own process (it stops its workers itself; signalling the
    whole group at once can leave it waiting for children already gone), then SIGKILL."""
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def wait_for(check, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    sys.exit(f"FAILED: {what} within {seconds:.0f} s")


def finished_by_new_worker(env: dict, model, pk: int, seconds: float, what: str):
    """Start a new worker and wait until the job row `pk` of `model` is done or failed
    (django-q2 hands the killed task out again after its retry)."""
    second = worker(env)
    try:
        return wait_for(
            lambda: model.objects.filter(pk=pk, status__in=["done", "failed"]).first(),
            seconds,
            f"a new worker to finish {what}",
        )
    finally:
        stop(second)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/rlhf_bench_faults"
    )
    parser.add_argument("--prompts", type=int, default=20_000)
    parser.add_argument("--score-prompts", type=int, default=3_000, help="x 4 responses")
    args = parser.parse_args()
    exports_dir = Path(tempfile.mkdtemp(prefix="faults-exports-"))
    use_settings(
        args.database_url,
        EXPORTS_DIR=str(exports_dir),
        Q_TIMEOUT=str(TIMEOUT),
        Q_RETRY=str(RETRY),
        Q_WORKERS="1",
        SCORING_MAX_SECONDS=str(SCORING_SECONDS),
        HF_HUB_OFFLINE="1",  # the reward model is a local folder; nothing is fetched
    )
    env = dict(os.environ)
    recreate_database(args.database_url)
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        project_id = pool.apply(_build_in_child, (args.prompts,))
    import django

    django.setup()
    from django.utils import timezone

    from exports.models import Export
    from exports.services import export_create, export_enqueue
    from labelling.models import PairwisePreference, Project

    project = Project.objects.get(pk=project_id)
    total = PairwisePreference.objects.filter(project=project).count()
    first = worker(env)
    export = export_create(
        project=project,
        user=None,
        format="pairwise",
        file_format="jsonl",
        filters={},
        test_fraction=0,
        now=timezone.now(),
    )
    export_enqueue(export)  # no transaction open: the task goes out at once
    started = time.monotonic()
    wait_for(
        lambda: Export.objects.filter(pk=export.pk, progress_done__gt=0).exists(),
        60,
        "the export to start writing",
    )
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    export.refresh_from_db()
    seconds = time.monotonic() - started
    done, total_rows = export.progress_done, export.progress_total
    print(f"killed the worker after {seconds:.1f} s, at {done:,} of {total_rows:,} rows")
    print(f"the export is now {export.status!r}")
    final = exports_dir / export.filename
    failures = []
    if export.status == "done":
        failures.append("the export finished before the kill; use more --prompts")
    if final.exists():
        failures.append("a file is under the final name of an unfinished export")

    export = finished_by_new_worker(env, Export, export.pk, RETRY + TIMEOUT + 90, "the export")
    seconds = time.monotonic() - started
    print(f"a new worker ended it {seconds:.1f} s after it was queued: {export.status}")
    if export.status != "done":
        failures.append(f"the export ended {export.status}: {export.error}")
    else:
        body = final.read_bytes()
        if export.row_count != total or body.count(b"\n") != total:
            failures.append(f"{export.row_count} rows written, {total} expected")
        if hashlib.sha256(body).hexdigest() != export.sha256:
            failures.append("the file on disk does not match its sha256")
    leftovers = [p.name for p in exports_dir.iterdir() if p.name.endswith(".part")]
    if leftovers:
        failures.append(f"temporary files left behind: {leftovers}")
    failures += scoring_killed(env, args.score_prompts)
    for failure in failures:
        print(f"FAILED: {failure}")
    print("all checks held" if not failures else f"{len(failures)} check(s) failed")
    sys.exit(1 if failures else 0)


def scoring_killed(env: dict, prompts: int) -> list[str]:
    """Kill the worker in the middle of a scoring run; a new one must finish it without
    scoring anything twice. Returns the failures."""
    from django.utils import timezone
    from score import build

    from labelling.models import Response, ResponseScore, ScoringJob
    from labelling.scoring import scoring_request
    from tests.reward_model import build_tiny_reward_model

    folder = build_tiny_reward_model(Path(tempfile.mkdtemp(prefix="faults-model-")) / "rm")
    # Small enough for the retried task to finish within the short task timeout.
    project = build(prompts, now=timezone.now())
    from labelling.models import RegisteredRewardModel

    RegisteredRewardModel.objects.get_or_create(name=str(folder), source=str(folder))
    project.reward_model = str(folder)
    project.save(update_fields=["reward_model"])
    responses = Response.objects.filter(prompt__project=project).count()
    scores = ResponseScore.objects.filter(response__prompt__project=project)
    first = worker(env)
    job = scoring_request(project=project, user=None, now=timezone.now())
    started = time.monotonic()
    wait_for(lambda: scores.exists(), 90, "the scoring run to store its first scores")
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    job.refresh_from_db()
    kept = dict(scores.values_list("response_id", "created_at"))
    print(
        f"killed the worker {time.monotonic() - started:.1f} s into scoring, with"
        f" {len(kept):,} of {responses:,} responses scored; the run is now {job.status!r}"
    )
    failures = []
    if job.status == ScoringJob.Status.DONE or len(kept) == responses:
        failures.append("the scoring run finished before the kill; use more --prompts")
    job = finished_by_new_worker(env, ScoringJob, job.pk, RETRY + TIMEOUT + 180, "the run")
    print(
        f"a new worker ended it {time.monotonic() - started:.1f} s after it was queued:"
        f" {job.status}, {job.progress_done:,} of {job.progress_total:,} in its last try"
    )
    if job.status != ScoringJob.Status.DONE:
        failures.append(f"the scoring run ended {job.status}: {job.error}")
    after = dict(scores.values_list("response_id", "created_at"))
    if len(after) != responses or scores.count() != responses:
        failures.append(f"{scores.count()} scores for {responses} responses")
    redone = [pk for pk, stamp in kept.items() if after.get(pk) != stamp]
    if redone:
        failures.append(f"{len(redone)} responses the killed run had scored were scored again")
    if job.progress_done != job.progress_total:
        failures.append(f"progress ended at {job.progress_done} of {job.progress_total}")
    return failures


if __name__ == "__main__":
    main()
