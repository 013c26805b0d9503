"""The docs name tests that exist: each promise of docs/PROMISES.md names the test that holds it."""

import ast
import re

from helpers import REPO_ROOT


def defined_tests() -> dict[str, set[str]]:
    tests = {}
    for path in (REPO_ROOT / "tests").glob("test_*.py"):
        tree = ast.parse(path.read_text())
        tests[path.name] = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    return tests


def test_every_test_the_promises_name_exists():
    tests = defined_tests()
    named = 0
    for row in (REPO_ROOT / "docs" / "PROMISES.md").read_text().splitlines():
        file = None
        for reference in re.findall(r"`(test_\w+\.py)?(?:::(test_\w+))?`", row):
            file = reference[0] or file  # `::name` after `file.py::name` means the same file
            assert file in tests, f"docs/PROMISES.md names {reference} in a file that does not exist"
            if reference[1]:
                assert reference[1] in tests[file], f"docs/PROMISES.md names {file}::{reference[1]}, not defined"
                named += 1
    assert named >= 15
