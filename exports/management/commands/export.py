import argparse
import json
import zipfile
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from tqdm import tqdm

from core.errors import DomainError
from exports.filters import ExportInvalid
from exports.models import Export
from exports.services import export_build, export_create, export_path
from labelling.management.commands.import_prompts import project_by_id_or_name


class Command(BaseCommand):
    help = (
        "Export a project's labels for reward-model training (pairwise, consensus, hh, "
        "annotations), with a progress bar; the manifest is written beside the file. "
        "With a test share (or the llamafactory flavour) the export is a Hugging Face "
        "dataset folder: --out names the folder to write (or a .zip for the archive)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("project", help="the project's id or name")
        parser.add_argument("--format", required=True, choices=Export.Format.values)
        parser.add_argument("--file-format", default="jsonl", choices=Export.FileFormat.values)
        parser.add_argument(
            "--out", required=True, type=Path, help="where to write the file or folder"
        )
        parser.add_argument("--flavour", default=None, help="trl (default), openrlhf, llamafactory")
        parser.add_argument(
            "--conversational",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="prompts as messages (default: when the project has chat prompts)",
        )
        parser.add_argument(
            "--margin", default=None, help='JSON, e.g. \'{"source": "rank_gap", "scale": 1.0}\''
        )
        parser.add_argument(
            "--filters",
            default="{}",
            help='JSON, e.g. \'{"min_guideline_version": 2, "include_ties": true}\'',
        )
        parser.add_argument("--test-fraction", type=float, default=0.0)
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(
        self,
        *args: Any,
        project: str,
        format: str,
        file_format: str,
        out: Path,
        filters: Any,  # JSON text, then its value
        test_fraction: float,
        no_progress: bool,
        flavour: str | None,
        conversational: bool | None,
        margin: Any,  # JSON text or None, then its value
        **options: Any,
    ) -> None:
        target = project_by_id_or_name(project)
        filters = _json("--filters", filters)
        margin = _json("--margin", margin) if margin is not None else None
        out = out.resolve()
        if not out.parent.is_dir():
            raise CommandError(f"The folder {out.parent} does not exist.")
        try:
            export = export_create(
                project=target,
                user=None,
                format=format,
                file_format=file_format,
                filters=filters,
                test_fraction=test_fraction,
                now=timezone.now(),
                flavour=flavour,
                conversational=conversational,
                margin=margin,
            )
        except ExportInvalid as invalid:
            raise CommandError(
                "Bad export: " + "; ".join(f"{f}: {m}" for f, m in invalid.errors)
            ) from None
        except DomainError as refused:
            raise CommandError(f"{refused.field}: {refused.message}") from None
        # A folder export is built as its archive (kept with the others, so the API can
        # serve it too), then unpacked where asked, unless a .zip was asked for.
        unpack = export.is_folder and out.suffix != ".zip"
        if unpack and out.exists() and (not out.is_dir() or any(out.iterdir())):
            export.delete()
            raise CommandError(f"{out} exists and is not an empty folder.")
        if not unpack and out.is_dir():
            export.delete()
            raise CommandError(f"{out} is a folder; give a file name.")
        built_at = None if unpack else out

        with tqdm(
            unit=" rows", desc=f"export {export.pk}", disable=no_progress, file=self.stderr._out
        ) as bar:

            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)

            try:
                export = export_build(export_id=export.pk, out=built_at, on_progress=progress)
            except Exception as error:
                raise CommandError(f"Export {export.pk} failed: {error}") from error
            bar.update(export.progress_done - bar.n)
        if unpack:
            out.mkdir(exist_ok=True)
            with zipfile.ZipFile(export_path(export)) as archive:
                archive.extractall(out)
            manifest = out / "manifest.json"
        else:
            manifest = out.with_name(out.name + ".manifest.json")
        assert export.manifest is not None  # a built export has its manifest
        manifest.write_text(json.dumps(export.manifest, indent=2) + "\n")
        counts = export.manifest["counts"]
        self.stdout.write(
            f"{counts['rows']} rows ({counts['train']} train, {counts['test']} test) "
            f"written to {out}\nsha256 {export.sha256}\nmanifest {manifest}"
        )


def _json(option: str, text: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise CommandError(f"{option} is not JSON: {error}.") from None
