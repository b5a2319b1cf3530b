"""An export's whole life: export_create (checked, queued), export_build (the django-q2
task's work: rows to a temporary file, renamed when complete, manifest stored)."""

import hashlib
import os
from collections.abc import Callable, Iterator
from contextlib import suppress
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from itertools import islice
from pathlib import Path
from uuid import uuid4

import orjson
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django_q.tasks import async_task

from exports.filters import filters_parse
from exports.formats import parquet_schema, rows_for
from exports.models import Export
from labelling.models import AuditEvent, Project
from labelling.services import DomainError, audit_record, job_abandoned_after

PROGRESS_EVERY = 20_000
PARQUET_BATCH = 20_000


def export_create(
    *,
    project: Project,
    user: AbstractBaseUser | None,
    format: str,
    file_format: str,
    filters: object,
    test_fraction: float,
    now: datetime,
) -> Export:
    """Check the request, store the export as queued, and queue its build after commit.
    Raises DomainError for a bad format and FiltersInvalid for bad filters."""
    if format not in Export.Format.values:
        raise DomainError(
            _("Unknown format. Known: %(known)s.") % {"known": ", ".join(Export.Format.values)},
            field="format",
        )
    if file_format not in Export.FileFormat.values:
        raise DomainError(_("Use jsonl or parquet."), field="file_format")
    if file_format == Export.FileFormat.PARQUET and format not in ("pairwise", "consensus"):
        raise DomainError(
            _("Parquet is for the flat formats, pairwise and consensus."), field="file_format"
        )
    if isinstance(test_fraction, bool) or not 0 <= test_fraction <= 1:
        raise DomainError(_("A number from 0 to 1."), field="test_fraction")
    parsed = filters_parse(filters, format=format)
    export = Export.objects.create(
        project=project,
        created_by=user if user is not None and user.is_authenticated else None,
        format=format,
        file_format=file_format,
        filters=parsed.as_dict(),
        test_fraction=float(test_fraction),
        status=Export.Status.QUEUED,
        created_at=now,
    )
    audit_record(
        actor=user,
        verb=AuditEvent.Verb.EXPORT_MADE,
        obj=export,
        project=project,
        now=now,
        data={"format": format, "file_format": file_format, "filters": export.filters},
    )
    return export


def export_enqueue(export: Export) -> None:
    transaction.on_commit(
        lambda: async_task(
            "exports.tasks.export_build_task", export.pk, task_name=f"export-{export.pk}"
        )
    )


def export_path(export: Export) -> Path:
    path = Path(export.file)
    return path if path.is_absolute() else Path(settings.EXPORTS_DIR) / path


def export_build(
    *,
    export_id: int,
    out: Path | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> Export:
    """Build the export's file. Safe to run twice: only a queued export, or one whose
    build was abandoned by a dead worker, is claimed; anything else returns as it is.
    The file is written under a temporary name and renamed when complete, so no half
    file is ever served; a failure marks the export failed with the reason."""
    now = timezone.now()
    claimed = (
        Export.objects.filter(pk=export_id)
        .filter(
            Q(status=Export.Status.QUEUED)
            | Q(status=Export.Status.RUNNING, started_at__lt=now - job_abandoned_after())
        )
        .update(status=Export.Status.RUNNING, started_at=now, progress_done=0, error="")
    )
    export = Export.objects.select_related("project", "created_by").get(pk=export_id)
    if not claimed:
        return export
    target = out or Path(settings.EXPORTS_DIR) / export.filename
    partial = target.with_name(f".{target.name}.{uuid4().hex}.part")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # A build killed with its worker left its temporary file: this claim owns the
        # export now, so the leftovers of earlier tries go.
        for stale in target.parent.glob(f".{target.name}.*.part"):
            stale.unlink(missing_ok=True)
        source = rows_for(export)
        Export.objects.filter(pk=export.pk).update(progress_total=source.total)

        def progress(done: int) -> None:
            Export.objects.filter(pk=export.pk).update(progress_done=done)
            if on_progress is not None:
                on_progress(done, source.total)

        progress(0)
        conversational = source.conversational
        writer = _write_parquet if export.file_format == "parquet" else _write_jsonl
        digest = writer(source, partial, export.format, conversational, progress)
        stats = source.stats
        os.replace(partial, target)
    except Exception as error:
        with suppress(OSError):  # its folder may be what failed
            partial.unlink(missing_ok=True)
        Export.objects.filter(pk=export.pk).update(
            status=Export.Status.FAILED,
            error=f"{type(error).__name__}: {error}"[:2000],
            finished_at=timezone.now(),
        )
        raise
    finished = timezone.now()
    manifest = {
        "export_id": export.pk,
        "project": {"id": export.project_id, "name": export.project.name},
        "format": export.format,
        "file_format": export.file_format,
        "file": target.name,
        "sha256": digest,
        "filters": export.filters,
        "test_fraction": export.test_fraction,
        "conversational": conversational,
        "columns": source.columns,
        "counts": stats.counts(),
        "guideline_versions": sorted(stats.versions),
        "models": sorted(stats.models),
        "software": {"name": "rlhf-labelling", "version": _software_version()},
        "created_by": export.created_by.get_username() if export.created_by else "manage.py export",
        "created_at": export.created_at.isoformat(),
        "finished_at": finished.isoformat(),
    }
    stored = str(target) if out is not None else target.name
    Export.objects.filter(pk=export.pk).update(
        status=Export.Status.DONE,
        row_count=stats.counts()["rows"],
        sha256=digest,
        manifest=manifest,
        file=stored,
        progress_done=source.total,
        finished_at=finished,
    )
    export.refresh_from_db()
    return export


def _write_jsonl(source, path: Path, format: str, conversational: bool, progress) -> str:
    """Write the rows as JSON lines; returns the file's sha256, taken as it is written
    (reading a file of hundreds of megabytes back to hash it cost a tenth of the time)."""
    done = 0
    digest = hashlib.sha256()
    dumps, newline = orjson.dumps, orjson.OPT_APPEND_NEWLINE
    with open(path, "wb") as out:
        lines = []
        for row in source.rows:
            lines.append(dumps(row, option=newline))
            done += 1
            if done % 2000 == 0:
                block = b"".join(lines)
                out.write(block)
                digest.update(block)
                lines = []
                if done % PROGRESS_EVERY == 0:
                    progress(done)
        block = b"".join(lines)
        out.write(block)
        digest.update(block)
    return digest.hexdigest()


def _write_parquet(source, path: Path, format: str, conversational: bool, progress) -> str:
    import pyarrow.parquet as pq

    schema = parquet_schema(format, conversational)
    done = 0
    if source.batches is not None:
        batches = source.batches
    else:
        batches = (_record_batch(block, schema) for block in _blocks(source))
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for batch in batches:
            writer.write_batch(batch)
            done += batch.num_rows
            progress(done)
        if not done:
            writer.write_batch(_record_batch({name: [] for name in schema.names}, schema))
    return _sha256(path)


def _blocks(source) -> Iterator[dict[str, list]]:
    """Rows in blocks of columns, for formats that make rows one by one (consensus)."""
    while rows := list(islice(source.rows, PARQUET_BATCH)):
        yield {name: [row[name] for row in rows] for name in source.columns}


def _record_batch(block: dict[str, list], schema):
    """Rows as an Arrow record batch, column by column. Message lists are assembled from
    flat role and content arrays and their offsets: pyarrow's generic conversion of
    nested dictionaries was the slowest step of a Parquet export."""
    import pyarrow as pa

    arrays = []
    for field in schema:
        column = block[field.name]
        if pa.types.is_list(field.type) and pa.types.is_struct(field.type.value_type):
            offsets, roles, contents = [0], [], []
            for messages in column:
                for message in messages:
                    roles.append(message["role"])
                    contents.append(message["content"])
                offsets.append(len(roles))
            values = pa.StructArray.from_arrays(
                [pa.array(roles, pa.string()), pa.array(contents, pa.string())],
                fields=list(field.type.value_type),
            )
            arrays.append(pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values))
        else:
            arrays.append(pa.array(column, field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as data:
        while chunk := data.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _software_version() -> str:
    try:
        return version("rlhf-labelling")
    except PackageNotFoundError:
        return "unknown"
