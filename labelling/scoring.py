"""Reward-model assistance (issues 7 and 15): score every response of a project with the
team's own reward model, through Hugging Face transformers.

torch and transformers are the optional `ml` extra: without them the service runs and
says scoring is unavailable. A model is one staff registered (RegisteredRewardModel): a
project names it, and only the source staff wrote reaches AutoTokenizer and
AutoModelForSequenceClassification (one output: the reward), with the model's own code
never run (trust_remote_code=False) and files from this machine only unless staff
allowed downloads (settings.REWARD_MODEL_DOWNLOADS, which also decides HF_HUB_OFFLINE).

A run has hard limits: the memory it may add to its worker (SCORING_MEMORY_MB, as the
address-space limit), its wall-clock time (SCORING_MAX_SECONDS, checked between rounds;
django-q2's timeout kills the worker past Q_TIMEOUT), and the time one rendering of a
model's chat template may take (CHAT_TEMPLATE_SECONDS: the template is the model's,
Jinja, and may loop). Any error while loading or scoring fails the job with a message,
never the worker, and frees the project for the next run; project admins are told what
happened in words that say nothing of the server's files, staff see the detail.
"""

import math
import os
import signal
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib.util import find_spec
from itertools import chain
from pathlib import Path
from typing import Any, NoReturn

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django_q.tasks import async_task

from core.audit import signed_in
from core.db import on_postgresql
from core.errors import DomainError
from core.jobs import BUSY, JobLife
from labelling.models import (
    Project,
    Prompt,
    RegisteredRewardModel,
    Response,
    ResponseScore,
    ScoringJob,
)

BATCH = 128  # responses a forward pass
ROUND_BATCHES = 4  # batches read from and stored to the database together
GIL_SWITCH_SECONDS = 0.0005
MAX_TOKENS = 512
SCORING_LIFE = JobLife(ScoringJob)

# The job tokenises on one core while the model's thread has the other; the Rust
# tokenizer's own thread pool would spread each batch over both and take the model's
# core from it (median 77% of the bare pass with it, 83% without: bench/score.py). Set
# before any thread starts, here at import; a value the environment already gives is
# kept.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class RewardModelError(Exception):
    """`message` for the project's admins; `detail`, which may name server paths or
    library errors, for staff only."""

    def __init__(self, message: str, *, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail or message


class ChatTemplateTimeout(Exception):
    pass


def scoring_available() -> bool:
    return find_spec("torch") is not None and find_spec("transformers") is not None


@dataclass
class RewardModel:
    name: str
    # transformers' objects: their types are the library's many classes.
    tokenizer: Any
    model: Any
    uses_chat_template: bool

    def score(self, pairs: list[tuple[object, str]]) -> list[float]:
        """Rewards for (prompt, response) pairs; a prompt is a string or a message list."""
        return self.forward(self.encode(pairs))

    def forward(self, encoded: Any) -> list[float]:
        import torch

        with torch.inference_mode():
            return self.model(**encoded).logits[:, 0].float().tolist()

    def encode(self, pairs: list[tuple[object, str]]) -> Any:
        """Token ids for a batch: the whole conversation through the chat template when
        the tokenizer has one, else (prompt, response) as a text pair."""
        inputs: list
        if self.uses_chat_template:
            inputs = [
                self.chat([*_messages(prompt), {"role": "assistant", "content": response}])
                for prompt, response in pairs
            ]
        else:
            inputs = [(_plain(prompt), response) for prompt, response in pairs]
        if getattr(self.tokenizer, "is_fast", False):
            return self._encode_fast(inputs)
        texts = [x if isinstance(x, str) else x[0] for x in inputs]
        seconds = None if self.uses_chat_template else [x[1] for x in inputs]
        return self.tokenizer(
            texts, seconds, truncation=True, max_length=self._max_length(), padding=True,
            return_tensors="pt",
        )  # fmt: skip

    def chat(self, messages: list[dict]) -> str:
        """The model's chat template over a conversation, within CHAT_TEMPLATE_SECONDS:
        the template is the model's own Jinja and may loop. The bound is a timer signal,
        which only the main thread receives; elsewhere (never in a worker, which runs
        jobs on its main thread) the conversation is written out plainly instead."""
        if threading.current_thread() is not threading.main_thread():
            return "\n".join(f"{m['role']}: {m['content']}" for m in messages)
        seconds = settings.CHAT_TEMPLATE_SECONDS

        def expired(_signum: int, _frame: object) -> NoReturn:
            raise ChatTemplateTimeout(
                f"the chat template took more than {seconds} s for one conversation"
            )

        previous = signal.signal(signal.SIGALRM, expired)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            return self.tokenizer.apply_chat_template(messages, tokenize=False)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    def _encode_fast(self, inputs: list) -> dict[str, Any]:
        """The Rust tokenizer straight, unpadded, then padded into tensors by numpy:
        the Python wrapper's own padding and tensor conversion cost three times the
        encoding itself, and every list read back from Rust holds the GIL the model's
        thread needs (bench/score.py); the attention mask comes from the lengths."""
        import numpy as np
        import torch

        backend = self.tokenizer.backend_tokenizer
        backend.enable_truncation(max_length=self._max_length())
        backend.no_padding()
        # Without character offsets, which nothing here reads: half the time.
        encode = getattr(backend, "encode_batch_fast", backend.encode_batch)
        encodings = encode(inputs)
        lengths = np.fromiter(map(len, encodings), dtype=np.int64, count=len(encodings))
        width = int(lengths.max(initial=0))
        if self.tokenizer.padding_side == "left":
            mask = np.arange(width) >= (width - lengths)[:, None]
        else:
            mask = np.arange(width) < lengths[:, None]
        tokens = int(lengths.sum())

        def padded(attribute: str, fill: int) -> Any:
            column = np.full(mask.shape, fill, dtype=np.int64)
            values = chain.from_iterable(getattr(e, attribute) for e in encodings)
            column[mask] = np.fromiter(values, dtype=np.int64, count=tokens)
            return torch.from_numpy(column)

        columns = {
            "input_ids": lambda: padded("ids", self.tokenizer.pad_token_id or 0),
            "token_type_ids": lambda: padded("type_ids", self.tokenizer.pad_token_type_id),
            "attention_mask": lambda: torch.from_numpy(mask.astype(np.int64)),
        }
        return {
            name: columns[name]() for name in self.tokenizer.model_input_names if name in columns
        }

    def _max_length(self) -> int:
        limit = getattr(self.tokenizer, "model_max_length", MAX_TOKENS) or MAX_TOKENS
        return min(int(limit), MAX_TOKENS)


def _messages(prompt: object) -> list[dict]:
    if isinstance(prompt, list):
        return [{"role": m["role"], "content": m["content"]} for m in prompt]
    return [{"role": "user", "content": prompt}]


def _plain(prompt: object) -> str:
    if isinstance(prompt, list):
        return "\n\n".join(f"{m['role']}: {m['content']}" for m in prompt)
    return str(prompt)


def reward_model_load(name: str) -> RewardModel:
    """Load a registered reward model, or raise RewardModelError saying what is wrong."""
    if not scoring_available():
        raise RewardModelError(
            _("Scoring is unavailable: install the ml extra (pip install -e '.[ml]').")
        )
    name = name.strip()
    if not name:
        raise RewardModelError(_("The project names no reward model."))
    entry = RegisteredRewardModel.objects.filter(name=name).first()
    if entry is None:
        raise RewardModelError(
            _("%(name)s is not a reward model staff registered.") % {"name": name}
        )
    failed = _("The reward model %(name)s could not be loaded; staff can see why.") % {"name": name}
    download = entry.downloads_allowed and settings.REWARD_MODEL_DOWNLOADS and not entry.is_local
    if entry.is_local and not Path(entry.source).is_dir():
        raise RewardModelError(failed, detail=f"There is no model folder at {entry.source}.")
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # a worker's log is no terminal
    options = {"trust_remote_code": False, "local_files_only": not download}
    try:
        tokenizer = AutoTokenizer.from_pretrained(entry.source, **options)
        model = AutoModelForSequenceClassification.from_pretrained(entry.source, **options)
    except Exception as error:  # whatever the files make the library raise
        raise RewardModelError(
            failed, detail=f"{type(error).__name__}: {_first_line(error)}"
        ) from error
    outputs = getattr(model.config, "num_labels", None)
    if outputs != 1:
        raise RewardModelError(
            _("%(name)s has %(n)s outputs; a reward model has one.") % {"name": name, "n": outputs}
        )
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    model.eval()
    return RewardModel(
        name=name,
        tokenizer=tokenizer,
        model=model,
        uses_chat_template=bool(getattr(tokenizer, "chat_template", None)),
    )


def _first_line(error: Exception) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:300]


# --- jobs ------------------------------------------------------------------------------------


def scoring_request(
    *, project: Project, user: User | AnonymousUser | None, now: datetime
) -> ScoringJob:
    """Queue a scoring run of the project's reward model, unless one is already queued
    or running (that one is returned)."""
    if not project.reward_model:
        raise DomainError(_("Name a reward model for the project first."), field="reward_model")
    if not scoring_available():
        raise DomainError(
            _("Scoring is unavailable: install the ml extra (pip install -e '.[ml]')."),
            field="reward_model",
        )
    with transaction.atomic():
        # The project row lock makes "is one running?" and "start one" a single step.
        Project.objects.select_for_update(no_key=True).filter(pk=project.pk).values("pk").get()
        running = (
            ScoringJob.objects.filter(project=project, status__in=BUSY)
            .exclude(SCORING_LIFE.abandoned(now))
            .first()
        )
        if running is not None:
            return running
        job = ScoringJob.objects.create(
            project=project,
            reward_model=project.reward_model,
            status=ScoringJob.Status.QUEUED,
            created_by=signed_in(user),
            created_at=now,
        )
        transaction.on_commit(
            lambda: async_task(
                "labelling.tasks.scoring_run_task", job.pk, task_name=f"scoring-{job.pk}"
            )
        )
    return job


def unscored(*, project: Project, reward_model: str) -> QuerySet[Response]:
    scored = ResponseScore.objects.filter(response=OuterRef("pk"), reward_model=reward_model)
    return Response.objects.filter(prompt__project=project).exclude(Exists(scored))


def scoring_run(
    *,
    job_id: int,
    batch: int = BATCH,
    loader: Callable[[str], RewardModel] = reward_model_load,
) -> ScoringJob:
    """Score every unscored response of the job's project, in batches, committing each.
    Safe to run twice and resumable after a kill: what is scored is not scored again. A
    model that cannot be loaded fails the job with the reason; the worker carries on."""
    now = timezone.now()
    claimed = SCORING_LIFE.claim(job_id, now=now, error="")
    job = ScoringJob.objects.select_related("project").get(pk=job_id)
    if not claimed:
        return job
    # Whatever goes wrong, the job says so and the project is free for the next run: a
    # failure of any type, memory the run may not have (MemoryError under the limit),
    # a template that loops, a run past its time.
    with _memory_limit(settings.SCORING_MEMORY_MB):
        try:
            model = loader(job.reward_model)
        except RewardModelError as error:
            return _finish(job, ScoringJob.Status.FAILED, error.message, error.detail)
        except Exception as error:
            detail = f"{type(error).__name__}: {_first_line(error)}"
            return _finish(
                job, ScoringJob.Status.FAILED, _("The model could not be loaded."), detail
            )
        try:
            _score_all(
                job, model, batch, deadline=now + timedelta(seconds=settings.SCORING_MAX_SECONDS)
            )
        except Exception as error:  # recorded on the job; the scores so far are kept
            return _finish(
                job, ScoringJob.Status.FAILED, _failure(error), f"{type(error).__name__}: {error}"
            )
    return _finish(job, ScoringJob.Status.DONE, "")


def _failure(error: Exception) -> str:
    """What the project's admins are told of a failed run."""
    if isinstance(error, ScoringTimeout | ChatTemplateTimeout):
        return str(error)
    if isinstance(error, MemoryError):
        return _("The run needed more memory than a scoring run may use.")
    return _("Scoring failed (%(kind)s); staff can see why.") % {"kind": type(error).__name__}


class ScoringTimeout(Exception):
    pass


@contextmanager
def _memory_limit(megabytes: int) -> Iterator[None]:
    """The run may add `megabytes` to the worker's address space, no more: beyond it an
    allocation fails (MemoryError, or torch's own error) instead of the machine
    swapping. The soft limit is lowered for the run and restored after it."""
    try:
        import resource

        with open("/proc/self/statm") as statm:
            used = int(statm.read().split()[0]) * resource.getpagesize()
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    except (ImportError, OSError, ValueError):  # not Linux: no limit
        yield
        return
    cap = used + megabytes * 1024 * 1024
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _finish(job: ScoringJob, status: str, error: str, detail: str = "") -> ScoringJob:
    if status == ScoringJob.Status.FAILED:
        SCORING_LIFE.fail(job.pk, error=error, now=timezone.now(), error_detail=detail[:4000])
    else:
        SCORING_LIFE.finish(job.pk, now=timezone.now(), error=error, error_detail=detail)
    job.refresh_from_db()
    return job


# A window of the project's responses in id order, and which of them are scored.
_WINDOW = (
    f"SELECT r.id, r.prompt_id, r.text FROM {Response._meta.db_table} r"  # noqa: S608
    f" JOIN {Prompt._meta.db_table} p ON p.id = r.prompt_id"
    " WHERE p.project_id = %s AND r.id > %s ORDER BY r.id LIMIT %s"
)
_SCORED = (
    f"SELECT response_id FROM {ResponseScore._meta.db_table} WHERE reward_model = %s"  # noqa: S608
    " AND response_id >= %s AND response_id <= %s"
)


def _score_all(job: ScoringJob, model: RewardModel, batch: int, *, deadline: datetime) -> None:
    """Responses in id order, read and stored a round of ROUND_BATCHES batches at a
    time, each round committed with its scores, its prompts' gaps and the progress (a
    kill loses one round at most). On a small model, tokenising and the database cost
    about as much as the forward pass, so they run beside it (below). The database work
    of a round on PostgreSQL is plain SQL, a few statements (read, scored-check, one
    write): through the ORM it cost more than the model itself (bulk_update alone built
    a CASE expression per prompt), and storing a round at a time rather than a batch
    took the job from 63-65% to 72-78% of the bare pass. SQLite, the demo's database,
    stores a round through the ORM (round_store)."""
    project = job.project
    todo = unscored(project=project, reward_model=job.reward_model)
    total = todo.count()
    SCORING_LIFE.progress(job.pk, total=total, done=0)
    prompts: dict[int, object] = {}
    size = batch * ROUND_BATCHES

    def fetch(after: int) -> list[tuple[int, int, str]]:
        """The next round of unscored responses after id `after`: a keyset read of the
        project's responses, less those already scored (two index reads; one anti-join
        made PostgreSQL rescan the scores for every batch)."""
        rows: list[tuple[int, int, str]] = []
        with connection.cursor() as cursor:
            while len(rows) < size:
                cursor.execute(_WINDOW, [project.pk, after, size])
                window = cursor.fetchall()
                if not window:
                    break
                # A range, not a list of ids: the scores table grows through the job
                # faster than its statistics, and a scan of it that tests each row
                # against a list of ids cost more than the model's forward pass.
                cursor.execute(_SCORED, [job.reward_model, window[0][0], window[-1][0]])
                scored = {pk for (pk,) in cursor.fetchall()}
                rows.extend(row for row in window if row[0] not in scored)
                after = window[-1][0]
        rows = rows[:size]
        missing = {prompt_id for _pk, prompt_id, _text in rows} - prompts.keys()
        if missing:
            if len(prompts) > 10_000:
                prompts.clear()
            prompts.update(Prompt.objects.filter(pk__in=missing).values_list("pk", "content"))
        return rows

    def pairs(rows: list[tuple[int, int, str]]) -> list[tuple[object, str]]:
        return [(prompts[prompt_id], text) for _pk, prompt_id, text in rows]

    # Scores of prompts not yet complete: a prompt's gap is stored as soon as all its
    # responses are scored, from memory rather than read back from the database.
    incomplete: dict[int, list[float]] = {}
    # The two threads below hand the GIL to each other hundreds of times a batch: at
    # Python's default 5 ms switch interval the model's thread, back from a torch kernel,
    # waited that long for the database thread's Python to let go; 0.5 ms made the whole
    # job 35-45% faster (bench/score.py). Restored when the run ends.
    switch = sys.getswitchinterval()
    sys.setswitchinterval(GIL_SWITCH_SECONDS)
    try:
        _pipeline(job, model, batch, fetch, pairs, incomplete, deadline)
    finally:
        sys.setswitchinterval(switch)
    if incomplete:
        # Prompts some of whose responses an earlier, killed run had scored.
        gaps_refresh(prompt_ids=set(incomplete), reward_model=job.reward_model)


def _pipeline(
    job: ScoringJob,
    model: RewardModel,
    batch: int,
    fetch: Callable[[int], list[tuple[int, int, str]]],
    pairs: Callable[[list[tuple[int, int, str]]], list[tuple[object, str]]],
    incomplete: dict,
    deadline: datetime,
) -> None:
    """Two stages at once: while the model works through round i, a batch at a time on
    its own thread (torch releases the GIL in its kernels), this thread reads round i+1,
    tokenises it batch by batch, handing each batch to the model as it is ready, then
    stores round i. One thread for the database and the tokenizer, not one each: with
    three busy threads and PostgreSQL on two cores the model's thread lost its core to
    the others (bench/score.py: median 74-81% of the bare pass with a tokenising thread
    of its own, 80-81% without). The database work stays on this thread, in its
    connection."""
    per_prompt = job.project.responses_per_prompt
    done = 0
    with ThreadPoolExecutor(max_workers=1) as modelling:

        def submit(rows: list[tuple[int, int, str]]) -> list[Future]:
            """Futures of the round's scores, a batch each, in order."""
            return [
                modelling.submit(model.forward, model.encode(pairs(rows[i : i + batch])))
                for i in range(0, len(rows), batch)
            ]

        rows = fetch(0)
        running = submit(rows)
        while rows:
            if timezone.now() > deadline:
                raise ScoringTimeout(
                    _("The run took longer than %(n)d s; what it scored is kept.")
                    % {"n": settings.SCORING_MAX_SECONDS}
                )
            upcoming = fetch(rows[-1][0])
            following = submit(upcoming)
            scores = [score for future in running for score in future.result()]
            stored = []
            for (pk, prompt_id, _text), score in zip(rows, scores, strict=True):
                stored.append((pk, score))
                incomplete.setdefault(prompt_id, []).append(score)
            complete = [p for p, values in incomplete.items() if len(values) == per_prompt]
            done += len(rows)
            round_store(
                job,
                stored,
                {p: _gap(incomplete.pop(p)) for p in complete},
                done=done,
                now=timezone.now(),
            )
            rows, running = upcoming, following


# PostgreSQL: a round goes to the database as one array parameter per column (hundreds
# of placeholders cost psycopg more to parse than the statement costs to run), and the
# scores, the gaps and the progress are one statement: one round trip and one commit a
# round. Elsewhere the ORM does the same in three statements.
_STORE = (
    f"INSERT INTO {ResponseScore._meta.db_table} (response_id, reward_model, score, created_at)"  # noqa: S608
    " SELECT r, %(model)s, s, %(now)s FROM unnest(%(ids)s::bigint[], %(scores)s::float8[])"
    " AS t (r, s) ON CONFLICT (response_id, reward_model) DO NOTHING"
)
# The ANY is for the planner: without it, it joined the batch to a scan of every prompt
# rather than look up the batch's prompts by primary key.
_GAPS = (
    f"UPDATE {Prompt._meta.db_table} SET score_gap = v.gap"  # noqa: S608
    " FROM unnest(%(prompts)s::bigint[], %(gaps)s::float8[]) AS v (id, gap)"
    f" WHERE {Prompt._meta.db_table}.id = v.id"
    f" AND {Prompt._meta.db_table}.id = ANY (%(prompts)s::bigint[])"
)
_PROGRESS = f"UPDATE {ScoringJob._meta.db_table} SET progress_done = %(done)s WHERE id = %(job)s"  # noqa: S608
_ROUND = f"WITH stored AS ({_STORE}), gaps AS ({_GAPS}) {_PROGRESS}"


def round_store(
    job: ScoringJob,
    scores: list[tuple[int, float]],
    gaps: dict[int, float],
    *,
    done: int,
    now: datetime,
) -> None:
    """Store a round's (response id, score) pairs, the gaps of the prompts it completed
    and the job's progress, together. A score already stored for the response and
    model wins (a second worker on the same rows)."""
    if not on_postgresql():
        if not all(math.isfinite(score) for _rid, score in scores):
            # SQLite keeps neither NaN nor infinity (the column refuses them as NULL), and
            # the INSERT OR IGNORE below would drop such a row silently: fail the round.
            raise ValueError("the reward model gave a score that is not a finite number")
        with transaction.atomic():
            ResponseScore.objects.bulk_create(
                [
                    ResponseScore(
                        response_id=rid, reward_model=job.reward_model, score=score, created_at=now
                    )
                    for rid, score in scores
                ],
                ignore_conflicts=True,
            )
            gaps_store(gaps)
            SCORING_LIFE.progress(job.pk, done=done)
        return
    ids, values = zip(*scores, strict=True) if scores else ((), ())
    params = {
        "model": job.reward_model,
        "now": connection.ops.adapt_datetimefield_value(now),
        "ids": _array(ids),
        "scores": _array(values),
        "prompts": _array(gaps),
        "gaps": _array(gaps.values()),
        "done": done,
        "job": job.pk,
    }
    with connection.cursor() as cursor:
        cursor.execute(_ROUND, params)  # one statement: one transaction of its own


def _array(values: Iterable) -> str:
    """Numbers as one PostgreSQL array literal (psycopg's own list adapter quotes
    element by element in Python, on the thread the model needs)."""
    return "{" + ",".join(map(str, values)) + "}"


def gaps_store(gaps: dict[int, float]) -> None:
    """The gaps of many prompts, in one UPDATE (in batches, off PostgreSQL)."""
    if not gaps:
        return
    if not on_postgresql():
        prompts = [Prompt(pk=pk, score_gap=gap) for pk, gap in gaps.items()]
        Prompt.objects.bulk_update(prompts, ["score_gap"], batch_size=500)
        return
    with connection.cursor() as cursor:
        cursor.execute(_GAPS, {"prompts": _array(gaps), "gaps": _array(gaps.values())})


def _gap(values: list[float]) -> float:
    best, second = sorted(values, reverse=True)[:2]
    return best - second


def gaps_refresh(*, prompt_ids: set[int], reward_model: str) -> None:
    """Store each prompt's gap between its two best scores, once all its responses are
    scored (the uncertainty-first queue orders by it). One UPDATE for the lot."""
    # By response id, which the (reward model, response) unique index serves: going
    # through the response's prompt made each call scan every score of the model.
    prompt_of = dict(
        Response.objects.filter(prompt_id__in=prompt_ids).values_list("pk", "prompt_id")
    )
    sizes = Counter(prompt_of.values())
    scores: dict[int, list[float]] = {}
    for response_id, score in ResponseScore.objects.filter(
        reward_model=reward_model, response_id__in=list(prompt_of)
    ).values_list("response_id", "score"):
        scores.setdefault(prompt_of[response_id], []).append(score)
    gaps_store(
        {
            prompt_id: _gap(values)
            for prompt_id, values in scores.items()
            if len(values) == sizes.get(prompt_id) and len(values) >= 2
        }
    )


def scoring_status(*, project: Project, viewer: User | None = None) -> dict:
    """What the page and the API show: the latest job and how much is scored; what went
    wrong in full only to staff."""
    job = project.scoring_jobs.order_by("-created_at", "-id").first()
    responses = Response.objects.filter(prompt__project=project).count()
    scored = (
        ResponseScore.objects.filter(
            reward_model=project.reward_model, response__prompt__project=project
        ).count()
        if project.reward_model
        else 0
    )
    return {
        "available": scoring_available(),
        "reward_model": project.reward_model,
        "status": job.status if job else "idle",
        "progress": {
            "done": job.progress_done if job else 0,
            "total": job.progress_total if job else 0,
        },
        "error": job.error if job else "",
        **(
            {"error_detail": job.error_detail if job else ""}
            if viewer is not None and viewer.is_staff
            else {}
        ),
        "job_id": job.pk if job else None,
        "scored": scored,
        "responses": responses,
    }
