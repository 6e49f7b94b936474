"""The layers of docs/architecture.md: import-linter holds the contracts in pyproject.toml."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent
PACKAGES = ("trainer", "sweeps", "cli")
MODULE_LINE_LIMIT = 400   # about: one concept a module


def as_installed(folder: Path) -> Path:
    """The package as a wheel installs it (setup.py's mapping: package/ is torchsweep's own
    __init__, the folders its subpackages), as links under `folder`. import-linter walks the
    folder of the root package it finds, and an editable install's torchsweep is package/ alone."""
    package = folder / "torchsweep"
    package.mkdir(parents=True)
    (package / "__init__.py").symlink_to(PROJECT / "package" / "__init__.py")
    for name in PACKAGES:
        (package / name).symlink_to(PROJECT / name, target_is_directory=True)
    return folder


def test_imports_flow_one_way_and_the_trainer_stands_alone(tmp_path):
    # In a process of its own: import-linter reconfigures logging, which would silence the
    # loggers of the tests after it.
    code = ("import sys; from importlinter.cli import lint_imports; "
            f"sys.exit(lint_imports(config_filename={str(PROJECT / 'pyproject.toml')!r}, "
            "no_cache=True))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=PROJECT, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(as_installed(tmp_path))})
    report = done.stdout + done.stderr
    contracts = (PROJECT / "pyproject.toml").read_text().count("[[tool.importlinter.contracts]]")
    assert f"Contracts: {contracts} kept, 0 broken." in report, report
    assert done.returncode == 0, report


@pytest.mark.parametrize("layer, heavy", [("sweeps.study", {"torch", "optuna"}),
                                          ("sweeps.readout", {"torch"})])
def test_a_torch_free_layer_stays_so_when_every_module_of_it_is_imported(layer, heavy):
    """What import-linter cannot see: the imports it is told to ignore (an export loads its
    checkpoint through the trainer) stay inside the functions that need them."""
    code = ("import importlib, pkgutil, sys\n"
            f"import torchsweep.{layer} as layer\n"
            "for module in pkgutil.walk_packages(layer.__path__, layer.__name__ + '.'):\n"
            "    importlib.import_module(module.name)\n"
            f"print(sorted(set({sorted(heavy)!r}) & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=PROJECT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", f"importing {layer} loads {done.stdout}"


@pytest.mark.parametrize("package", PACKAGES)
def test_no_module_grows_past_one_concept(package):
    long = {str(path.relative_to(PROJECT)): lines for path in (PROJECT / package).rglob("*.py")
            if (lines := len(path.read_text().splitlines())) > MODULE_LINE_LIMIT}
    assert not long, f"split these by concept: {long}"


def test_attributes_are_written_through_attrs_only():
    """sweeps/attrs.py names each study and trial attribute and is the one place that writes
    one, so what is written and what is read cannot drift apart."""
    writers = {str(path.relative_to(PROJECT)) for package in PACKAGES
               for path in (PROJECT / package).rglob("*.py")
               if ".set_user_attr(" in path.read_text()}
    assert writers == {"sweeps/attrs.py"}, f"write these through sweeps/attrs.py: {writers}"
