"""`make run` stops the site and the worker together (issue 17, point 16): on SIGTERM
or SIGINT sent to make (what a supervisor, `timeout` or `kill -INT` sends), and on
Ctrl-C (SIGINT to make's whole process group, as a terminal sends it). Runs the real
target: migrate, seed, serve, work."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


# A process started in the background of a shell without job control (as CI may start
# the suite) inherits SIGINT ignored, and so would make: neither make nor the shells and
# Pythons under it could then catch SIGINT at all. A terminal starts make with SIGINT at
# its default; so does this, before exec'ing make.
AS_FROM_A_TERMINAL = [
    sys.executable,
    "-c",
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execvp(sys.argv[1], sys.argv[1:])",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _group(pgid: int) -> list[str]:
    """The live processes of a process group (zombies are dead: they wait to be reaped)."""
    out = subprocess.run(
        ["/usr/bin/ps", "-eo", "pgid=,stat=,args="], capture_output=True, text=True, check=True
    )
    rows = [
        line.split(None, 2) for line in out.stdout.splitlines() if len(line.split(None, 2)) == 3
    ]
    return [args for group, stat, args in rows if group == str(pgid) and not stat.startswith("Z")]


@pytest.mark.parametrize(
    ("signum", "whole_group"),
    [(signal.SIGTERM, False), (signal.SIGINT, False), (signal.SIGINT, True)],
    ids=["sigterm-to-make", "sigint-to-make", "ctrl-c"],
)
def test_make_run_stops_the_site_and_the_worker(tmp_path, signum, whole_group):
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        "PORT": str(port),
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)  # the site's own settings, not the tests'
    log = (tmp_path / "run.log").open("w")
    make = subprocess.Popen(
        [*AS_FROM_A_TERMINAL, shutil.which("make") or "make", "run", f"PORT={port}"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # a group of its own, as a terminal gives it
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=1)
                break
            except OSError:
                assert make.poll() is None, (tmp_path / "run.log").read_text()
                assert time.monotonic() < deadline, "the site did not come up"
                time.sleep(0.5)
        assert f"Log in at http://127.0.0.1:{port}/ as" in (tmp_path / "run.log").read_text()
        running = _group(make.pid)
        assert any("runserver" in args for args in running), running
        assert any("qcluster" in args for args in running), running

        if whole_group:
            os.killpg(make.pid, signum)
        else:
            os.kill(make.pid, signum)
        deadline = time.monotonic() + 30
        while _group(make.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _group(make.pid) == [], (tmp_path / "run.log").read_text()[-2000:]
        make.wait(timeout=5)
    finally:
        if _group(make.pid):
            os.killpg(make.pid, signal.SIGKILL)
        log.close()
