"""Installs the folders trainer/, sweeps/ and cli/ under one package, `torchsweep`, whose own
`__init__` (the Python API's names, imported lazily) is the folder package/.

The bare names are taken: W&B's local sweep engine (`pip install 'wandb[sweeps]'`) is imported
as `sweeps`, and `trainer` is another project on the package index. Everything else about the
package is in pyproject.toml.
"""
from setuptools import find_packages, setup

FOLDERS = ("trainer", "sweeps", "cli")
NAMESPACE = "torchsweep"

TOP = "package"   # torchsweep/__init__.py

setup(packages=[NAMESPACE, *(f"{NAMESPACE}.{package}" for package in
                             find_packages(include=[pattern for folder in FOLDERS
                                                    for pattern in (folder, f"{folder}.*")]))],
      package_dir={NAMESPACE: TOP, **{f"{NAMESPACE}.{folder}": folder for folder in FOLDERS}})
