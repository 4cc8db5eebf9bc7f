"""Instructions a request spent in chosen functions of ``bench_http``'s app, under callgrind.

To callgrind every Python frame is the interpreter's one C loop, so a Python function has no
count of its own. Here each function named is wrapped, before the app is built, in its own C
trampoline (``functools.reduce``, ``operator.call``, ``itertools.starmap``, ``map``), and
callgrind's inclusive count of that C function is the Python function's, with everything it
calls. A run without wrappers gives each trampoline's own use by the app (``map`` is used a
little), which is taken off. The wrapper adds its own calls (a few thousand instructions a
call), so compare functions of a similar number of calls, or the same function before and
after a change, rather than read a count as exact. Work driven by the clock (the health
window's and the adaptive sampler's rolls, ~50 times as frequent under callgrind) is billed to
the function that triggers it: with fewer than 1,000 requests that share shows.

    .venv/bin/python -m benchmarks.bench_functions [--db] [--variant saler_noexport]
        [--requests 1000] module:Class.method [module:function ...]   # four at most

Methods are wrapped on their class, so listeners registered as bound methods must be named
by their class (they are bound when the app is built, after wrapping). ``on_start`` of a
pipeline stage cannot be wrapped (the chain recognises stages by that method). Needs
``valgrind`` and ``callgrind_annotate`` on the PATH; about a minute a run at 1,000 requests.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import importlib
import itertools
import operator
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from typing import Any

from benchmarks import bench_http

_ONE = (0,)
_NOWHERE = "http://127.0.0.1:9/v1/traces"  # use a variant that exports nothing


def _via_reduce(f: Callable[..., Any]) -> Callable[..., Any]:
    def wrapped(*a: Any, **k: Any) -> Any:
        return functools.reduce(lambda _x, _y: f(*a, **k), _ONE, None)

    return wrapped


def _via_call(f: Callable[..., Any]) -> Callable[..., Any]:
    def wrapped(*a: Any, **k: Any) -> Any:
        return operator.call(f, *a, **k)

    return wrapped


def _via_starmap(f: Callable[..., Any]) -> Callable[..., Any]:
    def wrapped(*a: Any, **k: Any) -> Any:
        return next(itertools.starmap(lambda: f(*a, **k), ((),)))

    return wrapped


def _via_map(f: Callable[..., Any]) -> Callable[..., Any]:
    def wrapped(*a: Any, **k: Any) -> Any:
        return next(map(lambda _: f(*a, **k), _ONE))

    return wrapped


# The trampoline, and the C function callgrind names for it.
TRAMPOLINES: tuple[tuple[Callable[..., Any], str], ...] = (
    (_via_reduce, "functools_reduce"),
    (_via_call, "_operator_call"),
    (_via_starmap, "starmap_next"),
    (_via_map, "map_next"),
)


def _wrap(spec: str, trampoline: Callable[..., Any]) -> None:
    module, _, path = spec.partition(":")
    if not path:
        raise SystemExit(f"{spec!r}: expected module:function or module:Class.method")
    *owners, name = path.split(".")
    owner: Any = importlib.import_module(module)
    for part in owners:
        owner = getattr(owner, part)
    found = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
    if isinstance(found, staticmethod):
        setattr(owner, name, staticmethod(trampoline(found.__func__)))
    else:
        setattr(owner, name, trampoline(found))


def child(variant: str, requests: int, db: bool, specs: list[str]) -> None:
    for spec, (trampoline, _) in zip(specs, TRAMPOLINES, strict=False):
        _wrap(spec, trampoline)
    app, flush = bench_http.build_app(variant, _NOWHERE, db)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(bench_http.drive(app, 300))  # warm-up: caches, first statements
    flush()
    loop.run_until_complete(bench_http.drive(app, requests))
    flush()


def _inclusive(args: argparse.Namespace, specs: list[str]) -> dict[str, int]:
    """Each trampoline's inclusive count in one run under callgrind."""
    with tempfile.TemporaryDirectory() as tmp:
        out = f"{tmp}/callgrind.out"
        command = [
            *("valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"),
            *(sys.executable, "-m", "benchmarks.bench_functions", "--child"),
            *("--variant", args.variant, "--requests", str(args.requests)),
            *(["--db"] if args.db else []),
            *specs,
        ]
        env = {**os.environ, "OTEL_SDK_DISABLED": "false", "PYTHONHASHSEED": "0"}
        subprocess.run(command, capture_output=True, check=True, env=env)
        annotated = subprocess.run(
            ["callgrind_annotate", "--threshold=100", "--inclusive=yes", out],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    counts: dict[str, int] = {}
    for _, c_name in TRAMPOLINES:
        # The trampoline's own source file: lines for inlined helpers name other files.
        pattern = rf"^\s*([\d,]+) .*(?:(?:Modules|Python)/\w+\.c|\?\?\?):{c_name}\b(?!\.)"
        found = re.search(pattern, annotated, re.MULTILINE)
        counts[c_name] = int(found.group(1).replace(",", "")) if found else 0
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("functions", nargs="*", help="module:function or module:Class.method")
    parser.add_argument("--variant", default="saler_noexport", choices=bench_http.VARIANTS)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--db", action="store_true", help="two SQLAlchemy statements a request")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if len(args.functions) > len(TRAMPOLINES) or not (args.functions or args.child):
        raise SystemExit(f"name one to {len(TRAMPOLINES)} functions")
    if args.child:
        child(args.variant, args.requests, args.db, args.functions)
        return
    for tool in ("valgrind", "callgrind_annotate"):
        if shutil.which(tool) is None:
            raise SystemExit(f"needs {tool} (Debian package valgrind)")
    background = _inclusive(args, [])
    wrapped = _inclusive(args, args.functions)
    print(f"{'function':<72}{'instructions/request':>22}")
    for spec, (_, c_name) in zip(args.functions, TRAMPOLINES, strict=False):
        per_request = (wrapped[c_name] - background[c_name]) / args.requests
        print(f"{spec:<72}{per_request:>22,.0f}")


if __name__ == "__main__":
    main()
