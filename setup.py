"""Installs the folders trainer/, sweeps/ and cli/ under one namespace, `torchsweep`.

The bare names are taken: W&B's local sweep engine (`pip install 'wandb[sweeps]'`) is imported
as `sweeps`, and `trainer` is another project on the package index. Everything else about the
package is in pyproject.toml.
"""
from setuptools import find_packages, setup

FOLDERS = ("trainer", "sweeps", "cli")
NAMESPACE = "torchsweep"

setup(packages=[f"{NAMESPACE}.{package}" for package in
                find_packages(include=[pattern for folder in FOLDERS
                                       for pattern in (folder, f"{folder}.*")])],
      package_dir={f"{NAMESPACE}.{folder}": folder for folder in FOLDERS})
