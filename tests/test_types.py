"""The type checker passes on torchsweep, and the lazy facades show it what they hand out.

mypy runs on the package as it is imported, `torchsweep.trainer`, `.sweeps` and `.cli`: setup.py
maps the folders there, which an editable install does with an import hook that mypy cannot
follow, so the test lays the same mapping out as links in a folder of its own. Its settings are
pyproject.toml's [tool.mypy]; its cache is kept under the temporary folder, so a second run
checks only what changed.
"""
from __future__ import annotations

import ast
import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent
FOLDERS = ("trainer", "sweeps", "cli")


def package_tree() -> Path:
    """A folder holding `torchsweep/<folder>` links to this checkout's folders, the same one
    for every run of this checkout (mypy's cache is keyed by path)."""
    key = hashlib.sha1(str(PROJECT).encode()).hexdigest()[:12]
    base = Path(tempfile.gettempdir()) / f"torchsweep-mypy-{key}"
    (base / "torchsweep").mkdir(parents=True, exist_ok=True)
    for folder in FOLDERS:
        link = base / "torchsweep" / folder
        if not link.is_symlink() or link.resolve() != PROJECT / folder:
            link.unlink(missing_ok=True)
            link.symlink_to(PROJECT / folder, target_is_directory=True)
    return base


def test_mypy_finds_no_errors():
    pytest.importorskip("mypy", reason="mypy is in the test extra: pip install -e '.[test]'")
    base = package_tree()
    packages = [arg for folder in FOLDERS for arg in ("-p", f"torchsweep.{folder}")]
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(PROJECT / "pyproject.toml"),
         "--cache-dir", str(base / ".mypy_cache"), *packages],
        capture_output=True, text=True, cwd=base, timeout=300,
        env={**os.environ, "MYPYPATH": str(base)})
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("facade, table", [("trainer/__init__.py", "_LAZY"),
                                           ("sweeps/study/__init__.py", "_PUBLIC")])
def test_a_lazy_facade_imports_for_the_type_checker_what_it_hands_out(facade, table):
    """Each name `__getattr__` hands out is imported under TYPE_CHECKING from the same module,
    so editors and mypy see it typed; a name added to one and not the other fails here."""
    tree = ast.parse((PROJECT / facade).read_text())
    checked = {alias.name: node.module.rsplit(".", 1)[1]
               for block in tree.body if isinstance(block, ast.If)
               and getattr(block.test, "id", None) == "TYPE_CHECKING"
               for node in block.body if isinstance(node, ast.ImportFrom)
               for alias in node.names}
    (lazy,) = [ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)
               and getattr(node.targets[0], "id", None) == table]
    assert checked == lazy
