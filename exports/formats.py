"""The rows of each export format (design §5 and §6, issue 14), streamed from the
stored pairwise preferences and annotations in a fixed order, so the same filters over
the same data give the same rows.

Rows come from one streaming query; the texts of prompts and responses (and, for
`pairwise`, the raters' ratings) are fetched per chunk of rows, for the prompts that
chunk needs, so memory stays flat however big the project is.

Every format declares its columns as one Arrow schema (`Source.schema`): the Parquet
file's schema, the JSON lines' key order, and the features of the dataset card, so a
file's shape depends on the format and its options, never on the data.
"""

import hashlib
import operator
import re
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import reduce
from itertools import islice
from typing import Any, TypeVar

import numpy as np
import orjson
import pyarrow as pa
from django.db import connection, connections
from django.db.models import Count, Q, QuerySet, TextField
from django.db.models.functions import Cast, Greatest, Least
from django.db.models.sql.constants import MULTI

from core.db import on_postgresql
from exports.filters import ExportFilters, ExportInvalid, filters_parse
from exports.models import Export
from exports.options import ExportOptions
from labelling.models import Annotation, Project, Prompt, Response
from labelling.selectors import annotations_for, preferences_for
from labelling.visibility import annotator_pseudonym
from ranking.raters import RaterSelection, raters_select

CHUNK = 10_000

T = TypeVar("T")
R = TypeVar("R")

MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])
MESSAGES = pa.list_(MESSAGE)
RATINGS = pa.list_(pa.struct([("criterion", pa.string()), ("value", pa.int64())]))
IDS = [
    ("prompt_id", pa.string()),
    ("chosen_id", pa.string()),
    ("rejected_id", pa.string()),
    ("chosen_model", pa.string()),
    ("rejected_model", pa.string()),
]


def split_of(external_id: str, test_fraction: float) -> str:
    """ "test" for a stable share `test_fraction` of prompts, by a hash of the prompt's
    external id: the same prompt always lands on the same side, in every export."""
    if test_fraction <= 0:
        return "train"
    digest = hashlib.sha256(external_id.encode()).digest()
    return "test" if int.from_bytes(digest[:8], "big") / 2**64 < test_fraction else "train"


def has_chat_prompts(project: Project) -> bool:
    return Prompt.objects.filter(project=project, kind=Prompt.Kind.CHAT).exists()


# --- how prompts and responses are written ----------------------------------------------------


@dataclass(frozen=True)
class Shape:
    """How a preference row writes its prompt and its two responses.

    Standard (TRL): strings. Conversational (TRL, OpenRLHF): the prompt as a message
    list, each response as a list of one assistant message. LLaMA-Factory: the prompt as
    `conversations`, each response as one message object (its ShareGPT ranking loader
    skips rows whose chosen and rejected are lists)."""

    conversational: bool
    flavour: str = "trl"

    @property
    def prompt_column(self) -> str:
        return "conversations" if self.flavour == "llamafactory" else "prompt"

    @property
    def prompt_type(self) -> pa.DataType:
        return MESSAGES if self.conversational else pa.string()

    @property
    def completion_type(self) -> pa.DataType:
        if self.flavour == "llamafactory":
            return MESSAGE
        return MESSAGES if self.conversational else pa.string()

    def prompt(self, kind: str, content: Any) -> object:
        if not self.conversational:
            return content
        messages = chat_messages(kind, content)
        return _alternating(messages) if self.flavour == "llamafactory" else messages

    def completion(self, text: str) -> object:
        message = {"role": "assistant", "content": text}
        if self.flavour == "llamafactory":
            return message
        return [message] if self.conversational else text


def chat_messages(kind: str, content: Any) -> list[dict]:
    """A prompt as a message list: a text prompt is one user message."""
    if kind == Prompt.Kind.CHAT:
        return [{"role": m["role"], "content": m["content"]} for m in content]
    return [{"role": "user", "content": content}]


def _alternating(messages: list[dict]) -> list[dict]:
    """Messages as LLaMA-Factory's ShareGPT loader accepts them: an optional system
    message first, then user and assistant turns in alternation. A later system message
    joins the next user turn; neighbours of one role are joined by a blank line."""
    out: list[dict] = []
    pending: list[str] = []
    for index, message in enumerate(messages):
        role, text = message["role"], message["content"]
        if role == "system" and index == 0:
            out.append({"role": "system", "content": text})
            continue
        if role == "system":
            pending.append(text)
            continue
        if role == "user" and pending:
            text, pending = "\n\n".join([*pending, text]), []
        if out and out[-1]["role"] == role:
            out[-1] = {"role": role, "content": out[-1]["content"] + "\n\n" + text}
        else:
            out.append({"role": role, "content": text})
    return out


# HH-RLHF marks turns with "\n\nHuman:" and "\n\nAssistant:". A blank line followed by
# either word and a colon inside a message would read as a turn of its own, so it loses
# its blank line: every run of two or more newlines before "Human:" or "Assistant:"
# becomes one newline. Only the transcript's own turns then start with a blank line.
_TURN_MARKER = re.compile(r"\n\n+(?=(?:Human|Assistant):)")


def hh_neutralise(text: str) -> str:
    return _TURN_MARKER.sub("\n", text)


def hh_prompt(kind: str, content: Any) -> str:
    """A prompt as an HH-RLHF transcript up to the answer: "\\n\\nHuman: ...\\n\\nAssistant:".

    HH has two roles. A system message has none of its own: its text opens the next
    Human turn, followed by a blank line."""
    turns = []
    pending: list[str] = []
    for message in chat_messages(kind, content):
        if message["role"] == "system":
            pending.append(message["content"])
            continue
        text = message["content"]
        if message["role"] == "user":
            text, pending = "\n\n".join([*pending, text]), []
            turns.append(f"\n\nHuman: {hh_neutralise(text)}")
        else:
            turns.append(f"\n\nAssistant: {hh_neutralise(text)}")
    return "".join(turns) + "\n\nAssistant:"


def hh_completion(text: str) -> str:
    """The answer after the prompt's final "Assistant:": prompt + completion is the HH
    transcript."""
    return " " + hh_neutralise(text)


# --- what chunks of rows need -------------------------------------------------------------------

NO_RATINGS: tuple[list, None] = ([], None)


@dataclass
class Texts:
    """Prompts and responses of the prompts a chunk of rows needs."""

    prompts: dict[int, tuple[str, str, object]] = field(default_factory=dict)  # ext, kind, content
    responses: dict[int, tuple[str, str, str]] = field(default_factory=dict)  # ext, model, text
    by_prompt: dict[int, list[int]] = field(default_factory=dict)  # response ids, by id

    @classmethod
    def load(cls, project: Project, rows: list[tuple]) -> "Texts":
        """The texts of a chunk of rows whose first item is a prompt id. Rows come
        ordered by prompt, so their prompts are a range of ids: asking for the range is
        one cheap index scan, where a list of ids would be a long IN."""
        return cls.load_range(project, rows[0][0], rows[-1][0])

    @classmethod
    def load_range(cls, project: Project, low: int, high: int) -> "Texts":
        """The texts of the project's prompts with ids low..high."""
        texts = cls()
        for pk, ext, kind, content in Prompt.objects.filter(
            project=project, pk__gte=low, pk__lte=high
        ).values_list("pk", "external_id", "kind", "content"):
            texts.prompts[pk] = (ext, kind, content)
        # By prompt id alone (a join to check the project made PostgreSQL scan every
        # prompt); responses of another project's prompts in the range are skipped.
        for pk, prompt_id, ext, model, text in (
            Response.objects.filter(prompt_id__gte=low, prompt_id__lte=high)
            .order_by("prompt_id", "id")
            .values_list("pk", "prompt_id", "external_id", "model_name", "text")
        ):
            if prompt_id not in texts.prompts:
                continue
            texts.responses[pk] = (ext, model, text)
            texts.by_prompt.setdefault(prompt_id, []).append(pk)
        return texts


class Ratings:
    """The raters' ratings of the responses of a chunk's prompts, by (annotation,
    response): each as a list of {criterion, value} in the project's criteria order, and
    their mean with every criterion scaled to 0..1 by its scale (None without ratings).

    Ratings come from small scales, so a project has few distinct sets of them: each set
    is worked out once (a "combo") and cells point at it."""

    def __init__(self, project: Project) -> None:
        self.order = {c["key"]: i for i, c in enumerate(project.criteria)}
        self.scales = {c["key"]: c["scale"] for c in project.criteria}
        self.project = project
        self.combos: list[tuple[list, float | None]] = [NO_RATINGS]
        self._known: dict[tuple, int] = {}

    def load(self, low: int, high: int) -> "RatingCells":
        """Which combo each (annotation, response) of the prompts low..high rated, as
        three columns."""
        if on_postgresql():
            return self._load_grouped(low, high)
        return self._load_each(low, high)

    def _load_grouped(self, low: int, high: int) -> "RatingCells":
        """PostgreSQL takes the ratings apart (jsonb_each) and groups the cells by their
        set of ratings, so each distinct set arrives once, as text, with the annotations
        and responses that took it as two integer arrays: no JSON is parsed per
        annotation, and no Python runs per cell (the loop was 1.7 of the 7.4 s of a
        profiled million-row export)."""
        annotations: list[np.ndarray] = []
        responses: list[np.ndarray] = []
        combos: list[np.ndarray] = []
        known = self._known
        with connection.cursor() as cursor:
            cursor.execute(_RATINGS_GROUPED, [self.project.pk, low, high])
            for text, annotation_ids, response_ids in cursor.fetchall():
                index = known.get(text)
                if index is None:
                    index = known[text] = len(self.combos)
                    self.combos.append(self.cell(orjson.loads(text)))
                annotations.append(np.array(annotation_ids, dtype=np.int64))
                responses.append(np.array(response_ids, dtype=np.int64))
                combos.append(np.full(len(annotation_ids), index, dtype=np.int64))
        if not annotations:
            empty = np.zeros(0, dtype=np.int64)
            return RatingCells(annotations=empty, responses=empty, combos=empty)
        return RatingCells(
            annotations=np.concatenate(annotations),
            responses=np.concatenate(responses),
            combos=np.concatenate(combos),
        )

    def _load_each(self, low: int, high: int) -> "RatingCells":
        """The same on other databases: each annotation's JSON read as text and parsed
        by orjson (Django's JSONField decoding with the standard library was most of an
        export's time)."""
        rows = (
            Annotation.objects.filter(project=self.project, prompt_id__gte=low, prompt_id__lte=high)
            .annotate(ratings_text=Cast("ratings", TextField()))
            .values_list("pk", "ratings_text")
        )
        annotations: list[int] = []
        responses: list[str] = []
        combos: list[int] = []
        known = self._known
        for annotation_id, text in rows:
            for response_id, scores in orjson.loads(text).items():
                # Keyed as stored: the same ratings in another key order would make a
                # second, equal combo, which costs nothing but a slot.
                key = tuple(scores.items())
                index = known.get(key)
                if index is None:
                    index = known[key] = len(self.combos)
                    self.combos.append(self.cell(scores))
                annotations.append(annotation_id)
                responses.append(response_id)
                combos.append(index)
        return RatingCells(
            annotations=np.array(annotations, dtype=np.int64),
            responses=np.array(responses, dtype=np.str_).astype(np.int64),
            combos=np.array(combos, dtype=np.int64),
        )

    def cell(self, scores: dict) -> tuple[list, float | None]:
        keys = sorted(scores, key=lambda k: (self.order.get(k, len(self.order)), k))
        listed = [{"criterion": k, "value": scores[k]} for k in keys]
        scaled = [
            (scores[k] - self.scales[k][0]) / (self.scales[k][1] - self.scales[k][0])
            for k in keys
            if k in self.scales
        ]
        return listed, (round(sum(scaled) / len(scaled), 6) if scaled else None)


# The ratings of the annotations of one project's prompts low..high (labelling.rules
# keys them by response id), grouped by the set of ratings (see Ratings._load_grouped).
_RATINGS_GROUPED = f"""
    SELECT r.value::text, array_agg(a.id), array_agg(r.key::bigint)
      FROM {Annotation._meta.db_table} a CROSS JOIN LATERAL jsonb_each(a.ratings) r
     WHERE a.project_id = %s AND a.prompt_id >= %s AND a.prompt_id <= %s
     GROUP BY 1
"""  # noqa: S608


@dataclass
class RatingCells:
    """One entry per (annotation, response) rated: the ratings combo it took."""

    annotations: np.ndarray
    responses: np.ndarray
    combos: np.ndarray


def _int_chunks(rows: QuerySet) -> Iterator[np.ndarray]:
    """The rows of a values_list of integer columns, CHUNK at a time, each chunk a 2-d
    int64 array. The ORM composes and runs the query (a server-side cursor where the
    database has one) and hands over each fetch as it is: its per-row conversion was a
    fifth of an export's time, and integers need none."""
    compiler = rows.query.get_compiler(using=rows.db)
    server_side = not connections[rows.db].settings_dict.get("DISABLE_SERVER_SIDE_CURSORS")
    fetches = compiler.execute_sql(MULTI, chunked_fetch=server_side, chunk_size=CHUNK)
    for fetch in fetches:
        if fetch:
            yield np.array(fetch, dtype=np.int64)


def _chunks(rows: Iterator[tuple]) -> Iterator[list[tuple]]:
    while chunk := list(islice(rows, CHUNK)):
        yield chunk


# --- the selection ----------------------------------------------------------------------------


@dataclass
class Selection:
    """Which labels an export takes: the filters, the raters they keep, the gold prompts
    (left out unless asked for) and the retired ones (always left out)."""

    filters: ExportFilters
    raters: RaterSelection
    gold_prompts: int
    retired_prompts: int = 0

    def restrict(self, rows: QuerySet, project: Project) -> QuerySet:
        """Rows (preferences or annotations) of the kept raters, on prompts the export
        takes."""
        if self.raters.kept is not None:
            rows = rows.filter(annotator_id__in=sorted(self.raters.kept))
        left_out = []
        if self.retired_prompts:
            left_out.append(Q(retired=True))
        if self.gold_prompts and not self.filters.include_gold:
            left_out.append(Q(gold__isnull=False))
        if left_out:
            prompts = Prompt.objects.filter(reduce(operator.or_, left_out), project=project)
            rows = rows.exclude(prompt_id__in=prompts.values("pk"))
        return rows


def selection_for(project: Project, filters: ExportFilters) -> Selection:
    prompts = Prompt.objects.filter(project=project).aggregate(
        gold=Count("pk", filter=Q(gold__isnull=False)), retired=Count("pk", filter=Q(retired=True))
    )
    return Selection(
        filters=filters,
        raters=raters_select(project=project, filters=filters.raters),
        gold_prompts=prompts["gold"],
        retired_prompts=prompts["retired"],
    )


def preferences(project: Project, selection: Selection, *, ties: bool) -> QuerySet:
    filters = selection.filters
    rows = preferences_for(
        project=project,
        versions=filters.guideline_versions,
        min_version=filters.min_guideline_version,
        since=filters.since,
        until=filters.until,
        include_ties=ties,
        include_rejected=filters.include_rejected,
        include_flagged=filters.include_flagged,
        models=filters.models,
    )
    return selection.restrict(rows, project)


def annotations(project: Project, selection: Selection) -> QuerySet:
    filters = selection.filters
    rows = annotations_for(
        project=project,
        versions=filters.guideline_versions,
        min_version=filters.min_guideline_version,
        since=filters.since,
        until=filters.until,
        include_rejected=filters.include_rejected,
    )
    if filters.min_agreement is not None:
        rows = rows.filter(prompt__agreement__gte=filters.min_agreement)
    return selection.restrict(rows, project)


# --- what the manifest counts -----------------------------------------------------------------


class Stats:
    """What the manifest counts, gathered as the rows are made (per chunk where the
    rows are many, so no per-row bookkeeping slows the stream)."""

    def __init__(self) -> None:
        self.splits = {"train": 0, "test": 0}
        self.prompts: set[str] = set()
        self.annotators: set[int] = set()
        self.versions: set[int] = set()
        self.models: set[str] = set()

    def add_pairs(self, chunk: "PairChunk") -> None:
        """A chunk of per-rater pair rows, counted with numpy."""
        per_prompt = np.bincount(chunk.at_prompt.to_numpy(), minlength=len(chunk.prompt_keys))
        for prompt_id, count in zip(chunk.prompt_keys.tolist(), per_prompt.tolist(), strict=True):
            self.splits[chunk.splits[prompt_id]] += count
            self.prompts.add(chunk.texts.prompts[prompt_id][0])
        self.annotators.update(chunk.annotator_keys.tolist())
        self.versions.update(np.unique(chunk.data[:, 6]).tolist())
        used = np.unique(chunk.data[:, 2:4])
        self.models.update(chunk.texts.responses[rid][1] for rid in used.tolist())

    def add(self, row: dict, *, annotator: int | None = None) -> None:
        self.splits[row["split"]] += 1
        self.prompts.add(row["prompt_id"])
        if annotator is not None:
            self.annotators.add(annotator)
        if "guideline_versions" in row:
            self.versions.update(row["guideline_versions"])
        else:
            self.versions.add(row["guideline_version"])
        if "chosen_model" in row:
            self.models.update((row["chosen_model"], row["rejected_model"]))
        else:
            self.models.update(r["model"] for r in row["responses"])

    def counts(self) -> dict:
        counts = {
            "rows": self.splits["train"] + self.splits["test"],
            **self.splits,
            "prompts": len(self.prompts),
        }
        if self.annotators:
            counts["annotators"] = len(self.annotators)
        return counts


@dataclass
class Source:
    """A format's rows, how much work they are (for progress: done / total), and what the
    manifest will count once the rows have been read. Where `batches` is given, it is the
    same rows as Arrow record batches (a writer reads one of them, never two)."""

    total: int
    rows: Iterator[dict] | None
    schema: pa.Schema
    stats: Stats
    conversational: bool  # prompts as message lists (the manifest says so)
    selection: Selection
    batches: Iterator[pa.RecordBatch] | None = None
    # The rows as JSON lines, a chunk at a time: (one string a row, newline included;
    # the rows' splits). Where given, the JSON lines writer takes these instead of rows.
    lines: Iterator[tuple[pa.Array, pa.Array]] | None = None

    @property
    def columns(self) -> list[str]:
        return list(self.schema.names)


# --- the schemas ------------------------------------------------------------------------------


def _margin_field(options: ExportOptions) -> list[tuple[str, pa.DataType]]:
    # Last, so that rows without it are the same up to there: TRL and OpenRLHF read the
    # column by name wherever it is.
    return [("margin", pa.float64())] if options.margin is not None else []


def pairwise_schema(shape: Shape, options: ExportOptions) -> pa.Schema:
    return pa.schema(
        [
            (shape.prompt_column, shape.prompt_type),
            ("chosen", shape.completion_type),
            ("rejected", shape.completion_type),
            ("rank_gap", pa.int64()),
            *IDS,
            ("annotator", pa.string()),
            ("guideline_version", pa.int64()),
            ("chosen_rating", pa.float64()),
            ("rejected_rating", pa.float64()),
            ("chosen_ratings", RATINGS),
            ("rejected_ratings", RATINGS),
            ("split", pa.string()),
            *_margin_field(options),
        ]
    )


def hh_schema(options: ExportOptions) -> pa.Schema:
    return pa.schema(
        [
            ("prompt", pa.string()),
            ("chosen", pa.string()),
            ("rejected", pa.string()),
            ("rank_gap", pa.int64()),
            *IDS,
            ("annotator", pa.string()),
            ("guideline_version", pa.int64()),
            ("split", pa.string()),
            *_margin_field(options),
        ]
    )


def consensus_schema(shape: Shape, options: ExportOptions) -> pa.Schema:
    return pa.schema(
        [
            (shape.prompt_column, shape.prompt_type),
            ("chosen", shape.completion_type),
            ("rejected", shape.completion_type),
            ("vote_margin", pa.float64()),
            *IDS,
            ("votes_for", pa.int64()),
            ("votes_against", pa.int64()),
            ("ties", pa.int64()),
            ("agreement", pa.float64()),
            ("guideline_versions", pa.list_(pa.int64())),
            ("split", pa.string()),
            *_margin_field(options),
        ]
    )


ANNOTATIONS_SCHEMA = pa.schema(
    [
        ("prompt_id", pa.string()),
        ("prompt", MESSAGES),
        (
            "responses",
            pa.list_(
                pa.struct([("id", pa.string()), ("model", pa.string()), ("text", pa.string())])
            ),
        ),
        # The letters this annotation's rater saw, A first: what their critiques and
        # comment mean by "A".
        ("letters", pa.list_(pa.struct([("letter", pa.string()), ("response_id", pa.string())]))),
        ("ranking", pa.list_(pa.list_(pa.string()))),
        (
            "ratings",
            pa.list_(
                pa.struct(
                    [
                        ("response_id", pa.string()),
                        ("criterion", pa.string()),
                        ("value", pa.int64()),
                    ]
                )
            ),
        ),
        (
            "critiques",
            pa.list_(
                pa.struct(
                    [("response_id", pa.string()), ("letter", pa.string()), ("text", pa.string())]
                )
            ),
        ),
        # response_id is null for a flag on the whole item ("none of these is acceptable").
        ("flags", pa.list_(pa.struct([("response_id", pa.string()), ("flag", pa.string())]))),
        ("comment", pa.string()),
        ("seconds_spent", pa.int64()),
        ("guideline_version", pa.int64()),
        ("annotator", pa.string()),
        ("edit", pa.int64()),
        ("rejected", pa.bool_()),
        ("rejection_reason", pa.string()),
        ("created_at", pa.string()),
        ("split", pa.string()),
    ]
)


# --- the formats ------------------------------------------------------------------------------


@dataclass
class PairChunk:
    """A chunk of per-rater pair rows, columnar: `data` holds (prompt, annotation, chosen,
    rejected, rank gap, annotator, version) ids, one row each; the other fields hold each
    distinct value once, and the `at_*` arrays say which one each row takes."""

    data: np.ndarray
    prompt_keys: np.ndarray
    at_prompt: pa.Array
    response_keys: np.ndarray
    at_chosen: pa.Array
    at_rejected: pa.Array
    annotator_keys: np.ndarray
    at_annotator: pa.Array
    texts: Texts
    prompt_of: dict[int, object]
    completion_of: dict[int, object]
    pseudonyms: dict[int, str]
    splits: dict[int, str]
    at_rating: tuple[pa.Array, pa.Array] | None  # ratings combo of chosen, of rejected
    # The combos known when the chunk was made (the list grows with later chunks, on
    # the other thread): what at_rating points into.
    combos: list[tuple[list, float | None]] = field(default_factory=list)

    def small_ints(self, values: np.ndarray) -> tuple[np.ndarray, pa.Array]:
        keys = np.unique(values)
        return keys, pa.array(np.searchsorted(keys, values))


def _pair_chunks(
    rows: QuerySet,
    project: Project,
    test_fraction: float,
    shape: Shape,
    ratings: Ratings,
    stats: Stats,
    *,
    hh: bool,
) -> Iterator[PairChunk]:
    """The pairs, a chunk at a time, with what their rows are made of: each prompt's and
    response's text in the export's shape, splits, pseudonyms, the ratings' combinations."""
    stream = rows.order_by("prompt_id", "annotation_id", "chosen_id", "rejected_id").values_list(
        "prompt_id",
        "annotation_id",
        "chosen_id",
        "rejected_id",
        "margin",
        "annotator_id",
        "guideline_version",
    )
    pseudonyms: dict[int, str] = {}
    wants_ratings = not hh and bool(project.criteria)

    def fetch(data: np.ndarray) -> tuple[Texts, RatingCells | None]:
        low, high = int(data[0, 0]), int(data[-1, 0])
        texts = Texts.load_range(project, low, high)
        return texts, ratings.load(low, high) if wants_ratings else None

    for data, (texts, cells) in _fetched_ahead(_int_chunks(stream), fetch):
        prompt_keys = np.unique(data[:, 0])
        splits = {int(p): split_of(texts.prompts[int(p)][0], test_fraction) for p in prompt_keys}
        annotator_keys = np.unique(data[:, 5])
        for annotator_id in annotator_keys.tolist():
            if annotator_id not in pseudonyms:
                pseudonyms[annotator_id] = annotator_pseudonym(project, annotator_id)
        prompt_of: dict[int, object]
        completion_of: dict[int, object]
        if hh:
            prompt_of = {p: hh_prompt(*texts.prompts[p][1:]) for p in splits}
            completion_of = {rid: hh_completion(r[2]) for rid, r in texts.responses.items()}
            at_rating = None
        else:
            prompt_of = {p: shape.prompt(*texts.prompts[p][1:]) for p in splits}
            completion_of = {rid: shape.completion(r[2]) for rid, r in texts.responses.items()}
            at_rating = _combo_indices(data, cells)
        response_keys = np.array(sorted(completion_of), dtype=np.int64)
        prepared_chunk = PairChunk(
            data=data,
            prompt_keys=prompt_keys,
            at_prompt=pa.array(np.searchsorted(prompt_keys, data[:, 0])),
            response_keys=response_keys,
            at_chosen=pa.array(np.searchsorted(response_keys, data[:, 2])),
            at_rejected=pa.array(np.searchsorted(response_keys, data[:, 3])),
            annotator_keys=annotator_keys,
            at_annotator=pa.array(np.searchsorted(annotator_keys, data[:, 5])),
            texts=texts,
            prompt_of=prompt_of,
            completion_of=completion_of,
            pseudonyms=pseudonyms,
            splits=splits,
            at_rating=at_rating,
            combos=list(ratings.combos),
        )
        stats.add_pairs(prepared_chunk)
        yield prepared_chunk


def _pair_columns(
    c: PairChunk,
    value: Callable[[list, pa.DataType], pa.Array],
    *,
    schema: pa.Schema,
    scale: float | None,
) -> dict[str, tuple[pa.Array, pa.Array]]:
    """Every column of the chunk as (its distinct values, which one each row takes).
    `value(values, type)` makes the array of distinct values: the values themselves
    for Arrow, their JSON for the lines. chosen and rejected share one array of
    responses (and ids and models), taken by different rows."""
    types = {f.name: f.type for f in schema}
    ext_of = {rid: r[0] for rid, r in c.texts.responses.items()}
    model_of = {rid: r[1] for rid, r in c.texts.responses.items()}
    gap_keys, at_gap = c.small_ints(c.data[:, 4])
    version_keys, at_version = c.small_ints(c.data[:, 6])
    prompts = [int(k) for k in c.prompt_keys]
    responses = [int(k) for k in c.response_keys]
    first = schema.names[0]
    completion = value([c.completion_of[r] for r in responses], types["chosen"])
    ext = value([ext_of[r] for r in responses], pa.string())
    model = value([model_of[r] for r in responses], pa.string())
    result = {
        first: (value([c.prompt_of[p] for p in prompts], types[first]), c.at_prompt),
        "chosen": (completion, c.at_chosen),
        "rejected": (completion, c.at_rejected),
        "rank_gap": (value(gap_keys.tolist(), pa.int64()), at_gap),
        "prompt_id": (
            value([c.texts.prompts[p][0] for p in prompts], pa.string()),
            c.at_prompt,
        ),
        "chosen_id": (ext, c.at_chosen),
        "rejected_id": (ext, c.at_rejected),
        "chosen_model": (model, c.at_chosen),
        "rejected_model": (model, c.at_rejected),
        "annotator": (
            value([c.pseudonyms[int(a)] for a in c.annotator_keys], pa.string()),
            c.at_annotator,
        ),
        "guideline_version": (value(version_keys.tolist(), pa.int64()), at_version),
        "split": (value([c.splits[p] for p in prompts], pa.string()), c.at_prompt),
    }
    if c.at_rating is not None:
        at_c, at_r = c.at_rating
        means = value([combo[1] for combo in c.combos], pa.float64())
        listed = value([combo[0] for combo in c.combos], RATINGS)
        result["chosen_rating"] = (means, at_c)
        result["rejected_rating"] = (means, at_r)
        result["chosen_ratings"] = (listed, at_c)
        result["rejected_ratings"] = (listed, at_r)
    if scale is not None:
        result["margin"] = (value([scale * g for g in gap_keys.tolist()], pa.float64()), at_gap)
    return result


def pairwise_rows(
    project: Project,
    selection: Selection,
    test_fraction: float,
    shape: Shape,
    options: ExportOptions,
    *,
    hh: bool = False,
) -> Source:
    """One row per annotator and non-tied pair (ties too with `include_ties`, rank gap
    0, the lower-id response named chosen).

    Rows are many (a million for a big project) and repeat themselves (a prompt is in
    every pair of it, a response in every pair it takes part in), so both outputs are
    built a chunk at a time, column by column, with no Python object per row: Arrow
    record batches for Parquet, and the JSON lines assembled by Arrow from each
    distinct value's JSON (serialised once per chunk by orjson)."""
    filters = selection.filters
    rows = preferences(project, selection, ties=filters.include_ties)
    if filters.min_agreement is not None:
        rows = rows.filter(prompt__agreement__gte=filters.min_agreement)
    stats = Stats()
    ratings = Ratings(project)
    scale = options.margin.scale if options.margin is not None else None
    schema = hh_schema(options) if hh else pairwise_schema(shape, options)

    def chunks() -> Iterator[PairChunk]:
        return _pair_chunks(rows, project, test_fraction, shape, ratings, stats, hh=hh)

    def batch(chunk: PairChunk) -> pa.RecordBatch:
        cols = _pair_columns(chunk, pa.array, schema=schema, scale=scale)
        arrays = [values.take(at) for values, at in (cols[n] for n in schema.names)]
        return pa.RecordBatch.from_arrays(arrays, schema=schema)

    def as_json(values: list, _type: pa.DataType) -> pa.Array:
        return pa.array([orjson.dumps(v).decode() for v in values], pa.string())

    names = schema.names
    keys = [
        ("{" if i == 0 else ",") + orjson.dumps(name).decode() + ":" for i, name in enumerate(names)
    ]

    def lines(chunk: PairChunk) -> tuple[pa.Array, pa.Array]:
        """The chunk as JSON lines (one string a row, newline included) and the rows'
        splits: byte for byte what orjson.dumps(row) gives, keys in schema order. Arrow
        joins, for every row, each key with its value's JSON, taken from the chunk's
        distinct values."""
        import pyarrow.compute as pc

        cols = _pair_columns(chunk, as_json, schema=schema, scale=scale)
        pieces: list = []
        for key, name in zip(keys, names, strict=True):
            values, at = cols[name]
            pieces += [key, values.take(at)]
        joined = pc.binary_join_element_wise(*pieces, "}\n", "")
        split = pa.array([chunk.splits[int(p)] for p in chunk.prompt_keys]).take(chunk.at_prompt)
        return joined, split

    return Source(
        total=rows.count(),
        rows=None,
        batches=_ahead(chunks(), batch),
        lines=_ahead(chunks(), lines),
        schema=schema,
        stats=stats,
        conversational=shape.conversational,
        selection=selection,
    )


def _fetched_ahead(items: Iterator[T], fetch: Callable[[T], R]) -> Iterator[tuple[T, R]]:
    """(item, fetch(item)) for every item, in order, fetch running on a thread of its own
    with its own database connection, one item ahead: while this thread turns one chunk
    into rows, the next chunk's texts and ratings are read. Read inline, this thread
    waited for them for most of a second of a million-row export (bench/export.py:
    4.6-4.9 s instead of 5.2-5.4 s).

    Inside a transaction (a test, a caller's atomic block) another connection would not
    see its rows, so there fetch runs inline, to the same result."""
    if connection.in_atomic_block or not on_postgresql():
        for item in items:
            yield item, fetch(item)
        return
    # The thread's own connection is closed on that thread, when the items end.
    yield from _ahead(items, lambda item: (item, fetch(item)), depth=1, last=connections.close_all)


def _ahead(
    items: Iterator[T],
    work: Callable[[T], R],
    depth: int = 2,
    last: Callable[[], object] | None = None,
) -> Iterator[R]:
    """work(item) for every item, in order, on a second thread while this one makes the
    next items, at most `depth` ahead; `last()` runs on that thread once they end.
    Making a chunk is mostly waiting for the database and turning a chunk into rows
    mostly Arrow, both of which let the other thread run, so the two overlap on two
    cores. Unless it is _fetched_ahead's, `work` must not touch the database: the
    second thread would open a connection of its own (in a test, with no view of the
    test's transaction)."""
    with ThreadPoolExecutor(1, thread_name_prefix="export-rows") as pool:
        pending: deque[Future[R]] = deque()
        try:
            for item in items:
                pending.append(pool.submit(work, item))
                if len(pending) > depth:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            # Stopped early (a failed write): drop the waiting work and close the source,
            # and with it the database cursor it streams from.
            for future in pending:
                future.cancel()
            close = getattr(items, "close", None)
            if close is not None:
                close()
            if last is not None:
                pool.submit(last).result()


def _combo_indices(data: np.ndarray, cells: "RatingCells | None") -> tuple:
    """For every row (columns: prompt, annotation, chosen, rejected, ...), the ratings
    combo of its chosen and of its rejected response (0: no ratings), found by numpy
    over one integer key per (annotation, response) cell."""
    if cells is None or not len(cells.combos):
        zeros = pa.array(np.zeros(len(data), dtype=np.int64))
        return zeros, zeros
    width = int(max(cells.responses.max(), data[:, 2:4].max())) + 1
    keys = cells.annotations * width + cells.responses
    order = np.argsort(keys)
    keys, combos = keys[order], cells.combos[order]

    def side(column: int) -> pa.Array:
        wanted = data[:, 1] * width + data[:, column]
        at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
        return pa.array(np.where(keys[at] == wanted, combos[at], 0))

    return side(2), side(3)


def consensus_rows(
    project: Project,
    selection: Selection,
    test_fraction: float,
    shape: Shape,
    options: ExportOptions,
) -> Source:
    """One row per response pair of a prompt: the majority direction over its annotators.

    Every counted vote enters (ties too, whatever `include_ties` says); a pair whose
    decisive votes are even is a tie, kept only with `include_ties`; `min_agreement`
    drops pairs whose agreement is lower."""
    rows = preferences(project, selection, ties=True).annotate(
        low=Least("chosen_id", "rejected_id"), high=Greatest("chosen_id", "rejected_id")
    )
    stats = Stats()
    schema = consensus_schema(shape, options)
    make = _ConsensusRows(project, selection.filters, test_fraction, shape, options, stats)

    def generate() -> Iterator[dict]:
        stream = (
            rows.order_by("prompt_id", "low", "high", "annotation_id")
            .values_list("prompt_id", "low", "high", "chosen_id", "is_tie", "guideline_version")
            .iterator(chunk_size=CHUNK)
        )
        pending: list[tuple] = []
        for chunk in _chunks(stream):
            # A pair's votes may run across two chunks: hold the last pair back.
            rows_now = pending + chunk
            last = rows_now[-1][:3]
            cut = len(rows_now)
            while cut and rows_now[cut - 1][:3] == last:
                cut -= 1
            ready, pending = rows_now[:cut], rows_now[cut:]
            yield from make(ready)
        yield from make(pending)

    return Source(
        total=rows.count(),
        rows=generate(),
        schema=schema,
        stats=stats,
        conversational=shape.conversational,
        selection=selection,
    )


@dataclass
class _ConsensusRows:
    """The consensus rows of a run of votes ordered by prompt and pair."""

    project: Project
    filters: ExportFilters
    test_fraction: float
    shape: Shape
    options: ExportOptions
    stats: Stats

    def __call__(self, rows: list[tuple]) -> Iterator[dict]:
        if not rows:
            return
        texts = Texts.load(self.project, rows)
        index = 0
        while index < len(rows):
            key = rows[index][:3]
            votes = []
            while index < len(rows) and rows[index][:3] == key:
                votes.append(rows[index])
                index += 1
            row = self.row(texts, key, votes)
            if row is not None:
                self.stats.add(row)
                yield row

    def row(self, texts: Texts, key: tuple, votes: list[tuple]) -> dict | None:
        prompt_id, low, high = key
        low_votes = high_votes = ties = 0
        versions = set()
        for _p, _l, _h, chosen, is_tie, version in votes:
            if is_tie:
                ties += 1
            elif chosen == low:
                low_votes += 1
            else:
                high_votes += 1
            versions.add(version)
        if low_votes == high_votes and not self.filters.include_ties:
            return None
        total = low_votes + high_votes + ties
        agreement = max(low_votes, high_votes, ties) / total
        if self.filters.min_agreement is not None and agreement < self.filters.min_agreement:
            return None
        chosen, rejected = (high, low) if high_votes > low_votes else (low, high)
        votes_for, votes_against = max(low_votes, high_votes), min(low_votes, high_votes)
        vote_margin = round((votes_for - votes_against) / total, 6)
        ext, kind, content = texts.prompts[prompt_id]
        c_ext, c_model, c_text = texts.responses[chosen]
        r_ext, r_model, r_text = texts.responses[rejected]
        row = {
            self.shape.prompt_column: self.shape.prompt(kind, content),
            "chosen": self.shape.completion(c_text),
            "rejected": self.shape.completion(r_text),
            "vote_margin": vote_margin,
            "prompt_id": ext,
            "chosen_id": c_ext,
            "rejected_id": r_ext,
            "chosen_model": c_model,
            "rejected_model": r_model,
            "votes_for": votes_for,
            "votes_against": votes_against,
            "ties": ties,
            "agreement": round(agreement, 6),
            "guideline_versions": sorted(versions),
            "split": split_of(ext, self.test_fraction),
        }
        if self.options.margin is not None:
            row["margin"] = round(self.options.margin.scale * vote_margin, 6)
        return row


def annotation_rows(project: Project, selection: Selection, test_fraction: float) -> Source:
    """Every annotation as recorded, in one schema whatever the project: ratings,
    critiques and flags as lists of records naming the response by its external id, the
    prompt as messages, and the letters the rater saw."""
    rows = annotations(project, selection)
    stats = Stats()

    def generate() -> Iterator[dict]:
        stream = (
            rows.order_by("prompt_id", "id")
            .values_list(
                "prompt_id",
                "ranking",
                "ratings",
                "critiques",
                "flags",
                "comment",
                "seconds_spent",
                "display_order",
                "guideline_version",
                "annotator_id",
                "version",
                "rejected",
                "rejection_reason",
                "created_at",
            )
            .iterator(chunk_size=CHUNK)
        )
        order = {c["key"]: i for i, c in enumerate(project.criteria)}
        for chunk in _chunks(stream):
            texts = Texts.load(project, chunk)
            for (
                prompt_id, ranking, ratings, critiques, flags, comment, seconds, shown,
                version, annotator_id, edit, rejected, reason, created_at,
            ) in chunk:  # fmt: skip
                if not selection.filters.include_flagged and any(flags.values()):
                    continue
                ext_of = {rid: texts.responses[rid][0] for rid in texts.by_prompt[prompt_id]}
                letter_of = {rid: chr(ord("A") + i) for i, rid in enumerate(shown)}
                ext, kind, content = texts.prompts[prompt_id]
                row = {
                    "prompt_id": ext,
                    "prompt": chat_messages(kind, content),
                    "responses": [
                        {
                            "id": ext_of[rid],
                            "model": texts.responses[rid][1],
                            "text": texts.responses[rid][2],
                        }
                        for rid in texts.by_prompt[prompt_id]
                    ],
                    "letters": [
                        {"letter": letter_of[rid], "response_id": ext_of[rid]} for rid in shown
                    ],
                    "ranking": [[ext_of[rid] for rid in group] for group in ranking],
                    "ratings": [
                        {"response_id": ext_of[rid], "criterion": key, "value": scores[key]}
                        for rid, scores in sorted((int(r), s) for r, s in ratings.items())
                        for key in sorted(scores, key=lambda k: (order.get(k, len(order)), k))
                    ],
                    "critiques": [
                        {"response_id": ext_of[rid], "letter": letter_of.get(rid), "text": text}
                        for rid, text in sorted((int(r), t) for r, t in critiques.items())
                        if text
                    ],
                    "flags": [
                        {"response_id": None if key == "all" else ext_of[int(key)], "flag": flag}
                        for key, items in sorted(
                            flags.items(), key=lambda kv: (kv[0] != "all", kv[0].zfill(20))
                        )
                        for flag in items
                    ],
                    "comment": comment,
                    "seconds_spent": seconds,
                    "guideline_version": version,
                    "annotator": annotator_pseudonym(project, annotator_id),
                    "edit": edit,
                    "rejected": rejected,
                    "rejection_reason": reason,
                    "created_at": created_at.isoformat(),
                    "split": split_of(ext, test_fraction),
                }
                stats.add(row, annotator=annotator_id)
                yield row

    return Source(
        total=rows.count(),
        rows=generate(),
        schema=ANNOTATIONS_SCHEMA,
        stats=stats,
        conversational=True,
        selection=selection,
    )


def shape_for(project: Project, format: str, options: ExportOptions) -> Shape:
    """The shape the rows will take. Unset, `conversational` follows the data; a project
    with chat prompts cannot be written as strings (a string cannot hold the turns)."""
    chat = has_chat_prompts(project)
    conversational = options.conversational
    if conversational is None:
        conversational = chat or options.flavour != "trl"
    if chat and not conversational and format in ("pairwise", "consensus"):
        raise ExportInvalid(
            [("conversational", "The project has chat prompts: its rows must be conversational.")]
        )
    return Shape(conversational=conversational, flavour=options.flavour)


def rows_for(export: Export) -> Source:
    filters = filters_parse(export.filters, format=export.format)
    options = ExportOptions.from_dict(export.options)
    project = export.project
    selection = selection_for(project, filters)
    if export.format == "annotations":
        return annotation_rows(project, selection, export.test_fraction)
    shape = shape_for(project, export.format, options)
    if export.format == "consensus":
        return consensus_rows(project, selection, export.test_fraction, shape, options)
    return pairwise_rows(
        project, selection, export.test_fraction, shape, options, hh=export.format == "hh"
    )
