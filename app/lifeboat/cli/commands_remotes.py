"""`lifeboat remote add|set|list|remove|test` and `lifeboat upload`."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from lifeboat.cli.output import Output, ProgressBar, format_bytes
from lifeboat.core.config_model import RemoteConfig
from lifeboat.core.providers import PROVIDERS
from lifeboat.foundation.errors import LifeboatError
from lifeboat.service import Service


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    remote = commands.add_parser("remote", help="S3-compatible places to copy snapshots to")
    actions = remote.add_subparsers(dest="action", metavar="ACTION", parser_class=type(remote))
    remote.set_defaults(handler=lambda a, s, o: (remote.print_help(), 2)[1])
    _add_parser(actions, common)
    _set_parser(actions, common)
    _list_remove_test_parsers(actions, common)
    _upload_parser(commands, common)


def _add_parser(actions: Any, common: argparse.ArgumentParser) -> None:
    add = actions.add_parser(
        "add",
        parents=[common],
        help="add a remote",
        description="Add an S3-compatible remote. The access key id and "
        "secret go to the OS keyring (a plain-text one only if named "
        "in LIFEBOAT_KEYRING_BACKEND), never to the config file.",
    )
    add.add_argument("name")
    add.add_argument(
        "--provider",
        required=True,
        choices=list(PROVIDERS),
        help="preset: " + ", ".join(f"{p.name} ({p.title})" for p in PROVIDERS.values()),
    )
    add.add_argument("--bucket", required=True)
    _remote_options(add)
    add.set_defaults(handler=cmd_add)

    add.add_argument(
        "--encrypt",
        action="store_true",
        default=None,
        help="encrypt everything uploaded there with age (lifeboat key init first)",
    )


def _set_parser(actions: Any, common: argparse.ArgumentParser) -> None:
    change = actions.add_parser("set", parents=[common], help="change a remote")
    change.add_argument("name")
    change.add_argument("--bucket")
    _remote_options(change)
    crypt = change.add_mutually_exclusive_group()
    crypt.add_argument(
        "--encrypt",
        dest="encrypt",
        action="store_true",
        default=None,
        help="encrypt new uploads (then `lifeboat upload --reencrypt`)",
    )
    crypt.add_argument(
        "--no-encrypt",
        dest="encrypt",
        action="store_false",
        help="stop encrypting new uploads (asks to confirm)",
    )
    change.add_argument("--yes", action="store_true", help="do not ask")
    change.set_defaults(handler=cmd_set)


def _list_remove_test_parsers(actions: Any, common: argparse.ArgumentParser) -> None:
    lst = actions.add_parser("list", parents=[common], help="list remotes")
    lst.set_defaults(handler=cmd_list)
    rm = actions.add_parser(
        "remove", parents=[common], help="forget a remote and its keyring entry (objects stay)"
    )
    rm.add_argument("name")
    rm.set_defaults(handler=cmd_remove)
    test = actions.add_parser(
        "test", parents=[common], help="write, read back and delete a small object"
    )
    test.add_argument("name")
    test.set_defaults(handler=cmd_test)


def _upload_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    upload = commands.add_parser(
        "upload",
        parents=[common],
        help="upload what a source's remote is missing",
        description="Send the source's remote the snapshots it is missing, then apply the "
        "remote's retention. A continuously protected source's history goes too (what "
        "the tray or `lifeboat run` sends every continuous_upload_every), with the base "
        "snapshot it starts from.",
    )
    which = upload.add_mutually_exclusive_group(required=True)
    which.add_argument("source", nargs="?")
    which.add_argument("--all", action="store_true", help="every source with a remote")
    upload.add_argument(
        "--reencrypt", action="store_true", help="replace plaintext copies on an encrypting remote"
    )
    upload.set_defaults(handler=cmd_upload)


def _remote_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--region")
    parser.add_argument("--endpoint", help="endpoint URL (MinIO, custom; others have presets)")
    parser.add_argument("--account", help="Cloudflare R2 account id")
    parser.add_argument("--prefix", help="folder in the bucket (default lifeboat)")
    parser.add_argument(
        "--credentials",
        choices=["keyring", "env"],
        help="keyring (default) or env: AWS environment variables or ~/.aws/credentials",
    )
    parser.add_argument("--profile", help="with --credentials env: the AWS profile")
    parser.add_argument(
        "--access-key-id",
        help="stored in the OS keyring (or the backend named in LIFEBOAT_KEYRING_BACKEND)",
    )
    parser.add_argument(
        "--secret-stdin", action="store_true", help="read the secret access key from standard input"
    )
    parser.add_argument(
        "--insecure",
        action="store_true",
        default=None,
        help="do not verify TLS certificates (own endpoint only)",
    )
    parser.add_argument("--max-upload-rate", help="e.g. 2MB/s")


def _settings(args: argparse.Namespace) -> dict[str, object]:
    keys = (
        "bucket",
        "region",
        "endpoint",
        "account",
        "prefix",
        "credentials",
        "profile",
        "insecure",
        "max_upload_rate",
        "encrypt",
    )
    values = {k: getattr(args, k, None) for k in keys}
    if getattr(args, "provider", None):
        values["provider"] = args.provider
    return values


def _credentials(
    args: argparse.Namespace, out: Output, required: bool
) -> tuple[str | None, str | None]:
    """The access key id and secret: from options, stdin or a hidden prompt."""
    key_id = args.access_key_id
    secret: str | None = None
    if args.secret_stdin:
        secret = sys.stdin.readline().rstrip("\r\n")
        if not secret:
            raise LifeboatError("--secret-stdin got an empty line", "pipe the secret in")
    if not required and key_id is None and secret is None:
        return None, None
    if key_id is None:
        if not sys.stdin.isatty() or args.secret_stdin:
            raise LifeboatError("the access key id is missing", "add --access-key-id ID")
        key_id = input("Access key id: ").strip()
    if secret is None:
        if not sys.stdin.isatty():
            raise LifeboatError(
                "the secret access key is missing",
                "pipe it in with --secret-stdin (it is never an option)",
            )
        secret = getpass.getpass("Secret access key (hidden): ")
    if not key_id or not secret:
        raise LifeboatError("the access key id and the secret must not be empty", "try again")
    return key_id, secret


def remote_json(remote: RemoteConfig) -> dict[str, object]:
    return {
        "name": remote.name,
        "provider": remote.provider,
        "bucket": remote.bucket,
        "region": remote.resolved_region,
        "endpoint": remote.resolved_endpoint,
        "prefix": remote.prefix,
        "credentials": remote.credentials,
        "insecure": remote.insecure,
        "max_upload_rate": remote.max_upload_rate,
        "encrypt": remote.encrypt,
    }


def cmd_add(args: argparse.Namespace, service: Service, out: Output) -> int:
    settings = _settings(args)
    needs_keys = (args.credentials or "keyring") == "keyring"
    key_id, secret = _credentials(args, out, required=needs_keys)
    remote = service.add_remote(args.name, access_key_id=key_id, secret=secret, **settings)
    where = remote.resolved_endpoint or f"AWS S3 ({remote.resolved_region})"
    out.result(
        remote_json(remote),
        [
            f"added remote {remote.name}: bucket {remote.bucket} at {where}",
            "  credentials: "
            + (
                f"in {service.secrets.where()}"
                if remote.credentials == "keyring"
                else "from the AWS environment variables or ~/.aws"
            ),
            f"check it with: lifeboat remote test {remote.name}",
            f"use it with:   lifeboat source set SOURCE --remote {remote.name}",
        ],
    )
    return 0


def cmd_set(args: argparse.Namespace, service: Service, out: Output) -> int:
    current = next((r for r in service.remotes() if r.name == args.name), None)
    if args.encrypt is False and current is not None and current.encrypt and not args.yes:
        question = (
            f"Stop encrypting uploads to {args.name}? New copies there will be "
            "readable by whoever can read the bucket."
        )
        if not out.confirmed(
            question, "the remote still encrypts", "add --yes to switch encryption off"
        ):
            return 2
    key_id, secret = _credentials(args, out, required=False)
    remote = service.update_remote(
        args.name, access_key_id=key_id, secret=secret, **_settings(args)
    )
    out.result(remote_json(remote), f"updated remote {remote.name}")
    return 0


def cmd_list(args: argparse.Namespace, service: Service, out: Output) -> int:
    remotes = [remote_json(r) for r in service.remotes()]
    if out.json_mode:
        out.json(remotes)
    elif not remotes:
        out.line("no remotes yet; add one with: lifeboat remote add NAME --provider P --bucket B")
    else:
        out.table(
            ["NAME", "PROVIDER", "BUCKET", "ENDPOINT", "PREFIX", "CREDENTIALS", "ENCRYPTED"],
            [
                [
                    str(r["name"]),
                    str(r["provider"]),
                    str(r["bucket"]),
                    str(r["endpoint"] or f"AWS ({r['region']})"),
                    str(r["prefix"]),
                    str(r["credentials"]),
                    "yes" if r["encrypt"] else "no",
                ]
                for r in remotes
            ],
        )
    return 0


def cmd_remove(args: argparse.Namespace, service: Service, out: Output) -> int:
    service.remove_remote(args.name)
    out.result(
        {"removed": args.name},
        f"removed remote {args.name} (its objects stay in "
        "the bucket; its keyring entry is deleted)",
    )
    return 0


def cmd_test(args: argparse.Namespace, service: Service, out: Output) -> int:
    result = service.test_remote(args.name)
    out.result(
        result.to_json(),
        f"remote {result.remote} works: wrote, read back and "
        f"deleted a test object in {result.bucket} at {result.endpoint} "
        f"({result.seconds:.1f} s)",
    )
    return 0


def cmd_upload(args: argparse.Namespace, service: Service, out: Output) -> int:
    names = [s.name for s in service.sources() if s.remote] if args.all else [args.source]
    if args.all and not names:
        raise LifeboatError("no source has a remote", "lifeboat source set NAME --remote R")
    results: dict[str, object] = {}
    failed = 0
    continuous = service.history_uploads()
    for name in names:
        bar = out.progress()
        try:
            outcome = service.upload(name, progress=bar, reencrypt=args.reencrypt)
            # the history by the uploader thread's own path (scheduling/history_upload.py)
            history = service.upload_history(name) if name in continuous else None
        except LifeboatError as exc:
            if not args.all:
                raise
            failed += 1
            out.error(f"{name}: {exc.message}", exc.hint, exc.exit_code)
            results[name] = {"error": exc.message}
            continue
        finally:
            if isinstance(bar, ProgressBar):
                bar.close()
        results[name] = outcome.to_json()
        out.line(
            f"{name}: uploaded {len(outcome.uploaded)} snapshot(s) "
            f"({format_bytes(outcome.bytes)}), pruned {len(outcome.deleted)} from the remote"
        )
        if history is not None:
            service.history_upload_works(name)  # a recorded failure to send it has ended
            results[name] = {**outcome.to_json(), "history": _history_json(history)}
            out.line(f"{name}: {_history_line(history)}")
    if out.json_mode:
        out.json(results if args.all else results[names[0]])
    return 1 if failed else 0


def _history_json(sent: Any) -> dict[str, object]:
    return {
        "uploaded": sent.uploaded,
        "bases": sent.bases,
        "deleted": sent.deleted,
        "bytes": sent.bytes,
    }


def _history_line(sent: Any) -> str:
    """What one round of sending the history did, in words."""
    if not (sent.uploaded or sent.deleted or sent.bases):
        return "its continuous history: the remote already holds all of it"
    parts = [f"sent {len(sent.uploaded)} history segment(s) ({format_bytes(sent.bytes)})"]
    if sent.bases:
        parts.append(f"with the base snapshot(s) {', '.join(sent.bases)}")
    if sent.deleted:
        parts.append(f"removed {len(sent.deleted)} it replaced from the remote")
    return "its continuous history: " + ", ".join(parts)
