"""Keeps Python's garbage collector off the objects that importing torch, Lightning and Hydra creates.

A script's imports allocate hundreds of thousands of objects, so the collector runs full passes over them again
and again while importing, and once more at interpreter exit, a large share of a short command's start and end
(docs/BENCHMARKS.md has the times). None of them is garbage: modules, functions and classes live as long as the
process. So the scripts import with the collector off and then freeze what exists (gc.freeze: later collections
skip it; forked data-loader workers also stop touching those pages). Objects created afterwards are collected as
usual.

    with startup.imports_without_gc():
        import hydra
        from facegan.train import train
"""

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def imports_without_gc() -> Iterator[None]:
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()
