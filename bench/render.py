"""Benchmark: the labelling and review pages of an item with 9 responses of 100 KB each
(issue 15 point 2), through the whole Django stack in one process.

Each response mixes prose, lists, code blocks in allowed and unknown languages, long
lines, and text made to trip regular expressions (runs of "a\\n" and of tabs in C# and
Python blocks, which took Pygments tens of seconds whole). Timed, five times each: the
annotator's labelling page, the reviewer's page, and one response's "show all".

    .venv/bin/python bench/render.py
    .venv/bin/python bench/render.py --database-url postgres://postgres@127.0.0.1:5432/rlhf_bench_render

Goal: the pages are linear in what they show and bounded by the fold; measured figures
go in the README.
"""

import argparse
import io
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

RESPONSE_BYTES = 100_000


def response_text(seed: int) -> str:
    parts = []
    i = 0
    while sum(map(len, parts)) < RESPONSE_BYTES:
        parts += [
            f"## Part {i}\n\nThe answer, part {i}, with *emphasis*, `code` and a "
            "[link](https://example.org). " * 8 + "\n\n",
            "- one\n- two\n  - nested\n" * 10 + "\n",
            "```python\n" + "def f(x):\n    return x * 2  # doubled\n" * 40 + "```\n\n",
            "```javascript\n" + "const f = (x) => x * 2; // doubled\n" * 40 + "```\n\n",
            "```csharp\n" + "a\n" * 1500 + "```\n\n",
            "```python\n" + "\t\n" * 1500 + "```\n\n",
            "```brainfuck\n" + "+++[>+<-]" * 100 + "\n```\n\n",
            "```python\nx = '" + "y" * 2000 + "'\n```\n\n",
            "\\" * 2000 + "\n\n" + "*_" * 1000 + "\n\n",
        ]
        i += 1 + seed
    return "".join(parts)[:RESPONSE_BYTES]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/rlhf_bench_render"
    )
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    from annotate import machine_speed, recreate_database, use_settings

    use_settings(
        args.database_url,
        SECURE_SSL_REDIRECT="false",
        LOG_LEVEL="WARNING",
        IMPORT_MAX_LINE_BYTES="5000000",
        STATIC_ROOT=str(ROOT / "bench" / "out" / "static"),
    )
    recreate_database(args.database_url)
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.utils import timezone

    from labelling.importing import prompts_import
    from labelling.queue import assignment_lease_next
    from labelling.services import membership_set, project_create
    from labelling.submission import annotation_submit

    setup_test_environment()
    call_command("migrate", verbosity=0)
    call_command("collectstatic", verbosity=0, interactive=False)  # the production storage
    from django.contrib.auth import get_user_model

    users = {
        name: get_user_model().objects.create_user(name, password="bench-" + name * 4)
        for name in ("ann", "bea", "rev")
    }
    now = timezone.now()
    project = project_create(
        name="render bench", created_by=None, now=now, responses_per_prompt=9, allow_ties=True
    )
    for name, role in (("ann", "annotator"), ("bea", "annotator"), ("rev", "reviewer")):
        membership_set(project=project, user=users[name], role=role, actor=None, now=now)
    item = {
        "external_id": "big-1",
        "prompt": "Answer at length.",
        "responses": [
            {"external_id": f"r{i}", "model": f"m-{i}", "text": response_text(i)} for i in range(9)
        ],
    }
    prompts_import(
        project=project,
        stream=io.BytesIO(json.dumps(item).encode() + b"\n"),
        actor=None,
        now=now,
    )
    assignment = assignment_lease_next(project=project, annotator=users["ann"], now=now)
    other = assignment_lease_next(project=project, annotator=users["bea"], now=now)
    ids = other.display_order
    annotation_submit(
        assignment=other,
        annotator=users["bea"],
        data={"ranking": [[i] for i in ids]},
        now=now,
    )

    def timed(user: str, path: str) -> tuple[float, int]:
        client = Client()
        client.force_login(users[user])
        client.get(path)  # warm
        seconds, size = [], 0
        for _ in range(args.repeat):
            start = time.perf_counter()
            response = client.get(path)
            seconds.append(time.perf_counter() - start)
            assert response.status_code == 200, (path, response.status_code)
            size = len(response.content)
        return statistics.median(seconds), size

    print(machine_speed())
    print(f"9 responses of {RESPONSE_BYTES:,} characters ({9 * RESPONSE_BYTES / 1e6:.1f} MB)")
    for label, user, path in [
        ("labelling page", "ann", f"/assignments/{assignment.pk}/"),
        ("review page", "rev", f"/projects/{project.pk}/review/{assignment.prompt_id}/"),
        ("show all (one response)", "ann", f"/assignments/{assignment.pk}/responses/A/"),
    ]:
        seconds, size = timed(user, path)
        print(f"{label:<26} median {seconds * 1000:7.0f} ms, {size / 1000:7.0f} KB sent")


if __name__ == "__main__":
    main()
