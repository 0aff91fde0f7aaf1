"""Tray benchmark: launch time, idle memory and idle CPU of `lifeboat tray`.

Sets up a LIFEBOAT_HOME with two sources (each backed up once, so nothing runs at
start), then
- launches `python -m lifeboat tray --minimized` --launches times and measures the time
  from launch until the tray logs that its icon (or, without a tray, its window) is
  shown; each launch is stopped with SIGTERM;
- launches it once more and lets it idle for --idle-s seconds, then reads its RSS and
  the CPU time it used over that span (from /proc, Linux).

--display offscreen (default) uses Qt's offscreen platform, where there is no tray, so
the main window opens instead; --display xvfb starts Xvfb and a system tray (trayer) so
the real tray icon is shown.

--remote (default) also configures an S3 remote for both sources (a local moto S3
server process, credentials in a file keyring) and uploads their snapshots before the
tray starts, so the tray idles with a remote configured but nothing to upload;
--no-remote leaves it out.

--large-mb N (issue 19) then measures the tray's memory around a manual backup of an
N MB database, in a tray process of its own (offscreen, the same TrayApp): RSS idle
before, when the backup has ended, 5 s later (after the tray gave freed memory back)
and --after-s later; once with that release (malloc_trim) and once without it
(--compare-trim), to show what it changes.

--home PATH launches and idles the tray in an existing home instead (issue 22: the
idle tray over bench/catalog_gen.py's 100 sources and 10,000 snapshots).

Usage: python bench/gui_bench.py [--launches 5] [--idle-s 60] [--display offscreen|xvfb]
                                 [--no-remote] [--large-mb 500 [--after-s 60]
                                 [--compare-trim]] [--home PATH]
Goals (issue 7): launch to icon <= 1 s; idle RSS after 60 s <= 90 MB; idle CPU <= 0.5%.
(issue 19): idle RSS after a 500 MB backup returns near its start.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import OUT, lifeboat_env, median, report
from bench.dbgen import build_database

READY = "tray ready: "
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--launches", type=int, default=5)
    parser.add_argument("--idle-s", type=float, default=60.0)
    parser.add_argument("--display", choices=("offscreen", "xvfb"), default="offscreen")
    parser.add_argument("--remote", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--large-mb", type=int, default=0)
    parser.add_argument("--after-s", type=float, default=60.0)
    parser.add_argument("--compare-trim", action="store_true")
    parser.add_argument(
        "--home",
        type=Path,
        help="launch and idle the tray in this existing LIFEBOAT_HOME instead (e.g. "
        "bench/catalog_gen.py's 100 sources and 10,000 snapshots); no remote is set up",
    )
    parser.add_argument("--child-backup", help=argparse.SUPPRESS)
    parser.add_argument("--no-trim", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_backup:
        from bench.gui_bench_memory import child_backup

        child_backup(args.child_backup, trim=not args.no_trim, after_s=args.after_s)
        return
    work = OUT / "gui"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    home = args.home.resolve() if args.home else work / "home"
    env = {
        **lifeboat_env(home),
        "XDG_DATA_HOME": str(work / "xdg"),
        "LIFEBOAT_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
    }
    if args.home is None:
        setup_sources(work, env)
    server = setup_remote(env) if args.remote and args.home is None else None
    display = Display(args.display, env)
    large: dict[str, object] = {}
    try:
        launches = [launch_once(env, home) for _ in range(args.launches)]
        idle = idle_run(env, home, args.idle_s) if args.idle_s > 0 else {"shown": "-"}
        if args.large_mb:
            from bench.gui_bench_memory import large_backup_runs

            large = large_backup_runs(work, env, args.large_mb, args.after_s, args.compare_trim)
    finally:
        display.stop()
        if server is not None:
            server.stop()
    report(
        "gui_bench",
        {
            "display": args.display,
            "shown": idle["shown"],
            "launch_to_shown_s": {
                "median": round(median([t for t, _ in launches]), 3),
                "all": [round(t, 3) for t, _ in launches],
            },
            "gui_import_to_shown_s": round(median([t for _, t in launches]), 3),
            "idle_s": args.idle_s,
            "idle_rss_mb": idle.get("rss_mb"),
            "idle_anon_mb": idle.get("anon_mb"),
            "idle_cpu_percent": idle.get("cpu_percent"),
            "large_backup": large or None,
            "home": str(args.home) if args.home else None,
            "sources": None if args.home else 2,
            "remote": "moto_server on 127.0.0.1 (uploaded before start)" if server else None,
            "goals": {"launch_to_shown_s": 1.0, "idle_rss_mb": 90, "idle_cpu_percent": 0.5},
        },
    )


def setup_sources(work: Path, env: dict[str, str]) -> None:
    for name, size in (("notes", 4 << 20), ("crm", 16 << 20)):
        db = build_database(work / f"{name}.db", size, seed=len(name))
        for command in (["source", "add", str(db), "--schedule", "daily 03:00"], ["backup", name]):
            subprocess.run(
                [sys.executable, "-m", "lifeboat", *command],
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
            )


def setup_remote(env: dict[str, str]) -> object:
    """A local S3 server; both sources upload to it; their snapshots are uploaded now."""
    from tests.helpers.s3server import start_s3_server

    server = start_s3_server()
    server.client().create_bucket(Bucket="gui-bench")
    commands = [
        [
            "remote",
            "add",
            "offsite",
            "--provider",
            "minio",
            "--bucket",
            "gui-bench",
            "--endpoint",
            server.endpoint,
            "--prefix",
            "lb",
            "--access-key-id",
            server.access_key_id,
            "--secret-stdin",
        ],
        ["source", "set", "notes", "--remote", "offsite"],
        ["source", "set", "crm", "--remote", "offsite"],
        ["upload", "--all"],
    ]
    for command in commands:
        subprocess.run(
            [sys.executable, "-m", "lifeboat", *command],
            env=env,
            check=True,
            input=(server.secret_access_key + "\n").encode(),
            stdout=subprocess.DEVNULL,
        )
    return server


def start_tray(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "lifeboat", "tray", "--minimized"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_shown(
    home: Path, proc: subprocess.Popen[bytes], started: float, skip: int
) -> tuple[float, float, str]:
    """(seconds from launch, seconds the app measured itself, icon|window)."""
    log = home / "logs" / "lifeboat.log"
    while True:
        text = log.read_text() if log.exists() else ""
        lines = [line for line in text.splitlines() if READY in line][skip:]
        if lines:
            elapsed = time.perf_counter() - started
            what = lines[0].split(READY, 1)[1].split()
            return elapsed, float(what[2]), what[0]
        if proc.poll() is not None:
            raise RuntimeError(f"the tray exited early ({proc.returncode}); see {log}")
        if time.perf_counter() - started > 60:
            raise RuntimeError("the tray did not show within 60 s")
        time.sleep(0.002)


def ready_count(home: Path) -> int:
    log = home / "logs" / "lifeboat.log"
    return log.read_text().count(READY) if log.exists() else 0


def launch_once(env: dict[str, str], home: Path) -> tuple[float, float]:
    skip = ready_count(home)
    started = time.perf_counter()
    proc = start_tray(env)
    elapsed, inside, _ = wait_shown(home, proc, started, skip)
    stop(proc)
    return elapsed, inside


def idle_run(env: dict[str, str], home: Path, seconds: float) -> dict[str, object]:
    skip = ready_count(home)
    started = time.perf_counter()
    proc = start_tray(env)
    _, _, shown = wait_shown(home, proc, started, skip)
    time.sleep(2.0)  # let start-up work (scheduler, first status read) settle
    cpu_before, wall_before = cpu_seconds(proc.pid), time.monotonic()
    time.sleep(seconds)
    cpu = cpu_seconds(proc.pid) - cpu_before
    wall = time.monotonic() - wall_before
    status = Path(f"/proc/{proc.pid}/status").read_text()
    memory = {
        line.split(":")[0]: int(line.split()[1])
        for line in status.splitlines()
        if line.startswith(("VmRSS:", "RssAnon:"))
    }
    stop(proc)
    return {
        "shown": shown,
        "rss_mb": round(memory["VmRSS"] / 1024, 1),
        "anon_mb": round(memory["RssAnon"] / 1024, 1),
        "cpu_percent": round(100 * cpu / wall, 3),
    }


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


class Display:
    def __init__(self, kind: str, env: dict[str, str]) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        if kind == "offscreen":
            env["QT_QPA_PLATFORM"] = "offscreen"
            return
        for tool in ("Xvfb", "trayer"):
            if shutil.which(tool) is None:
                sys.exit(f"--display xvfb needs {tool}")
        number = next(n for n in range(90, 200) if not Path(f"/tmp/.X{n}-lock").exists())
        self.procs.append(
            subprocess.Popen(
                ["Xvfb", f":{number}", "-screen", "0", "1280x900x24", "-nolisten", "tcp"],
                stderr=subprocess.DEVNULL,
            )
        )
        time.sleep(1.0)
        env["DISPLAY"] = f":{number}"
        env["QT_QPA_PLATFORM"] = "xcb"
        self.procs.append(
            subprocess.Popen(
                ["trayer", "--edge", "top", "--align", "right"], env=env, stderr=subprocess.DEVNULL
            )
        )
        time.sleep(1.0)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
