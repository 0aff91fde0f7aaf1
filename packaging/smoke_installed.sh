#!/usr/bin/env bash
# Smoke tests of a built or installed Lifeboat executable, in a LIFEBOAT_HOME of its own:
# its libraries resolve, --version, a backup and both kinds of restore of a real SQLite
# database, an upload to S3 (a local moto server, where the dev extra installed one: the
# bundle keeps only botocore's S3 data), the headless scheduler, and the tray on Qt's
# offscreen platform.
# Prints the start-up times it measures. Fails loudly at the first problem.
#
#   bash packaging/smoke_installed.sh BINARY VERSION WORKDIR
#   e.g. bash packaging/smoke_installed.sh /usr/bin/lifeboat 0.1.0 "$(mktemp -d)"
set -euo pipefail
lifeboat=$1
version=$2
work=$3
export LIFEBOAT_HOME=$work/home
log=$LIFEBOAT_HOME/logs/lifeboat.log
internal=$(dirname "$(readlink -f "$lifeboat")")/_internal
background_pid=""
s3_pid=""
stop_children() {
  for pid in $background_pid $s3_pid; do kill "$pid" 2>/dev/null || true; done
}
trap stop_children EXIT
fail() { echo "smoke: FAILED: $*" >&2; [ ! -f "$log" ] || tail -n 30 "$log" >&2; exit 1; }
now() { date +%s.%N; }
seconds_since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$(now)"; }

# Every library the bundle links is in the bundle or on the system (the .deb's Depends).
# The GTK theme plugin is optional: Qt goes without it where GTK is missing.
missing=$(find "$internal" "$(readlink -f "$lifeboat")" -type f \( -name '*.so*' -o -perm -u+x \) \
            ! -name libqgtk3.so -print0 \
          | xargs -0 -n 50 env LD_LIBRARY_PATH="$internal" ldd 2>/dev/null \
          | grep 'not found' | sort -u || true)
[ -z "$missing" ] || fail "libraries not found: $missing"
for file in lifeboat/resources/icons/lifeboat.svg lifeboat/resources/icons/tray-ok-light.svg \
            PySide6/Qt/plugins/iconengines/libqsvgicon.so PySide6/Qt/plugins/platforms/libqxcb.so; do
  [ -e "$internal/$file" ] || fail "the bundle has no $file"
done

started=$(now)
[ "$("$lifeboat" --version)" = "lifeboat $version" ] || fail "--version"
echo "smoke: \`lifeboat --version\` took $(seconds_since "$started") s"

# A WAL database with an index and a blob, as an application would leave it.
db=$work/notes.db
sqlite3 "$db" "pragma journal_mode=wal;
  create table note(id integer primary key, title text not null, body blob);
  create index note_title on note(title);
  with recursive n(i) as (select 1 union all select i + 1 from n where i < 5000)
  insert into note(title, body) select 'note ' || i, randomblob(200) from n;" >/dev/null
sqlite3 "$db" .dump > "$work/at-backup.sql"
"$lifeboat" source add "$db" --schedule "daily 03:00" >/dev/null
id=$("$lifeboat" backup notes --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
"$lifeboat" snapshots | grep -q "$id" || fail "the snapshot is not listed"
"$lifeboat" verify "$id" >/dev/null || fail "verify $id"
sqlite3 "$db" "delete from note where id % 2 = 0; update note set title = 'changed';"

"$lifeboat" restore "$id" --to "$work/restored.db" --yes >/dev/null
cmp -s <(sqlite3 "$work/restored.db" .dump) "$work/at-backup.sql" \
  || fail "the database restored to a new file differs from the one backed up"
[ "$(sqlite3 "$work/restored.db" 'pragma integrity_check')" = ok ] || fail "integrity_check"
"$lifeboat" restore "$id" --yes >/dev/null  # in place: a safety snapshot first
cmp -s <(sqlite3 "$db" .dump) "$work/at-backup.sql" \
  || fail "the database restored in place differs from the one backed up"
echo "smoke: backup, verify, restore to a file and in place: ok ($("$lifeboat" snapshots | grep -c notes) snapshots)"

if command -v moto_server >/dev/null; then
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  moto_server -H 127.0.0.1 -p "$port" > "$work/s3.out" 2>&1 &
  s3_pid=$!
  export AWS_ACCESS_KEY_ID=smoke AWS_SECRET_ACCESS_KEY=smoke AWS_DEFAULT_REGION=us-east-1
  create_bucket="import boto3
boto3.client('s3', endpoint_url='http://127.0.0.1:$port').create_bucket(Bucket='lifeboat-smoke')"
  created=""
  for _ in $(seq 100); do  # until the server answers
    if python3 -c "$create_bucket" 2>/dev/null; then created=yes; break; fi
    sleep 0.2
  done
  [ -n "$created" ] || fail "the S3 server did not start: $(cat "$work/s3.out")"
  # --credentials env: the AWS variables above, as on a server without a keyring.
  "$lifeboat" remote add offsite --provider minio --endpoint "http://127.0.0.1:$port" \
    --bucket lifeboat-smoke --credentials env >/dev/null
  "$lifeboat" remote test offsite >/dev/null || fail "remote test"
  "$lifeboat" source set notes --remote offsite >/dev/null
  "$lifeboat" upload --all >/dev/null || fail "upload"
  "$lifeboat" snapshots | grep "$id" | grep -q "local+offsite" || fail "the snapshot is not on S3"
  # The server stays up until the end: the scheduler and the tray below may upload.
  echo "smoke: remote on S3 (moto server): test and upload ok"
fi

# A key file's passphrase is worked in a child process: the installed program itself,
# run with --key-file-passphrase (Import key, Save recovery key; the request on stdin).
python3 - "$lifeboat" <<'PY' || fail "the key file passphrase child of the installed program"
import struct, subprocess, sys
def child(what, secret, data):
    request = what + struct.pack(">I", len(secret)) + secret + data
    return subprocess.run([sys.argv[1], "--key-file-passphrase"], input=request,
                          capture_output=True, timeout=300)
made = child(b"P", b"smoke words", b"AGE-SECRET-KEY-1SMOKE")
assert made.returncode == 0 and made.stdout.startswith(b"age-encryption.org/v1"), made.stderr
opened = child(b"O", b"smoke words", made.stdout)
assert opened.returncode == 0 and opened.stdout == b"AGE-SECRET-KEY-1SMOKE", opened.stderr
wrong = child(b"O", b"other words", made.stdout)
assert wrong.returncode == 3 and not wrong.stdout, (wrong.returncode, wrong.stderr)
PY
echo "smoke: a key file's passphrase in its child process: protect, open, wrong passphrase ok"

# The headless scheduler (what lifeboat.service runs): starts, is seen, stops on SIGTERM.
"$lifeboat" run > "$work/run.out" 2>&1 &
background_pid=$!
for _ in $(seq 100); do grep -q "scheduler started" "$work/run.out" && break; sleep 0.2; done
grep -q "scheduler started" "$work/run.out" || fail "lifeboat run did not start: $(cat "$work/run.out")"
"$lifeboat" status | grep -q "scheduler running" || fail "status does not see the scheduler"
kill -TERM "$background_pid"
wait "$background_pid" || fail "lifeboat run exited with $? on SIGTERM"
background_pid=""
echo "smoke: lifeboat run: started and stopped cleanly"

# The tray, on the offscreen platform (no tray there, so its window opens instead).
ready_before=$(grep -c "tray ready" "$log" || true)
started=$(now)
QT_QPA_PLATFORM=offscreen "$lifeboat" tray > "$work/tray.out" 2>&1 &
background_pid=$!
for _ in $(seq 300); do
  [ "$(grep -c "tray ready" "$log" || true)" -gt "$ready_before" ] && break
  kill -0 "$background_pid" 2>/dev/null || fail "the tray exited: $(cat "$work/tray.out")"
  sleep 0.05
done
[ "$(grep -c "tray ready" "$log" || true)" -gt "$ready_before" ] || fail "the tray never got ready"
echo "smoke: tray: launch to shown $(seconds_since "$started") s ($(grep "tray ready" "$log" | tail -1 | sed 's/.*tray ready: //'))"
sleep 5
kill -0 "$background_pid" 2>/dev/null || fail "the tray died: $(cat "$work/tray.out")"
kill -TERM "$background_pid"
wait "$background_pid" || fail "the tray exited with $? on SIGTERM"
background_pid=""
if grep -E "Traceback|ERROR|CRITICAL" "$log" "$work/tray.out"; then
  fail "errors in the log or on the tray's output"
fi
if grep -iE "could not (load|find)|cannot load|failed to" "$work/tray.out"; then
  fail "Qt could not load something"
fi
echo "smoke: tray: ran 5 s offscreen, stopped cleanly, no error logged"
