"""A Linux-only libc call through ctypes, for what the os module does not offer
(sync_file_range, fallocate's hole punching): None where there is none, so each caller
keeps its portable path."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys
from collections.abc import Callable
from typing import Any


@functools.cache
def linux_libc_function(name: str, *argtypes: Any) -> Callable[..., int] | None:
    """libc's `name` taking `argtypes`, returning an int with errno kept (Linux), or None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        function = getattr(libc, name)
    except (OSError, AttributeError):
        return None
    function.argtypes = list(argtypes)
    function.restype = ctypes.c_int
    return function
