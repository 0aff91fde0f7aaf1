"""Limits a config file must keep before it is parsed (pure functions, no I/O).

Python's TOML parser recurses once per nested array or inline table, so a file with
`a = [[[[...]]]]` thousands deep ends in RecursionError; and a dotted key with n parts
(`a.b.c...`) costs it memory in proportion to n squared. A Lifeboat config is a few
kilobytes and a few levels deep, so a file far outside that is refused, with a reason,
before the parser sees it.
"""

from __future__ import annotations

#: bytes; a Lifeboat config is a few KB even with many sources
MAX_BYTES = 1 << 20
#: arrays and inline tables inside each other
MAX_DEPTH = 32
#: parts of one dotted key or table name (`sources.app.path` has 3)
MAX_KEY_PARTS = 32


def too_big(size: int) -> str | None:
    if size > MAX_BYTES:
        return f"the file is larger than {MAX_BYTES // (1 << 20)} MB, which no Lifeboat config is"
    return None


def toml_problem(text: str) -> str | None:
    """Why `text` is too big or too deeply nested to be a Lifeboat config, or None.

    Scans once, skipping strings and comments: counts the nesting of [ and { and the
    dots of each key. (Values have a dot or two at most: 1.5, 12:00:00.5.)"""
    problem = too_big(len(text))
    if problem:
        return problem
    depth = dots = 0
    i, end = 0, len(text)
    while i < end:
        char = text[i]
        if char in "\"'":
            i = _skip_string(text, i)
            continue
        if char == "#":
            newline = text.find("\n", i)
            i = end if newline < 0 else newline
            continue
        if char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return f"values are nested more than {MAX_DEPTH} deep"
            dots = 0
        elif char in "]}":
            depth = max(0, depth - 1)
            dots = 0
        elif char in "=,\n":
            dots = 0
        elif char == ".":
            dots += 1
            if dots >= MAX_KEY_PARTS:
                return f"a key or table name has more than {MAX_KEY_PARTS} dotted parts"
        i += 1
    return None


def _skip_string(text: str, start: int) -> int:
    """The index just past the string that starts at `start` (basic or literal, one line
    or multi-line); the end of the line or text if it is not closed."""
    quote = text[start]
    escapes = quote == '"'
    if text.startswith(quote * 3, start):
        close = (
            text.find(quote * 3, start + 3)
            if not escapes
            else _find_unescaped(text, quote * 3, start + 3)
        )
        if close < 0:
            return len(text)
        close += 3
        for _ in range(2):  # up to two more quotes end the content: """a""""
            if close < len(text) and text[close] == quote:
                close += 1
        return close
    stop = text.find("\n", start + 1)
    stop = len(text) if stop < 0 else stop
    close = (
        _find_unescaped(text, quote, start + 1, stop)
        if escapes
        else text.find(quote, start + 1, stop)
    )
    return stop if close < 0 else close + 1


def _find_unescaped(text: str, needle: str, start: int, stop: int | None = None) -> int:
    stop = len(text) if stop is None else stop
    i = start
    while True:
        found = text.find(needle, i, stop)
        if found < 0:
            return -1
        backslashes = 0
        while found - backslashes - 1 >= start and text[found - backslashes - 1] == "\\":
            backslashes += 1
        if backslashes % 2 == 0:
            return found
        i = found + 1
