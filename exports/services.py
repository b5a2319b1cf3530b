"""An export's whole life: export_create (checked, queued), export_build (the django-q2
task's work: rows to a temporary file or folder, packed and renamed when complete,
manifest stored)."""

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from uuid import uuid4

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django_q.tasks import async_task

from core.audit import audit_record, signed_in
from core.errors import DomainError
from core.jobs import JobLife
from core.models import AuditEvent
from exports import formats
from exports.card import dataset_card, llamafactory_entry
from exports.filters import ExportInvalid, filters_parse
from exports.formats import Source, has_chat_prompts, rows_for, selection_for
from exports.models import Export
from exports.options import PREFERENCE_FORMATS, options_parse
from exports.writers import (
    SPLITS,
    Archive,
    FileFacts,
    Target,
    Written,
    data_file_name,
    write_rows,
)
from labelling.models import Project
from ranking.raters import rater_filters_check

EXPORT_LIFE = JobLife(Export)


def export_create(
    *,
    project: Project,
    user: User | AnonymousUser | None,
    format: str,
    file_format: str,
    filters: object,
    test_fraction: float,
    now: datetime,
    flavour: object = None,
    conversational: object = None,
    margin: object = None,
) -> Export:
    """Check the request, store the export as queued, and queue its build after commit.
    Raises DomainError for a bad format and ExportInvalid for bad filters or options."""
    if format not in Export.Format.values:
        raise DomainError(
            _("Unknown format. Known: %(known)s.") % {"known": ", ".join(Export.Format.values)},
            field="format",
        )
    if file_format not in Export.FileFormat.values:
        raise DomainError(_("Use jsonl or parquet."), field="file_format")
    if isinstance(test_fraction, bool) or not 0 <= test_fraction <= 1:
        raise DomainError(_("A number from 0 to 1."), field="test_fraction")
    errors: list[tuple[str, str]] = []
    try:
        parsed = filters_parse(filters, format=format)
    except ExportInvalid as invalid:
        errors.extend(invalid.errors)
        parsed = None
    try:
        options = options_parse(
            format=format, flavour=flavour, conversational=conversational, margin=margin
        )
    except ExportInvalid as invalid:
        errors.extend(invalid.errors)
        options = None
    if parsed is not None:
        errors.extend(
            rater_filters_check(project=project, filters=parsed.raters, prefix="filters.")
        )
    if (
        options is not None
        and options.conversational is False
        and format in PREFERENCE_FORMATS
        and has_chat_prompts(project)
    ):
        errors.append(
            (
                "conversational",
                _("The project has chat prompts: a string cannot hold their turns."),
            )
        )
    if errors:
        raise ExportInvalid(errors)
    assert parsed is not None and options is not None
    export = Export.objects.create(
        project=project,
        created_by=signed_in(user),
        format=format,
        file_format=file_format,
        filters=parsed.as_dict(),
        options=options.as_dict(),
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
        data={
            "format": format,
            "file_format": file_format,
            "filters": export.filters,
            "options": export.options,
        },
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
    claimed = EXPORT_LIFE.claim(export_id, now=timezone.now(), progress_done=0, error="")
    export = Export.objects.select_related("project", "created_by").get(pk=export_id)
    if not claimed:
        return export
    target = out or Path(settings.EXPORTS_DIR) / export.filename
    partial = target.with_name(f".{target.name}.{uuid4().hex}.part")
    workdir = target.with_name(f".{target.name}.{uuid4().hex}.d")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # A build killed with its worker left its temporary files: this claim owns the
        # export now, so the leftovers of earlier tries go.
        for stale in target.parent.glob(f".{target.name}.*.part"):
            stale.unlink(missing_ok=True)
        for stale in target.parent.glob(f".{target.name}.*.d"):
            shutil.rmtree(stale, ignore_errors=True)
        source = rows_for(export)
        EXPORT_LIFE.progress(export.pk, total=source.total)

        def progress(done: int) -> None:
            EXPORT_LIFE.progress(export.pk, done=done)
            if on_progress is not None:
                on_progress(done, source.total)

        progress(0)
        manifest, digest = _write(export, source, target, partial, workdir, progress)
        os.replace(partial, target)
    except Exception as error:
        with suppress(OSError):  # its folder may be what failed
            partial.unlink(missing_ok=True)
        shutil.rmtree(workdir, ignore_errors=True)
        message = (
            "; ".join(f"{f}: {m}" for f, m in error.errors)
            if isinstance(error, ExportInvalid)
            else f"{type(error).__name__}: {error}"
        )
        EXPORT_LIFE.fail(export.pk, error=message, now=timezone.now())
        raise
    shutil.rmtree(workdir, ignore_errors=True)
    finished = timezone.now()
    manifest["sha256"] = digest
    manifest["finished_at"] = finished.isoformat()
    stored = str(target) if out is not None else target.name
    EXPORT_LIFE.finish(
        export.pk,
        now=finished,
        row_count=manifest["counts"]["rows"],
        sha256=digest,
        manifest=manifest,
        file=stored,
        progress_done=source.total,
    )
    export.refresh_from_db()
    return export


def _write(
    export: Export,
    source: Source,
    target: Path,
    partial: Path,
    workdir: Path,
    progress: Callable[[int], None],
) -> tuple[dict, str]:
    """Write the rows (and for a folder, its card and trainer config, all in one
    archive) under temporary names; returns the manifest and the sha256 of what will be
    served."""
    ext = export.file_format
    if not export.is_folder:
        written = write_rows(source, {"all": partial}, ext, progress)
        files = [_facts(target.name, None, written["all"])]
        return _manifest(export, source, target, files), files[0].sha256
    # The folder is the archive: JSON lines of the train split go straight into it, the
    # other splits (and Parquet, which is small) into files copied in after.
    archive = Archive(partial)
    try:
        targets: dict[str, Target] = {
            split: workdir / data_file_name(split, ext) for split in SPLITS
        }
        for path in targets.values():
            path.parent.mkdir(parents=True, exist_ok=True)  # type: ignore[union-attr]
        if ext == "jsonl":
            targets["train"] = archive.stream(data_file_name("train", ext))
        written = write_rows(source, targets, ext, progress)
        for split, path in targets.items():
            if isinstance(path, Path):
                archive.copy(data_file_name(split, ext), path)
        files = [
            _facts(data_file_name(split, ext), split, facts) for split, facts in written.items()
        ]
        manifest = _manifest(export, source, target, files)
        extra = {"README.md": dataset_card(manifest=manifest, schema=source.schema, files=files)}
        if export.options.get("flavour") == "llamafactory":
            extra["dataset_info.json"] = (
                json.dumps(manifest["trainer"]["dataset_info"], indent=2, ensure_ascii=False) + "\n"
            )
        for name, text in extra.items():
            archive.text(name, text)
            data = text.encode()
            manifest["files"].append(
                FileFacts(
                    path=name, split=None, rows=0, bytes=len(data), sha256=_sha_bytes(data)
                ).as_dict()
            )
    except BaseException:
        archive.abandon()
        raise
    return manifest, archive.close()


def _facts(path: str, split: str | None, written: Written) -> FileFacts:
    return FileFacts(
        path=path, split=split, rows=written.rows, bytes=written.bytes, sha256=written.sha256
    )


def _sha_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _manifest(export: Export, source: Source, target: Path, files: list[FileFacts]) -> dict:
    stats = source.stats
    selection = source.selection
    options = dict(export.options)
    manifest = {
        "export_id": export.pk,
        "project": {"id": export.project_id, "name": export.project.name},
        "format": export.format,
        "file_format": export.file_format,
        "layout": "folder" if export.is_folder else "file",
        "file": target.name,
        "filters": export.filters,
        "options": options,
        "test_fraction": export.test_fraction,
        "conversational": source.conversational,
        "columns": source.columns,
        "counts": stats.counts(),
        "gold": {"prompts": selection.gold_prompts, "included": selection.filters.include_gold},
        "retired": {"prompts": selection.retired_prompts, "included": False},
        "raters": {"flagged_left_out": list(selection.raters.flagged_left_out)},
        "files": [f.as_dict() for f in files],
        "guideline_versions": sorted(stats.versions),
        "models": sorted(stats.models),
        "software": {"name": "rlhf-labelling", "version": _software_version()},
        "trainer": _trainer_hints(export, files),
        "created_by": export.created_by.get_username() if export.created_by else "manage.py export",
        "created_at": export.created_at.isoformat(),
    }
    return manifest


def _trainer_hints(export: Export, files: list[FileFacts]) -> dict:
    """What a trainer needs beside the rows: LLaMA-Factory's dataset entry, OpenRLHF's
    key flags (README: "Training on an export")."""
    flavour = export.options.get("flavour", "trl")
    if flavour == "llamafactory":
        name = slugify(f"{export.project.name}-{export.format}").replace("-", "_") or "export"
        return {"dataset_info": llamafactory_entry(name=name, files=files)}
    if flavour == "openrlhf":
        flags = [
            "--data.prompt_key prompt",
            "--data.chosen_key chosen",
            "--data.rejected_key rejected",
            "--data.apply_chat_template",
        ]
        if export.is_folder:
            flags += ["--data.dataset_split train", "--eval.split test"]
        if export.options.get("margin"):
            flags.append("--model.margin_loss_enable")
        return {"openrlhf_flags": flags}
    return {}


def _software_version() -> str:
    try:
        return version("rlhf-labelling")
    except PackageNotFoundError:
        return "unknown"


@dataclass(frozen=True)
class ExportPreview:
    """What an export with these filters would take, counted before it is made."""

    annotations: int
    prompts: int
    raters: int
    rows: int | None  # None where rows are only known once made (consensus)


def export_preview(*, project: Project, format: str, filters: object) -> ExportPreview:
    """The labels the filters keep, and the rows they make where a count says it
    (pairwise and hh: one per kept pair; annotations: one per annotation). Raises
    ExportInvalid for bad filters, as export_create does."""
    parsed = filters_parse(filters, format=format)
    errors = rater_filters_check(project=project, filters=parsed.raters, prefix="filters.")
    if errors:
        raise ExportInvalid(errors)
    selection = selection_for(project, parsed)
    kept = formats.annotations(project, selection).aggregate(
        annotations=Count("pk"),
        prompts=Count("prompt", distinct=True),
        raters=Count("annotator", distinct=True),
    )
    rows: int | None = None
    if format == Export.Format.ANNOTATIONS:
        # As annotation_rows keeps them: one that flags a response only if asked for.
        flags = formats.annotations(project, selection).values_list("flags", flat=True)
        rows = (
            kept["annotations"]
            if parsed.include_flagged
            else sum(1 for f in flags.iterator(chunk_size=5000) if not any(f.values()))
        )
    elif format in (Export.Format.PAIRWISE, Export.Format.HH):
        pairs = formats.preferences(project, selection, ties=parsed.include_ties)
        if parsed.min_agreement is not None:
            pairs = pairs.filter(prompt__agreement__gte=parsed.min_agreement)
        rows = pairs.count()
    return ExportPreview(rows=rows, **kept)
