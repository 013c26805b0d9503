"""The scripts' import guard: the garbage collector is off while importing, on (and past the frozen imports) after."""

import gc
import weakref

import pytest

from facegan.runtime import startup


class Node:
    next: "Node"


@pytest.fixture
def restore_gc():
    yield
    gc.unfreeze()
    gc.enable()


def test_imports_run_without_gc_and_leave_it_on_with_them_frozen(restore_gc):
    gc.unfreeze()
    with startup.imports_without_gc():
        assert not gc.isenabled()
        import json  # noqa: F401  (an import inside the block, as the scripts do)
    assert gc.isenabled()
    assert gc.get_freeze_count() > 0  # what existed is in the permanent generation
    cycle = Node()
    cycle.next = cycle  # garbage made afterwards, a reference cycle, is still collected
    alive = weakref.ref(cycle)
    del cycle
    gc.collect()
    assert alive() is None


def test_a_failing_import_still_turns_the_collector_back_on(restore_gc):
    with pytest.raises(ModuleNotFoundError), startup.imports_without_gc():
        import facegan_no_such_module  # noqa: F401
    assert gc.isenabled()
