"""Benchmark: reward-model scoring of 20,000 responses with the tiny test model.

Setup (not timed): a PostgreSQL database of its own with 5,000 prompts x 4 responses, and
the tiny reward model of the tests (a two-layer BERT, built here, offline). Timed:
  1. the bare forward pass over the same batches, already tokenised;
  2. the whole scoring job: database reads, tokenising, forward pass, writing the scores
     and the prompts' score gaps, progress.
Prints responses per second for both; goal (issue 7): the job reaches at least 80% of
the bare model's throughput. Torch runs on one thread, as in the tests. This machine's
speed drifts within seconds, so the two are measured in turn --repeat times (the scores
cleared between runs) and the median ratio is the figure.

    .venv/bin/python bench/score.py
    .venv/bin/python bench/score.py --prompts 1000 --batch 256
"""

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from annotate import machine_speed, recreate_database, use_settings  # noqa: E402

WORDS = [
    "the",
    "congestion",
    "window",
    "packets",
    "network",
    "good",
    "bad",
    "short",
    "long",
    "question",
    "answer",
]


def build(prompts: int, *, now):
    """A project of `prompts` prompts x 4 responses of 40 words the tiny model knows."""
    from labelling.importing import prompts_import
    from labelling.services import project_create

    project = project_create(
        name=f"score bench {prompts}", created_by=None, now=now, responses_per_prompt=4
    )
    lines = "".join(
        json.dumps(
            {
                "external_id": f"p{i}",
                "prompt": f"Explain TCP slow start {i}?",
                "responses": [
                    {
                        "external_id": f"r{r}",
                        "model": f"m{r}",
                        "text": " ".join(WORDS[(i + r + k) % len(WORDS)] for k in range(40)),
                    }
                    for r in range(4)
                ],
            }
        )
        + "\n"
        for i in range(prompts)
    )
    prompts_import(project=project, stream=io.BytesIO(lines.encode()), actor=None, now=now)
    return project


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/rlhf_bench_score"
    )
    parser.add_argument("--prompts", type=int, default=5000)
    parser.add_argument("--batch", type=int, help="default: the job's own (labelling.scoring)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    use_settings(args.database_url, HF_HUB_OFFLINE="1")
    recreate_database(args.database_url)
    import django

    django.setup()
    import torch
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from labelling.models import Prompt, RegisteredRewardModel, Response, ResponseScore, ScoringJob
    from labelling.scoring import BATCH, reward_model_load, scoring_run
    from tests.reward_model import build_tiny_reward_model

    torch.set_num_threads(1)
    args.batch = args.batch or BATCH
    call_command("migrate", verbosity=0)
    folder = build_tiny_reward_model(Path(tempfile.mkdtemp(prefix="bench-reward-")) / "model")
    now = timezone.now()
    project = build(args.prompts, now=now)
    total = Response.objects.filter(prompt__project=project).count()

    # Staff register the model: the only kind a project may name.
    RegisteredRewardModel.objects.get_or_create(name=str(folder), source=str(folder))
    model = reward_model_load(str(folder))
    contents = dict(Prompt.objects.filter(project=project).values_list("pk", "content"))
    pairs = [
        (contents[prompt_id], text)
        for prompt_id, text in Response.objects.filter(prompt__project=project)
        .order_by("pk")
        .values_list("prompt_id", "text")
    ]
    batches = [model.encode(pairs[i : i + args.batch]) for i in range(0, len(pairs), args.batch)]
    project.reward_model = str(folder)
    project.save(update_fields=["reward_model"])

    def bare_pass() -> float:
        start = time.perf_counter()
        with torch.inference_mode():
            for encoded in batches:
                model.model(**encoded).logits[:, 0].tolist()
        return total / (time.perf_counter() - start)

    def whole_job() -> tuple[float, ScoringJob, int]:
        with connection.cursor() as cursor:  # a clean start: no scores, no gaps
            cursor.execute("TRUNCATE ranking_responsescore")
            cursor.execute("UPDATE labelling_prompt SET score_gap = NULL")
            cursor.execute("VACUUM ANALYZE labelling_prompt")
        job = ScoringJob.objects.create(
            project=project, reward_model=project.reward_model, status="queued", created_at=now
        )
        start = time.perf_counter()
        job = scoring_run(job_id=job.pk, batch=args.batch)
        seconds = time.perf_counter() - start
        scored = ResponseScore.objects.filter(reward_model=project.reward_model).count()
        return scored / seconds, job, scored

    print(machine_speed())
    print(f"responses         {total:,} ({args.prompts:,} prompts), batches of {args.batch}")
    ratios = []
    for run in range(1, args.repeat + 1):
        bare = bare_pass()
        whole, job, scored = whole_job()
        ratios.append(whole / bare)
        print(
            f"run {run}: bare forward pass {bare:,.0f} responses/s (tokenised beforehand),"
            f" whole job {whole:,.0f} responses/s [{job.status}], ratio {whole / bare:.0%}"
        )
        if job.status != "done" or scored != total:
            sys.exit(f"the job ended {job.status} with {scored:,} of {total:,} scored")
    print(
        f"ratio             {statistics.median(ratios):.0%} median of {args.repeat} (goal >= 80%)"
    )


if __name__ == "__main__":
    main()
