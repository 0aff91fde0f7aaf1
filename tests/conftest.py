"""Shared fixtures: a private LIFEBOAT_HOME, real databases, a live writer process."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers.databases import make_db

# Qt tests run without a screen; set before anything imports Qt.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parent.parent
WRITER = REPO / "tests" / "helpers" / "writer.py"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Reports leave the test's process as UTF-8 when the suite runs on several workers:
    the tests that hand Lifeboat a file name that is not UTF-8 capture log lines holding
    it (as Python decodes such names, with lone surrogates), which the workers' channel
    cannot send. Escape them in the report's captured sections only."""
    outcome = yield
    report = outcome.get_result()
    report.sections = [(title, _utf8_safe(text)) for title, text in report.sections]


def _utf8_safe(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh LIFEBOAT_HOME for this test."""
    path = tmp_path / "home"
    monkeypatch.setenv("LIFEBOAT_HOME", str(path))
    return path


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return make_db(tmp_path / "notes.db", rows=200)


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(home: Path):
    """Run the CLI in this process: cli('backup', 'notes') -> CliResult."""
    from lifeboat.cli.main import main

    def run(*args: str) -> CliResult:
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exc:
                code = int(exc.code or 0)
        return CliResult(code, out.getvalue(), err.getvalue())

    return run


def cli_process(
    home: Path, *args: str, timeout: float = 120, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a real process (with `env`, exactly that environment)."""
    env = kwargs.pop("env", None) or {**os.environ, "LIFEBOAT_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "lifeboat", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        **kwargs,
    )


@pytest.fixture
def writer_process() -> Iterator[object]:
    """Start a writer process on a database: writer_process(path, interval)."""
    started: list[subprocess.Popen[str]] = []

    def start(path: Path, interval: float = 0.005) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, str(WRITER), str(path), str(interval)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.terminate()
        proc.wait(timeout=10)


class WebhookCatcher:
    """A real HTTP server on 127.0.0.1 that records JSON POSTs (for notify_url tests)."""

    def __init__(self) -> None:
        import http.server
        import json
        import threading

        received = self.received = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self) -> list[str]:
        return [r["event"] for r in self.received]

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def webhook() -> Iterator[WebhookCatcher]:
    catcher = WebhookCatcher()
    yield catcher
    catcher.close()


def set_general(home: Path, **values: object) -> None:
    """Change [general] settings of the config under `home`."""
    from dataclasses import replace

    from lifeboat.core.workspace import Workspace
    from lifeboat.foundation.paths import resolve_paths

    with Workspace(resolve_paths({"LIFEBOAT_HOME": str(home)})).edit_config() as edit:
        edit.config = replace(edit.config, general=replace(edit.config.general, **values))


def set_source(home: Path, name: str, **values: object) -> None:
    from dataclasses import replace

    from lifeboat.core.workspace import Workspace
    from lifeboat.foundation.paths import resolve_paths

    with Workspace(resolve_paths({"LIFEBOAT_HOME": str(home)})).edit_config() as edit:
        edit.config = edit.config.with_source(replace(edit.config.sources[name], **values))


# -- remotes: a real S3 server process, a file keyring, a fault-injecting proxy ----------


@pytest.fixture(scope="session")
def s3_server():
    from tests.helpers.s3server import start_s3_server

    server = start_s3_server()
    yield server
    server.stop()


@pytest.fixture
def file_keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A real keyring backend (keyrings.alt's plain-text file backend), chosen for
    Lifeboat by name as a user would with LIFEBOAT_KEYRING_BACKEND, kept outside
    LIFEBOAT_HOME."""
    import keyring.core

    data = tmp_path / "xdg-data"
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    monkeypatch.setenv("LIFEBOAT_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)
    keyring.core.init_backend()
    yield data
    monkeypatch.undo()
    keyring.core.init_backend()


@pytest.fixture
def bucket(s3_server, request: pytest.FixtureRequest) -> str:
    import re

    name = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:40].strip("-")
    name = f"lb-{name}-{os.urandom(3).hex()}"
    s3_server.client().create_bucket(Bucket=name)
    return name


@pytest.fixture
def instant_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore in this process still retries a failed request as Lifeboat configures it,
    without its backoff sleeps (random, up to seconds each): for tests about what Lifeboat
    does around the retries, not about botocore's timing."""
    from botocore.retries import standard

    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, context: 0.0)


@pytest.fixture
def proxy(s3_server):
    from tests.helpers.faultproxy import FaultProxy

    fault_proxy = FaultProxy(s3_server.endpoint)
    yield fault_proxy
    fault_proxy.close()
