"""The layers of README's "Architecture": import-linter holds the contracts in pyproject.toml."""
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent
PACKAGES = ("trainer", "sweeps", "cli")
MODULE_LINE_LIMIT = 400   # about: one concept a module


def test_imports_flow_one_way_and_the_trainer_stands_alone():
    # In a process of its own: import-linter reconfigures logging, which would silence the
    # loggers of the tests after it.
    code = ("import sys; from importlinter.cli import lint_imports; "
            f"sys.exit(lint_imports(config_filename={str(PROJECT / 'pyproject.toml')!r}, "
            "no_cache=True))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=PROJECT, timeout=120)
    report = done.stdout + done.stderr
    assert "Contracts: 2 kept, 0 broken." in report, report
    assert done.returncode == 0, report


@pytest.mark.parametrize("package", PACKAGES)
def test_no_module_grows_past_one_concept(package):
    long = {str(path.relative_to(PROJECT)): lines for path in (PROJECT / package).rglob("*.py")
            if (lines := len(path.read_text().splitlines())) > MODULE_LINE_LIMIT}
    assert not long, f"split these by concept: {long}"
