"""Benchmark: every section 7 figure of a large project, from the database.

Setup (not timed): a dedicated PostgreSQL database with N prompts x 4 responses, each
labelled by 3 of 30 annotators, so 3N annotations and 18N stored pairwise preferences,
written with COPY (submitting them one by one would take most of an hour). Timed: the
dashboard job's whole computation (ranking.figures.figures_build): pairwise agreement,
alpha on ranks and per criterion, overall and per guideline version, the annotator
table, agreement by day, all with bootstrap intervals, and the Bradley-Terry
leaderboard with its bootstrap and win-rate matrix.

    .venv/bin/python bench/agreement.py                 # 100,000 prompts
    .venv/bin/python bench/agreement.py --prompts 20000

Goal (issue 5): 100,000 prompts x 4 responses x 3 annotators (1.8 million preferences)
to all figures in under 10 s and under 1 GB on the 2-core machine.
"""

import argparse
import io
import json
import multiprocessing
import resource
import sys
import time
from itertools import combinations
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from annotate import recreate_database, use_settings  # noqa: E402

MODELS = ["atlas", "borealis", "cirrus", "dune"]
QUALITY = [1.0, 0.4, -0.2, -0.9]


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build(prompts: int, annotators: int = 30, k: int = 3, seed: int = 1) -> int:
    import numpy as np
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from labelling.importing import prompts_import
    from labelling.services import membership_set, project_create

    call_command("migrate", verbosity=0)
    now = timezone.now()
    criteria = [{"key": "helpfulness", "label": "Helpfulness", "scale": [1, 7]}]
    project = project_create(
        name="bench", created_by=None, now=now, responses_per_prompt=4, criteria=criteria
    )
    lines = "".join(
        json.dumps(
            {
                "external_id": f"p{i}",
                "prompt": f"Question {i}?",
                "responses": [
                    {"external_id": f"r{r}", "model": MODELS[r], "text": f"Answer {r}"}
                    for r in range(4)
                ],
            }
        )
        + "\n"
        for i in range(prompts)
    )
    prompts_import(project=project, stream=io.BytesIO(lines.encode()), actor=None, now=now)
    users = [
        get_user_model().objects.create_user(f"rater{i:02d}", password=None)
        for i in range(annotators)
    ]
    for user in users:
        membership_set(project=project, user=user, role="annotator", actor=None, now=now)

    rng = np.random.default_rng(seed)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT p.id, array_agg(r.id ORDER BY r.position) FROM labelling_prompt p "
            "JOIN labelling_response r ON r.prompt_id = p.id WHERE p.project_id = %s "
            "GROUP BY p.id ORDER BY p.id",
            [project.pk],
        )
        layout = cursor.fetchall()
        raw = cursor.cursor
        assignment_id = annotation_id = 0
        with raw.copy(
            "COPY labelling_assignment (id, project_id, prompt_id, annotator_id, status, "
            "display_order, guideline_version, leased_at, expires_at, finished_at, "
            "skip_reason, round) FROM STDIN"
        ) as copy_a:
            for prompt_id, response_ids in layout:
                for user in rng.choice(annotators, size=k, replace=False):
                    assignment_id += 1
                    order = json.dumps([int(x) for x in rng.permutation(response_ids)])
                    copy_a.write_row(
                        (assignment_id, project.pk, prompt_id, users[user].pk, "submitted",
                         order, 1, now, now, now, "", 0)
                    )  # fmt: skip
        cursor.execute(
            "SELECT id, prompt_id, annotator_id, display_order FROM labelling_assignment "
            "WHERE project_id = %s ORDER BY id",
            [project.pk],
        )
        assignments = cursor.fetchall()
        responses = dict(layout)
        pairs = list(combinations(range(4), 2))
        with raw.copy(
            "COPY labelling_annotation (id, assignment_id, project_id, prompt_id, annotator_id, "
            "version, is_current, ranking, ratings, critiques, comment, flags, "
            "guideline_version, display_order, seconds_spent, payload_hash, created_at) "
            "FROM STDIN"
        ) as copy_n:
            rows = []
            for a_id, prompt_id, user_id, order in assignments:
                annotation_id += 1
                ids = responses[prompt_id]
                noise = rng.normal(0, 0.8, 4)
                order_best = np.argsort(-(np.array(QUALITY) + noise))
                ranking = [[int(ids[j])] for j in order_best]
                helpful = np.clip(4 + 2 * np.array(QUALITY) + noise, 1, 7).astype(int)
                ratings = {str(ids[j]): {"helpfulness": int(helpful[j])} for j in range(4)}
                copy_n.write_row(
                    (annotation_id, a_id, project.pk, prompt_id, user_id, 1, True,
                     json.dumps(ranking), json.dumps(ratings), "{}", "", "{}", 1,
                     order, int(rng.integers(20, 300)), "x", now)
                )  # fmt: skip
                rank_of = {ranking[g][0]: g for g in range(4)}
                rows.append((annotation_id, prompt_id, user_id, ids, rank_of))
        with raw.copy(
            "COPY ranking_pairwisepreference (annotation_id, project_id, prompt_id, "
            "annotator_id, chosen_id, rejected_id, margin, is_tie, guideline_version, "
            "created_at) FROM STDIN"
        ) as copy_p:
            for annotation, prompt_id, user_id, ids, rank_of in rows:
                for a, b in pairs:
                    x, y = ids[a], ids[b]
                    chosen, rejected = (x, y) if rank_of[x] < rank_of[y] else (y, x)
                    copy_p.write_row(
                        (annotation, project.pk, prompt_id, user_id, chosen, rejected,
                         abs(rank_of[x] - rank_of[y]), False, 1, now)
                    )  # fmt: skip
        for table in ["labelling_assignment", "labelling_annotation"]:
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                f"(SELECT max(id) FROM {table}))"
            )
        cursor.execute("ANALYZE")
    return project.pk


def _build_in_child(prompts: int) -> int:
    import django

    django.setup()
    return build(prompts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/rlhf_bench_agreement"
    )
    parser.add_argument("--prompts", type=int, default=100_000)
    args = parser.parse_args()
    use_settings(args.database_url)
    recreate_database(args.database_url)
    # The data is built in a process of its own, so that this one's peak memory is the
    # figures' alone (a process's peak never goes down).
    start = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        project_id = pool.apply(_build_in_child, (args.prompts,))
    print(f"setup             {time.perf_counter() - start:.1f} s (not part of the figures)")
    import django

    django.setup()
    from labelling.models import PairwisePreference, Project
    from ranking.figures import figures_build

    project = Project.objects.get(pk=project_id)
    n_preferences = PairwisePreference.objects.filter(project=project).count()
    before = peak_mb()

    # The dashboard job's whole work: one read of the annotations, then every figure.
    start = time.perf_counter()
    data = figures_build(project=project)
    seconds = time.perf_counter() - start

    report, board = data["agreement"], data["leaderboard"]
    overall = report["overall"]
    counts = (
        f"{args.prompts:,} prompts, {overall['n_annotations']:,} annotations, "
        f"{n_preferences:,} pairwise preferences"
    )
    summary = (
        f"pairwise {overall['pairwise_agreement']} {overall['pairwise_agreement_interval']}, "
        f"alpha on ranks {overall['alpha_rank']} {overall['alpha_rank_interval']}, "
        f"alpha helpfulness {overall['alpha_criteria']['helpfulness']}, "
        f"{len(report['annotators'])} annotators"
    )
    ratings = ", ".join(f"{row['model']} {row['rating']:.0f}" for row in board)
    print(f"data              {counts}")
    print(f"figures           {summary}")
    print(f"leaderboard       {ratings}")
    print(f"all figures       {seconds:.1f} s (goal < 10 s)")
    print(f"peak memory       {peak_mb():.0f} MB (process; {before:.0f} MB with Django loaded)")


if __name__ == "__main__":
    main()
