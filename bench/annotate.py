"""Benchmark: annotators doing next -> submit against gunicorn and PostgreSQL on loopback.

Builds a dedicated database, serves the site with gunicorn, then
  1. one annotator, sequentially: latency of `next` and `submit`;
  2. N annotators at once (threads, one connection each) for a fixed time:
     cycles per second and latency;
and finally checks the queue's invariants in the database against what clients saw.
With --restart-postgres, the PostgreSQL server is restarted during step 2 (issue 8):
clients get 503 for that moment and send the same call again; the run then checks that
the service recovered by itself and that every submission a client was told was stored
is in the database, once.

    .venv/bin/python bench/annotate.py                      # 16 annotators, 20 s
    .venv/bin/python bench/annotate.py --annotators 32 --seconds 60 --restart-postgres 20

Goal (issue 3) on the 2-core machine: sequential next p95 < 15 ms and submit p95 < 25 ms;
with 16 concurrent annotators >= 150 cycles/s and p95 < 150 ms, no invariant broken.
"""

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PASSWORD = "bench-password-not-secret"
CRITERIA = [
    {"key": "helpfulness", "label": "Helpfulness", "scale": [1, 7]},
    {"key": "honesty", "label": "Honesty", "scale": [1, 7]},
]


def cpu_seconds(*, parent: int | None = None, name: str | None = None) -> float:
    """CPU time (user + system) used so far by the children of `parent`, or by every
    process called `name`, from /proc: what the machine spent, whatever its speed today."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # the process ended
        comm, fields = (
            stat[stat.index("(") + 1 : stat.rindex(")")],
            stat[stat.rindex(")") + 2 :].split(),
        )
        if (parent is not None and int(fields[1]) == parent) or comm == name:
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def _additions(_: int = 0) -> float:
    start = time.perf_counter()
    total = 0
    for i in range(10_000_000):
        total += i
    return time.perf_counter() - start


def machine_speed() -> str:
    """This shared machine's speed changes by up to a factor of two within an hour, and
    its two cores not always together; a fixed loop of pure Python, timed alone and then
    on both cores at once before the run, says which kind of hour it was."""
    import multiprocessing

    alone = _additions()
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        both = pool.map(_additions, [0, 1])
    return (
        f"machine speed: 10 million additions in {alone:.2f} s alone,"
        f" {max(both):.2f} s with both cores at it"
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def use_settings(database_url: str, **extra: str) -> None:
    """Point this process, and every process it starts, at a production-like settings
    module over the benchmark's own database."""
    os.environ.update(
        DATABASE_URL=database_url,
        DEBUG="false",
        SECRET_KEY="benchmark-only-" + "k" * 40,
        DJANGO_SETTINGS_MODULE="rlhf_site.settings",
        **extra,
    )


def recreate_database(url: str) -> None:
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    if "bench" not in name:
        sys.exit(f"refusing to drop {name!r}: the benchmark's database name must contain 'bench'")
    admin = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def prepare(prompts: int, annotators: int, k: int) -> tuple[int, dict[str, str]]:
    """Migrate, import prompts, create annotators; returns the project id and tokens."""
    import io

    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.utils import timezone

    from labelling.guidelines import guideline_acknowledge
    from labelling.importing import prompts_import
    from labelling.models import ApiToken
    from labelling.services import membership_set, project_create

    call_command("migrate", verbosity=0)
    now = timezone.now()
    project = project_create(
        name="bench",
        created_by=None,
        now=now,
        responses_per_prompt=4,
        annotations_per_prompt=k,
        criteria=CRITERIA,
    )
    lines = []
    for i in range(prompts):
        responses = [
            {"external_id": f"r{r}", "model": f"model-{r}", "text": f"Answer {r} " + "x" * 300}
            for r in range(4)
        ]
        lines.append(
            json.dumps({"external_id": f"p{i}", "prompt": f"Question {i}?", "responses": responses})
        )
    data = ("\n".join(lines) + "\n").encode()
    prompts_import(project=project, stream=io.BytesIO(data), actor=None, now=now)
    tokens = {}
    User = get_user_model()
    for n in range(annotators + 1):
        user = User.objects.create_user(f"bench{n:03d}", password=PASSWORD)
        membership_set(project=project, user=user, role="annotator", actor=None, now=now)
        # as every annotator must before their first item
        guideline_acknowledge(project=project, user=user, version=1, now=now)
        tokens[user.username] = ApiToken.objects.create(user=user)[1]
    return project.pk, tokens


class Client:
    def __init__(self, port: int, token: str) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}

    def post(self, path: str, body: dict | None = None) -> tuple[int, dict | None, float]:
        """(status, body, seconds); status 0 when the connection broke (it is reopened)."""
        start = time.perf_counter()
        try:
            self.connection.request("POST", path, body=json.dumps(body or {}), headers=self.headers)
            response = self.connection.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException) as broken:
            self.connection.close()
            return 0, {"detail": repr(broken)}, time.perf_counter() - start
        elapsed = time.perf_counter() - start
        return response.status, (json.loads(raw) if raw else None), elapsed


# While the database is away the service answers 503 (core/api_errors.py); a client
# sends the same call again (a page says so to a person). Every call here is safe to
# repeat: `next` returns the lease already held, a submission sent again returns the
# stored one.
OUTAGE = (0, 503)
PATIENCE = 60.0  # seconds a client keeps repeating one call before it counts as failed


def call(client: Client, path: str, body: dict | None, stats: dict, what: str):
    give_up = time.perf_counter() + PATIENCE
    while True:
        status, answer, seconds = client.post(path, body)
        if status not in OUTAGE or time.perf_counter() > give_up:
            return status, answer, seconds
        stats["outage"].append((what, status, time.perf_counter()))
        time.sleep(0.1)


def cycle(client: Client, project_id: int, stats: dict) -> bool:
    """One next -> submit. False when nothing is left."""
    status, body, seconds = call(client, f"/api/projects/{project_id}/next/", None, stats, "next")
    if status == 204:
        return False
    if status != 200:
        stats["errors"].append(("next", status, body))
        return True
    stats["next"].append(seconds)
    ids = [r["id"] for r in body["responses"]]
    submission = {
        "ranking": [[i] for i in ids],
        "ratings": {str(i): {"helpfulness": 4, "honesty": 5} for i in ids},
    }
    path = f"/api/assignments/{body['assignment_id']}/submit/"
    status, answer, seconds = call(client, path, submission, stats, "submit")
    # 200: the same submission again, after an outage answered the first try (which the
    # database may or may not have committed): stored either way, and stored once.
    if status in (200, 201):
        stats["submit"].append(seconds)
        stats["created"].append(answer["id"])
        stats["stored_at"].append(time.perf_counter())
        stats["repeated"] += status == 200
    else:
        stats["errors"].append(("submit", status, answer))
    return True


def restart_postgres(after: float, log: dict) -> None:
    """Restart the PostgreSQL server `after` seconds into the run (as root, the way the
    machine's own service scripts do), and note when it went down and came back."""
    time.sleep(after)
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    command = shutil.which("pg_ctlcluster") or sys.exit("--restart-postgres needs pg_ctlcluster")
    log["down"] = time.perf_counter()
    subprocess.run(
        [command, "--skip-systemctl-redirect", version, "main", "restart"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    log["up"] = time.perf_counter()


def percentiles(values: list[float]) -> str:
    if not values:
        return "no samples"
    ordered = sorted(values)

    def at(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000

    return (
        f"p50 {at(0.50):6.1f} ms  p95 {at(0.95):6.1f} ms  p99 {at(0.99):6.1f} ms  (n={len(values)})"
    )


def new_stats() -> dict:
    return {
        "next": [], "submit": [], "created": [], "errors": [], "outage": [], "stored_at": [],
        "repeated": 0,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/rlhf_bench_annotate"
    )
    parser.add_argument("--prompts", type=int, default=5000)
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--annotators", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--sequential", type=int, default=300, help="sequential cycles")
    parser.add_argument(
        "--restart-postgres",
        type=float,
        default=0,
        metavar="SECONDS",
        help="restart the PostgreSQL server this long into the concurrent run (needs root)",
    )
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--worker-class", default="sync", help="gunicorn worker class")
    parser.add_argument("--threads", type=int, default=1, help="threads per gunicorn worker")
    args = parser.parse_args()

    use_settings(
        args.database_url,
        SECURE_SSL_REDIRECT="false",
        SESSION_COOKIE_SECURE="false",
        CSRF_COOKIE_SECURE="false",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        LOG_LEVEL="WARNING",
    )
    env = dict(os.environ)
    print(machine_speed())
    recreate_database(args.database_url)
    project_id, tokens = prepare(args.prompts, args.annotators, args.k)
    port = free_port()
    server_log = tempfile.NamedTemporaryFile(prefix="annotate-server-", suffix=".log")  # noqa: SIM115
    server = subprocess.Popen(
        [
            sys.executable, "-m", "gunicorn", "rlhf_site.wsgi",
            "--bind", f"127.0.0.1:{port}", "--workers", str(args.workers),
            "--worker-class", args.worker_class, "--threads", str(args.threads),
            "--keep-alive", "30", "--log-level", "warning",
        ],
        cwd=ROOT,
        env=env,
        # The service's own log (a 503 for each call that met the restart, say) goes to
        # a file, not between the figures; its last lines are shown if the run fails.
        stderr=server_log,
    )  # fmt: skip
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        names = sorted(tokens)
        warm, warmed = Client(port, tokens[names[-1]]), new_stats()
        for _ in range(20):
            cycle(warm, project_id, warmed)

        sequential = new_stats()
        one = Client(port, tokens[names[0]])
        for _ in range(args.sequential):
            if not cycle(one, project_id, sequential):
                break
        print(f"sequential, 1 annotator, {len(sequential['submit'])} cycles")
        print(f"  next    {percentiles(sequential['next'])}")
        print(f"  submit  {percentiles(sequential['submit'])}")

        concurrent = new_stats()
        lock = threading.Lock()
        deadline = time.perf_counter() + args.seconds

        def annotator(token: str) -> None:
            client, mine = Client(port, token), new_stats()
            while time.perf_counter() < deadline and cycle(client, project_id, mine):
                pass
            with lock:
                for key in concurrent:
                    concurrent[key] += mine[key]

        threads = [
            threading.Thread(target=annotator, args=(tokens[name],))
            for name in names[1 : args.annotators + 1]
        ]
        restart: dict = {}
        if args.restart_postgres:
            threads.append(
                threading.Thread(target=restart_postgres, args=(args.restart_postgres, restart))
            )
        started = time.perf_counter()
        cpu_before = cpu_seconds(parent=server.pid), cpu_seconds(name="postgres")
        client_before = time.process_time()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        web = cpu_seconds(parent=server.pid) - cpu_before[0]
        database = cpu_seconds(name="postgres") - cpu_before[1]
        client = time.process_time() - client_before
        cycles = len(concurrent["submit"])
        print(f"concurrent, {args.annotators} annotators, {elapsed:.1f} s")
        print(f"  cycles  {cycles} ({cycles / elapsed:.0f} per second)")
        print(f"  next    {percentiles(concurrent['next'])}")
        print(f"  submit  {percentiles(concurrent['submit'])}")
        if cycles and not restart:  # a restart replaces PostgreSQL's processes mid-count
            per = 1000 / cycles
            print(
                f"  CPU per cycle: web {web * per:.1f} ms, PostgreSQL {database * per:.1f} ms,"
                f" this client {client * per:.1f} ms"
                f" (of {os.cpu_count() * 1000 / (cycles / elapsed):.1f} ms"
                f" that {os.cpu_count()} cores give each cycle at this rate)"
            )
        errors = sequential["errors"] + concurrent["errors"]
        print(f"  errors  {len(errors)} {errors[:3] if errors else ''}")
        created = warmed["created"] + sequential["created"] + concurrent["created"]
        outage = sequential["outage"] + concurrent["outage"]
        if restart or outage:
            errors += outage_report(outage, restart, concurrent, started)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)

    check_invariants(project_id, created, args.k)
    # A run in which requests failed, or nothing was labelled, measured nothing.
    if errors or not concurrent["submit"] or (args.sequential and not sequential["submit"]):
        server_log.seek(0)
        print("the service's log ends:", *server_log.read().decode().splitlines()[-20:], sep="\n")
        sys.exit("FAILED: requests failed or no cycle completed; the figures above mean nothing")


def outage_report(outage: list, restart: dict, stats: dict, started: float) -> list:
    """What clients saw of a PostgreSQL restart; the problems, if any."""
    if not restart:
        return [("outage without a restart", len(outage), outage[:3])]
    if "up" not in restart:
        return [("PostgreSQL did not come back from its restart", len(outage))]
    down, up = restart["down"] - started, restart["up"] - started
    print(f"  PostgreSQL restarted: down at {down:.1f} s, back at {up:.1f} s")
    answers = [moment - started for _what, _status, moment in outage]
    if answers:
        print(
            f"  {len(answers)} answers of 503 or a broken connection, from {min(answers):.1f} s"
            f" to {max(answers):.1f} s; each call was sent again until it passed"
        )
    after = [moment - started for moment in stats["stored_at"] if moment - started > up + 1]
    print(
        f"  {len(after)} submissions stored after the restart without restarting the"
        f" service; {stats['repeated']} answered 200 (sent again, stored once)"
    )
    problems = []
    if answers and max(answers) > up + 10:
        problems.append(("still failing 10 s after PostgreSQL was back", max(answers)))
    if not after:
        problems.append(("no submission stored after the restart", up))
    return problems


def check_invariants(project_id: int, created: list[int], k: int) -> None:
    from django.db import connection
    from django.db.models import Count, F, Q

    from labelling.models import Annotation, Assignment, Prompt

    connection.close()
    problems = []
    stored = set(Annotation.objects.filter(project_id=project_id).values_list("pk", flat=True))
    missing = set(created) - stored
    if missing:
        problems.append(f"{len(missing)} annotations answered 201 are not in the database")
    # Nothing duplicated: every stored annotation is one a client was told of, once (a
    # submission sent again after an outage answers with the id it was stored under).
    unknown = stored - set(created)
    if unknown or len(set(created)) != len(created):
        problems.append(
            f"{len(unknown)} stored annotations no client was told of,"
            f" {len(created) - len(set(created))} ids told twice"
        )
    live = Prompt.objects.filter(project_id=project_id).annotate(
        live=Count("assignments", filter=Q(assignments__status__in=["leased", "submitted"]))
    )
    over = live.filter(live__gt=k)
    if over.exists():
        problems.append(f"{over.count()} prompts have more than k={k} live annotations")
    twice = (
        Assignment.objects.filter(project_id=project_id)
        .values("prompt", "annotator")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    if twice.exists():
        problems.append("an annotator got a prompt twice")
    drift = live.exclude(live_count=F("live"))
    if drift.exists():
        problems.append(f"{drift.count()} prompts' live_count differs from their assignments")
    print(f"invariants: {len(created)} submissions answered, {len(stored)} stored; ", end="")
    print("all hold" if not problems else "BROKEN: " + "; ".join(problems))
    if problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
