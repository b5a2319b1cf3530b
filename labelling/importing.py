"""Prompt import (design §4): one JSONL line per prompt with its responses.

One code path behind every door (management command, API, upload form):
`prompts_import` reads the lines as a stream, checks each one, and inserts in batches
inside one transaction. Any bad line rolls the whole file back and every bad line is
reported with its number, field and reason. Memory stays bounded: only the ids seen so
far and one batch are held, never the file.
"""

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, TYPE_CHECKING, Annotated, Any, Literal

import orjson
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection, reset_queries, transaction
from django.db import models as db_models
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from core.audit import audit_record
from core.db import on_postgresql
from core.models import AuditEvent
from labelling.inputs import json_problems
from labelling.models import Project, Prompt, Response
from labelling.near_duplicates import near_duplicates_request
from labelling.scoring import scoring_available, scoring_request

if TYPE_CHECKING:
    from psycopg import sql

BATCH_SIZE = 1000
_BOM = b"\xef\xbb\xbf"

Id = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ChatMessage(_Strict):
    role: Literal["system", "user", "assistant"]
    content: Annotated[str, StringConstraints(min_length=1)]


class ResponseIn(_Strict):
    external_id: Id
    model: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    text: str
    metadata: dict[str, Any] = Field(default_factory=dict)


class PromptIn(_Strict):
    external_id: Id
    prompt: Annotated[str, StringConstraints(min_length=1)] | list[ChatMessage]
    responses: list[ResponseIn]
    metadata: dict[str, Any] = Field(default_factory=dict)
    gold: list[list[str]] | None = None


@dataclass(frozen=True)
class LineError:
    line: int | None  # None: the file as a whole
    field: str
    message: str

    def as_dict(self) -> dict:
        return {"line": self.line, "field": self.field, "message": self.message}


@dataclass
class ImportResult:
    created: int = 0
    unchanged: int = 0
    # What an import lets through but reports (issue 18, point 6): the first
    # IMPORT_MAX_ERRORS, and how many there were.
    warnings: list[LineError] = field(default_factory=list)
    warnings_total: int = 0


class _Sameness:
    """Prompts of one file that repeat another's words, and items whose responses are
    the same text: reported, not refused (a repeated prompt can be meant, a duplicate
    response makes a pair nobody can rank)."""

    def __init__(self, result: ImportResult, limit: int) -> None:
        self.result = result
        self.limit = limit
        self.seen: dict[str, tuple[int, str]] = {}

    def warn(self, line: int, field_: str, message: str) -> None:
        self.result.warnings_total += 1
        if len(self.result.warnings) < self.limit:
            self.result.warnings.append(LineError(line, field_, message))

    def check(self, line: int, item: "PromptIn") -> str:
        """Warn of repeats within the file; returns the prompt's words_key, by which the
        importer looks for repeats of prompts imported before."""
        content = (
            [m.model_dump() for m in item.prompt] if isinstance(item.prompt, list) else item.prompt
        )
        key = Prompt.words_key_of(Prompt.words_of(content))
        if key in self.seen:
            first_line, first_id = self.seen[key]
            self.warn(
                line,
                "prompt",
                _("the same prompt as %(id)s (line %(line)d)")
                % {"id": repr(first_id), "line": first_line},
            )
        else:
            self.seen[key] = (line, item.external_id)
        texts: dict[str, str] = {}
        for response in item.responses:
            # Byte for byte but for the ends: responses are long and many, and a model
            # repeating another's output repeats it exactly.
            same = texts.setdefault(response.text.strip(), response.external_id)
            if same != response.external_id:
                self.warn(
                    line,
                    "responses",
                    _("responses %(a)s and %(b)s are the same text: no one can rank them")
                    % {"a": repr(same), "b": repr(response.external_id)},
                )
        return key

    def check_earlier(
        self, project: Project, now: datetime, batch: list[tuple[int, "PromptIn", str, str]]
    ) -> None:
        """Warn of prompts of this batch whose words repeat a prompt imported before (one
        indexed lookup a batch); a re-imported prompt is not its own repeat, and one of
        this file's earlier batches was warned of already."""
        if not batch:
            return
        keys = {key for _line, _item, _digest, key in batch}
        earlier: dict[str, str] = {}
        for key, external_id in (
            Prompt.objects.filter(project=project, words_key__in=keys)
            .exclude(external_id__in=[item.external_id for _line, item, _digest, _key in batch])
            .exclude(created_at=now)
            .order_by("id")
            .values_list("words_key", "external_id")
        ):
            earlier.setdefault(key, external_id)
        for line, _item, _digest, key in batch:
            if key in earlier:
                self.warn(
                    line,
                    "prompt",
                    _("the same prompt as %(id)s, imported before") % {"id": repr(earlier[key])},
                )


class ImportRejected(Exception):
    """The file had bad lines; nothing was imported."""

    def __init__(self, errors: list[LineError], total: int) -> None:
        super().__init__(f"{total} problem(s) in the file; nothing was imported.")
        self.errors = errors
        self.total = total


@dataclass
class _Report:
    limit: int
    errors: list[LineError] = field(default_factory=list)
    total: int = 0

    def add(self, line: int | None, field_: str, message: str) -> None:
        self.total += 1
        if len(self.errors) < self.limit:
            self.errors.append(LineError(line, field_, message))


def iter_lines(stream: IO[bytes], *, max_bytes: int) -> Iterator[tuple[int, bytes | None]]:
    """(line number, bytes) for each line; bytes is None for a line over `max_bytes`,
    which is skipped without ever being held whole."""
    number = 0
    while True:
        line = stream.readline(max_bytes + 1)
        if not line:
            return
        number += 1
        if isinstance(line, str):
            line = line.encode()
        if len(line) > max_bytes and not line.endswith(b"\n"):
            while True:  # drain the rest of the over-long line in bounded chunks
                rest = stream.readline(max_bytes)
                if not rest or rest.endswith(b"\n"):
                    break
            yield number, None
            continue
        yield number, line


_WRONG_BRANCH = {"string_type", "list_type"}
_PROMPT_SHAPE = gettext_lazy("must be a non-empty string or a list of {role, content} messages")


def _problems(error: ValidationError) -> list[tuple[str, str]]:
    """pydantic's errors as (field, message) in the terms of the import format.

    `prompt` is a string or a chat, so pydantic reports a failure under both union
    branches ("prompt.str", "prompt.list[ChatMessage].0.role"); keep the branch the
    input was meant for, and name fields as the format does.
    """
    raw = error.errors(include_url=False)
    prompt_deep = any(e["loc"][:1] == ("prompt",) and e["type"] not in _WRONG_BRANCH for e in raw)
    problems: list[tuple[str, str]] = []
    for e in raw:
        loc = e["loc"]
        if loc[:1] == ("prompt",) and len(loc) > 1:
            if e["type"] in _WRONG_BRANCH and len(loc) == 2:
                if prompt_deep:
                    continue  # the error of the branch the input was not meant for
                problems.append(("prompt", str(_PROMPT_SHAPE)))
                continue
            loc = ("prompt", *loc[2:])
        where = ".".join(str(part) for part in loc)
        if e["type"] == "json_invalid":
            message = _("not valid JSON (%(error)s)") % {"error": e["ctx"].get("error", "?")}
        elif e["type"] == "model_type" and not where:
            message = _("each line must be a JSON object")
        else:
            message = e["msg"]
        problems.append((where, message))
    return list(dict.fromkeys(problems))


def _check_line(raw: bytes, line: int, project: Project, report: _Report) -> PromptIn | None:
    try:
        item = PromptIn.model_validate_json(raw)
    except ValidationError as error:
        for where, message in _problems(error):
            report.add(line, where, message)
        return None

    ok = _check_text(item, line, report)
    expected = project.responses_per_prompt
    if len(item.responses) != expected:
        report.add(
            line,
            "responses",
            _("expected %(expected)d responses (the project's setting), got %(got)d")
            % {"expected": expected, "got": len(item.responses)},
        )
        ok = False
    first_at: dict[str, int] = {}
    for i, response in enumerate(item.responses):
        if response.external_id in first_at:
            report.add(
                line,
                f"responses.{i}.external_id",
                _("duplicate response id %(id)s (also responses.%(other)d)")
                % {"id": repr(response.external_id), "other": first_at[response.external_id]},
            )
            ok = False
        else:
            first_at[response.external_id] = i
    if isinstance(item.prompt, list):
        if not item.prompt:
            report.add(line, "prompt", _("a chat prompt needs at least one message"))
            ok = False
        elif item.prompt[-1].role != "user":
            report.add(
                line,
                f"prompt.{len(item.prompt) - 1}.role",
                "a chat prompt must end with a user message: the responses answer it",
            )
            ok = False
    if item.gold is not None:
        ok = _check_gold(item, item.gold, line, project, report) and ok
    return item if ok else None


def _check_text(item: PromptIn, line: int, report: _Report) -> bool:
    """The strict input layer (labelling.inputs) over a line: no NUL, control characters
    or lone surrogates anywhere, metadata nested at most MAX_DEPTH deep, and no
    direction overrides in ids (model output and model names may hold them: they are
    shown escaped, as written)."""
    problems: list[tuple[str, str]] = []
    names = [("external_id", item.external_id)]
    texts: list[tuple[str, object]] = [("metadata", item.metadata), ("gold", item.gold)]
    if isinstance(item.prompt, str):
        texts.append(("prompt", item.prompt))
    else:
        texts += [(f"prompt.{i}.content", m.content) for i, m in enumerate(item.prompt)]
    for i, response in enumerate(item.responses):
        names.append((f"responses.{i}.external_id", response.external_id))
        texts += [
            (f"responses.{i}.model", response.model),
            (f"responses.{i}.text", response.text),
            (f"responses.{i}.metadata", response.metadata),
        ]
    for where, value in names:
        problems += json_problems(value, path=where)
    for where, content in texts:
        problems += json_problems(content, path=where, typed=False)
    for where, message in sorted(set(problems)):
        report.add(line, where, message)
    return not problems


def _check_gold(
    item: PromptIn, gold: list[list[str]], line: int, project: Project, report: _Report
) -> bool:
    ids = [response.external_id for response in item.responses]
    flat = [rid for group in gold for rid in group]
    problems = []
    if any(not group for group in gold):
        problems.append(_("groups must not be empty"))
    unknown = sorted(set(flat) - set(ids))
    if unknown:
        problems.append(_("unknown response id(s) %(ids)s") % {"ids": _listed(unknown)})
    repeated = sorted({rid for rid in flat if flat.count(rid) > 1})
    if repeated:
        problems.append(
            _("response id(s) %(ids)s appear more than once") % {"ids": _listed(repeated)}
        )
    missing = [rid for rid in ids if rid not in flat]
    if missing and not unknown:
        problems.append(_("response id(s) %(ids)s are not ranked") % {"ids": _listed(missing)})
    if not project.allow_ties and any(len(group) > 1 for group in gold):
        problems.append(_("this project does not allow ties"))
    for problem in problems:
        report.add(
            line,
            "gold",
            _("must rank every response exactly once: %(problem)s") % {"problem": problem},
        )
    return not problems


def _listed(ids: list[str]) -> str:
    return ", ".join(map(repr, ids))


def content_hash(item: PromptIn) -> str:
    """sha256 of the item's canonical JSON: defaults filled in, keys sorted, so the same
    content hashes the same however the file spelled it."""
    return hashlib.sha256(orjson.dumps(item.model_dump(), option=orjson.OPT_SORT_KEYS)).hexdigest()


class _Importer:
    def __init__(self, project: Project, now: datetime, report: _Report) -> None:
        self.project = project
        self.now = now
        self.report = report
        self.result = ImportResult()
        self.sameness = _Sameness(self.result, settings.IMPORT_MAX_ERRORS)
        self.batch: list[tuple[int, PromptIn, str, str]] = []
        # Imports into one project are serialised (the caller holds the project's row lock),
        # so a project empty now stays empty but for us: no id in the file can be known.
        self.project_was_empty = not Prompt.objects.filter(project=project).exists()

    def add(self, line: int, item: PromptIn) -> None:
        key = self.sameness.check(line, item)
        self.batch.append((line, item, content_hash(item), key))
        if len(self.batch) >= BATCH_SIZE:
            self.flush()

    def flush(self) -> None:
        if not self.batch:
            return
        batch, self.batch = self.batch, []
        known = {}
        if not self.project_was_empty:
            known = dict(
                Prompt.objects.filter(
                    project=self.project,
                    external_id__in=[item.external_id for _line, item, _digest, _key in batch],
                ).values_list("external_id", "content_hash")
            )
            # Only prompts this import creates: one sent again unchanged was warned of
            # when it was first imported.
            self.sameness.check_earlier(
                self.project, self.now, [row for row in batch if row[1].external_id not in known]
            )
        fresh = []
        for line, item, digest, key in batch:
            if item.external_id not in known:
                fresh.append((item, digest, key))
            elif known[item.external_id] == digest:
                self.result.unchanged += 1
            else:
                self.report.add(
                    line,
                    "external_id",
                    _(
                        "prompt %(id)s was imported before with different content; "
                        "a changed prompt needs a new external id"
                    )
                    % {"id": repr(item.external_id)},
                )
        # Once the file is known to be bad it will be rolled back: only keep checking.
        if fresh and not self.report.total:
            self._insert(fresh)
        if settings.DEBUG:
            # With DEBUG on Django keeps the last 9,000 statements, and a bulk INSERT holds
            # a whole batch's text: without this a large import grows without bound.
            reset_queries()

    def _insert(self, fresh: list[tuple[PromptIn, str, str]]) -> None:
        if on_postgresql():
            self._insert_by_copy(fresh)
        else:
            self._insert_by_orm(fresh)
        self.result.created += len(fresh)

    @staticmethod
    def _content(item: PromptIn) -> tuple[str, object]:
        if isinstance(item.prompt, list):
            return Prompt.Kind.CHAT, [message.model_dump() for message in item.prompt]
        return Prompt.Kind.TEXT, item.prompt

    def _insert_by_orm(self, fresh: list[tuple[PromptIn, str, str]]) -> None:
        prompts = []
        for item, digest, key in fresh:
            kind, content = self._content(item)
            prompts.append(
                Prompt(
                    project_id=self.project.pk,
                    external_id=item.external_id,
                    kind=kind,
                    content=content,
                    search_text=Prompt.words_of(content),
                    words_key=key,
                    metadata=item.metadata,
                    gold=item.gold,
                    content_hash=digest,
                    target=self.project.annotations_per_prompt,
                    created_at=self.now,
                )
            )
        Prompt.objects.bulk_create(prompts)
        Response.objects.bulk_create(
            [
                Response(
                    prompt_id=prompt.pk,
                    external_id=response.external_id,
                    model_name=response.model,
                    text=response.text,
                    metadata=response.metadata,
                    position=position,
                )
                for prompt, (item, _digest, _key) in zip(prompts, fresh, strict=True)
                for position, response in enumerate(item.responses)
            ],
            batch_size=BATCH_SIZE * 4,
        )

    def _insert_by_copy(self, fresh: list[tuple[PromptIn, str, str]]) -> None:
        """PostgreSQL's COPY, about five times faster than INSERTs built by the ORM.

        COPY returns no ids, so the prompts' ids are drawn from their sequence first and
        written explicitly; the responses then point at them.
        """

        def dumps(value: object) -> str | None:
            return None if value is None else orjson.dumps(value).decode()

        prompt_columns = _columns(
            Prompt,
            "id project external_id kind content search_text words_key metadata gold content_hash "
            "retired "
            "live_count target created_at",
        )
        response_columns = _columns(
            Response, "prompt external_id model_name text metadata position"
        )
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                [Prompt._meta.db_table, len(fresh)],
            )
            ids = [row[0] for row in cursor.fetchall()]
            raw = cursor.cursor
            with raw.copy(_copy_sql(Prompt, prompt_columns)) as copy:
                for pk, (item, digest, key) in zip(ids, fresh, strict=True):
                    kind, content = self._content(item)
                    copy.write_row(
                        (
                            pk,
                            self.project.pk,
                            item.external_id,
                            kind,
                            dumps(content),
                            Prompt.words_of(content),
                            key,
                            dumps(item.metadata),
                            dumps(item.gold),
                            digest,
                            False,
                            0,
                            self.project.annotations_per_prompt,
                            self.now,
                        )
                    )
            with raw.copy(_copy_sql(Response, response_columns)) as copy:
                for pk, (item, _digest, _key) in zip(ids, fresh, strict=True):
                    for position, response in enumerate(item.responses):
                        copy.write_row(
                            (
                                pk,
                                response.external_id,
                                response.model,
                                response.text,
                                dumps(response.metadata),
                                position,
                            )
                        )


def _columns(model: type[db_models.Model], names: str) -> list[str]:
    columns = []
    for name in names.split():
        field = model._meta.get_field(name)
        assert isinstance(field, db_models.Field) and field.column is not None  # a concrete column
        columns.append(field.column)
    return columns


def _copy_sql(model: type[db_models.Model], columns: list[str]) -> "sql.Composed":
    from psycopg import sql

    return sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(model._meta.db_table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )


ANALYZE_AFTER = 1000  # prompts created by one import


# Files people pick by mistake, by their first bytes.
_SIGNATURES = [
    (b"PK\x03\x04", gettext_lazy("it is a zip archive (or a spreadsheet, which is one)")),
    (b"\x1f\x8b", gettext_lazy("it is gzip-compressed; unpack it first")),
    (b"PAR1", gettext_lazy("it is a Parquet file")),
    (b"%PDF", gettext_lazy("it is a PDF document")),
    (b"\x89PNG", gettext_lazy("it is a PNG image")),
    (b"\xd0\xcf\x11\xe0", gettext_lazy("it is an old Office document")),
]


def not_jsonl(first: bytes) -> str:
    """What the file is instead, judged by its first line, or "" if it may be JSON
    lines: binary (a known signature, a NUL byte, not UTF-8), CSV or TSV (a first line
    of separated names, not an object), or one JSON array."""
    if first.lstrip().startswith(b"{"):
        return ""  # an object: its line's own checks say what is wrong with it, if anything
    for signature, kind in _SIGNATURES:
        if first.startswith(signature):
            return str(kind)
    if b"\x00" in first:
        return _("it holds binary data (NUL bytes), not text")
    try:
        text = first.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(first) - 3:  # not merely a character cut at the line's end
            return _("it is not UTF-8 text")
        text = first[: error.start].decode("utf-8")
    head = text.strip()
    if head.startswith("["):
        return _("it is one JSON array; put one JSON object on each line instead")
    if "," in head or "\t" in head:
        return _("its first line looks like CSV or TSV (columns, not a JSON object)")
    return ""


def _prompts_read(
    lines: Iterable[tuple[int, bytes | None]],
    project: Project,
    report: _Report,
    *,
    max_bytes: int,
) -> Iterator[tuple[int, PromptIn]]:
    """The stream's prompts, checked line by line, each external id once: every bad line
    goes to the report instead, and reading stops at the size limit."""
    first_line_of: dict[str, int] = {}
    read = 0
    for number, raw in lines:
        read += max_bytes if raw is None else len(raw)
        if read > settings.IMPORT_MAX_BYTES:
            # Refused as it streams in: nothing is imported, nothing more is read.
            report.add(
                number,
                "file",
                _("the file is larger than %(size)s; split it into several imports")
                % {"size": filesizeformat(settings.IMPORT_MAX_BYTES)},
            )
            break
        if raw is None:
            report.add(number, "", _("line longer than %(n)d bytes") % {"n": max_bytes})
            continue
        if number == 1 and raw.startswith(_BOM):
            raw = raw[len(_BOM) :]
        if number == 1 and (kind := not_jsonl(raw)):
            # Not worth a report per line: a spreadsheet or an archive is one mistake.
            report.add(None, "file", _("this is not a JSONL text file: %(kind)s") % {"kind": kind})
            break
        if not raw.strip():
            continue  # blank lines, such as a trailing one, carry nothing
        item = _check_line(raw, number, project, report)
        if item is None:
            continue
        if item.external_id in first_line_of:
            report.add(
                number,
                "external_id",
                _("prompt %(id)s appears twice in the file (first on line %(line)d)")
                % {"id": repr(item.external_id), "line": first_line_of[item.external_id]},
            )
            continue
        first_line_of[item.external_id] = number
        yield number, item


def prompts_import(
    *,
    project: Project,
    stream: IO[bytes],
    actor: User | None,
    now: datetime,
    source: str = "",
    lines: Iterable[tuple[int, bytes | None]] | None = None,
) -> ImportResult:
    """Import a JSONL stream of prompts into `project`, all or nothing.

    Returns the counts of created and unchanged prompts, or raises ImportRejected with
    every bad line (the first IMPORT_MAX_ERRORS of them) and imports nothing.
    `lines` lets a caller wrap `iter_lines` (a progress bar, say).
    """
    report = _Report(limit=settings.IMPORT_MAX_ERRORS)
    max_bytes = settings.IMPORT_MAX_LINE_BYTES
    if lines is None:
        lines = iter_lines(stream, max_bytes=max_bytes)
    with transaction.atomic():
        # Serialise imports into one project: two at once could both find an id new.
        # NO KEY UPDATE: it does not block rows that merely reference the project
        # (assignments being leased while an import runs).
        project = Project.objects.select_for_update(no_key=True).get(pk=project.pk)
        importer = _Importer(project, now, report)
        prompts = 0
        for number, item in _prompts_read(lines, project, report, max_bytes=max_bytes):
            importer.add(number, item)
            prompts += 1
        importer.flush()
        if not prompts and not report.total:
            report.add(None, "file", _("the file holds no prompts"))
        if report.total:
            raise ImportRejected(report.errors, report.total)  # rolls everything back
        result = importer.result
        audit_record(
            actor=actor,
            verb=AuditEvent.Verb.PROMPTS_IMPORTED,
            obj=project,
            project=project,
            now=now,
            data={
                "created": result.created,
                "unchanged": result.unchanged,
                "warnings": result.warnings_total,
                "source": source,
            },
        )
    if result.created >= ANALYZE_AFTER and on_postgresql():
        # COPY leaves the planner's statistics saying the tables are nearly empty until
        # autovacuum passes by, and the queries right after an import (the scoring job it
        # starts, the queue) were planned for that: a hash join over every response
        # instead of an index walk. Sampling the two tables takes a fraction of a second.
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {Prompt._meta.db_table}, {Response._meta.db_table}")
    if result.created:
        # Near-duplicates of the new prompts, among all of the project's: in the
        # background (labelling.near_duplicates), the prompts page shows them.
        near_duplicates_request(project=project, now=now)
    if result.created and project.reward_model and scoring_available():
        # New responses for the project's reward model: score them in the background.
        scoring_request(project=project, user=actor, now=now)
    return result
