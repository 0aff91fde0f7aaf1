"""status, jobs, cancel and schedule explain as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers.databases import make_db


def test_schedule_explain(cli):
    result = cli("schedule", "explain", "weekly", "mon,thu", "03:00", "--json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["description"] == "every Monday and Thursday at 03:00"
    assert len(data["next_runs"]) == 5
    text = cli("schedule", "explain", "daily 03:00")
    assert "every day at 03:00" in text.out and text.out.count("03:00") >= 6
    bad = cli("schedule", "explain", "dayly", "3")
    assert bad.code == 2 and bad.err.startswith("error: unknown schedule")


def test_status_and_jobs(cli, tmp_path: Path):
    empty = cli("status")
    assert empty.code == 0 and "no sources yet" in empty.out
    cli("source", "add", str(make_db(tmp_path / "notes.db")), "--schedule", "every 15m")
    never = json.loads(cli("status", "--json").out)
    source = never["sources"][0]
    # added a moment ago: not overdue before its first scheduled run has passed (issue 19)
    assert source["last_result"] == "never" and not source["stale"] and never["state"] == "ok"
    assert source["schedule_description"] == "every 15 minutes" and source["next_run"]
    cli("backup", "notes")
    status = json.loads(cli("status", "--json").out)
    assert status["state"] == "ok" and status["scheduler_pid"] is None
    assert status["sources"][0]["last_result"] == "ok" and not status["sources"][0]["stale"]
    text = cli("status")
    assert "notes" in text.out and "every 15 minutes" in text.out
    history = json.loads(cli("jobs", "--json").out)
    assert [j["kind"] for j in history] == ["prune", "backup"]
    assert cli("jobs", "--limit", "0").code == 2


def test_failed_source_shows_as_error(cli, tmp_path: Path):
    db = make_db(tmp_path / "notes.db")
    cli("source", "add", str(db))
    db.unlink()
    assert cli("backup", "notes").code == 2
    status = json.loads(cli("status", "--json").out)
    assert status["state"] == "error"
    assert "no such file" in status["sources"][0]["last_error"]


def test_cancel_refuses_finished_and_unknown_jobs(cli, db: Path):
    cli("source", "add", str(db))
    cli("backup", "notes")
    job = json.loads(cli("jobs", "--json").out)[-1]
    done = cli("cancel", str(job["id"]))
    assert done.code == 2 and "not queued or running" in done.err
    missing = cli("cancel", "9999")
    assert missing.code == 2 and "no job 9999" in missing.err
