"""The type checker passes on torchsweep, and the lazy facades show it what they hand out.

mypy runs on the package as it is imported, `torchsweep` with `.trainer`, `.sweeps` and `.cli`:
setup.py maps the folders there, which an editable install does with an import hook that mypy
cannot follow, so the test lays the same mapping out as links in a folder of its own. Its settings are
pyproject.toml's [tool.mypy]; its cache is kept under the temporary folder (CACHE), so a
second run checks only what changed.
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
TOP = "package"   # torchsweep/__init__.py: the Python API's names
# mypy's cache, shared by every checkout on this machine: most of a cold run (a minute on 2
# cores) is Optuna's, torch's and W&B's modules, whose entries hold for a new clone too; mypy
# checks each entry against its source, so a stale one is redone, never trusted.
CACHE = Path(tempfile.gettempdir()) / "torchsweep-mypy-cache"


def package_tree() -> Path:
    """A folder holding `torchsweep/` as setup.py lays it out, in links to this checkout: its
    `__init__.py` from package/, and trainer/, sweeps/ and cli/. The same folder for every run
    of this checkout (mypy's entries for it are keyed by path)."""
    key = hashlib.sha1(str(PROJECT).encode()).hexdigest()[:12]
    base = Path(tempfile.gettempdir()) / f"torchsweep-mypy-{key}"
    (base / "torchsweep").mkdir(parents=True, exist_ok=True)
    targets = {folder: PROJECT / folder for folder in FOLDERS}
    targets.update({path.name: path for path in (PROJECT / TOP).glob("*.py")})
    for name, target in targets.items():
        link = base / "torchsweep" / name
        if not link.is_symlink() or link.resolve() != target:
            link.unlink(missing_ok=True)
            link.symlink_to(target, target_is_directory=target.is_dir())
    return base


def test_mypy_finds_no_errors():
    pytest.importorskip("mypy", reason="mypy is in the test extra: pip install -e '.[test]'")
    base = package_tree()
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(PROJECT / "pyproject.toml"),
         "--cache-dir", str(CACHE), "-p", "torchsweep"],
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
