"""Object keys: `<prefix>/<source>/<artifact name>`, built only from our own names.

Anything that could escape the prefix (`..`, a leading `/`, backslashes, control
characters) is refused before a request is made.
"""

from __future__ import annotations

from lifeboat.foundation.errors import LifeboatError


def clean_prefix(prefix: str) -> str:
    """Normalise a user's prefix ('' or 'a/b'); raise ValueError for unsafe ones."""
    text = prefix.strip()
    if text.startswith("/"):
        raise ValueError(f"prefix {prefix!r} must not start with '/'")
    parts = [p for p in text.split("/") if p]
    for part in parts:
        _check_part(part, "prefix")
    return "/".join(parts)


def object_key(prefix: str, source: str, name: str) -> str:
    for part, what in ((source, "source name"), (name, "file name")):
        try:
            _check_part(part, what)
        except ValueError as exc:
            raise LifeboatError(
                f"refusing object key: {exc}", "this is a bug; please report"
            ) from None
    return "/".join(p for p in (prefix, source, name) if p)


def split_key(prefix: str, key: str) -> tuple[str, str] | None:
    """(source, name) of a key under `prefix`, or None if it is not one of ours."""
    rest = key[len(prefix) + 1 :] if prefix else key
    if prefix and not key.startswith(prefix + "/"):
        return None
    parts = rest.split("/")
    if len(parts) != 2:
        return None
    try:
        _check_part(parts[0], "source")
        _check_part(parts[1], "name")
    except ValueError:
        return None
    return parts[0], parts[1]


def _check_part(part: str, what: str) -> None:
    if not part or part in (".", "..") or "/" in part or "\\" in part:
        raise ValueError(f"{what} {part!r} is not a plain name")
    if any(ord(c) < 32 or ord(c) == 127 for c in part):
        raise ValueError(f"{what} {part!r} contains control characters")
