import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from tqdm import tqdm

from labelling.importing import ImportRejected, iter_lines, prompts_import
from labelling.inputs import ascii_int
from labelling.models import Project


def project_by_id_or_name(ref: str) -> Project:
    project = None
    pk = ascii_int(ref)
    if pk is not None:
        project = Project.objects.filter(pk=pk).first()
    project = project or Project.objects.filter(name=ref).first()
    if project is None:
        raise CommandError(f"No project with id or name {ref!r}.")
    return project


class Command(BaseCommand):
    help = "Import prompts with their responses from a JSONL file (see the README), all or nothing."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("project", help="the project's id or name")
        parser.add_argument("file", type=Path, help="the JSONL file, one prompt a line")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(
        self, *args: Any, project: str, file: Path, no_progress: bool, **options: Any
    ) -> None:
        target = project_by_id_or_name(project)
        try:
            stream = file.open("rb")
        except OSError as failure:
            raise CommandError(f"Cannot read {file}: {failure.strerror}.") from None
        with (
            stream,
            tqdm(
                total=os.fstat(stream.fileno()).st_size,
                unit="B",
                unit_scale=True,
                desc=f"importing {file.name}",
                disable=no_progress,
                file=self.stderr._out,
            ) as bar,
        ):

            def lines() -> Iterator[tuple[int, bytes | None]]:
                for number, raw in iter_lines(stream, max_bytes=settings.IMPORT_MAX_LINE_BYTES):
                    bar.update(len(raw) if raw is not None else 0)
                    yield number, raw

            try:
                result = prompts_import(
                    project=target,
                    stream=stream,
                    actor=None,
                    now=timezone.now(),
                    source=f"command:{file.name}",
                    lines=lines(),
                )
            except ImportRejected as rejected:
                bar.close()
                for error in rejected.errors:
                    where = f"line {error.line}" if error.line else "file"
                    field = f", {error.field}" if error.field else ""
                    self.stderr.write(f"{where}{field}: {error.message}")
                if rejected.total > len(rejected.errors):
                    self.stderr.write(f"... and {rejected.total - len(rejected.errors)} more")
                raise CommandError(
                    f"{rejected.total} problem(s) in {file}; nothing was imported."
                ) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"{target.name}: {result.created} created, {result.unchanged} unchanged."
            )
        )
        for warning in result.warnings:
            self.stdout.write(
                self.style.WARNING(f"line {warning.line}, {warning.field}: {warning.message}")
            )
        if result.warnings_total > len(result.warnings):
            self.stdout.write(f"... and {result.warnings_total - len(result.warnings)} more")
