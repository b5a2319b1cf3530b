"""The README's curl lines run as printed (issue 17, point 15): the API block (a token,
the projects, the project's id), then the import and the export blocks, with curl and jq
against a live server; only the address and the password are the test's own."""

import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from django.utils import timezone

from labelling.services import project_create
from tests.conftest import PASSWORD, jsonl, prompt_line, user_create

README = Path(__file__).resolve().parent.parent / "README.md"


def _curl_blocks() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(), flags=re.S)
    ours = [b for b in blocks if "$BASE" in b or "BASE=" in b]
    first = [b for b in ours if "BASE=" in b]
    imports = [b for b in ours if "prompts/import/" in b]
    exports = [b for b in ours if "/exports/" in b]
    assert len(first) == 1 and len(imports) == 1 and len(exports) == 1, ours
    return [*first, *imports, *exports]


@pytest.mark.django_db(transaction=True)
def test_the_readmes_curl_lines_run_as_printed(live_server, tmp_path):
    for tool in ("curl", "jq"):
        assert shutil.which(tool), f"the README's examples need {tool}"
    admin = user_create("admin", is_staff=True)
    project_create(name="Readme", created_by=admin, now=timezone.now(), responses_per_prompt=4)
    (tmp_path / "prompts.jsonl").write_bytes(jsonl(*(prompt_line(f"p-{i}") for i in range(3))))
    script = "set -euo pipefail\n" + "\n".join(_curl_blocks())
    script = script.replace("BASE=http://127.0.0.1:8000", f"BASE={live_server.url}")
    run = subprocess.run(
        ["/bin/bash", "-c", script],
        cwd=tmp_path,
        env={**os.environ, "PASSWORD": PASSWORD},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr + run.stdout
    assert '"name": "Readme"' in run.stdout
    assert '"created":3' in run.stdout.replace(" ", "")
    downloaded = [p for p in tmp_path.iterdir() if p.suffix == ".zip"]
    assert len(downloaded) == 1 and downloaded[0].name.startswith(
        "readme-pairwise-parquet-dataset-export-"
    )
    assert "data/train-00000-of-00001.parquet" in zipfile.ZipFile(downloaded[0]).namelist()
