"""MkDocs hooks: what the site generates from the code at build time, so that no page can go
stale (tests/test_docs.py builds the site with --strict and reads these pages back).

- The training-settings table, from `TrainConfig`'s field metadata: the same default, allowed
  set or range and help that validation and its error messages use.
- `cli`: the click command Typer builds for `sweep`, which mkdocs-click documents
  (docs/reference/cli.md).
- The sources as they install: setup.py maps the folders trainer/, sweeps/ and cli/ to
  `torchsweep.*`, which no folder of the checkout is named, so mkdocstrings reads them through
  a folder of links that names them so (`paths` in mkdocs.yml).
- bench/RESULTS.md, served as a page of the site: the figures live there only.
"""
from __future__ import annotations

import html
import sys
from pathlib import Path

import typer
from mkdocs.structure.files import File

from torchsweep.cli.app import app
from torchsweep.trainer.config import FIELDS, allowed

ROOT = Path(__file__).resolve().parent.parent
# mkdocs.yml's mkdocstrings `paths` names this folder; build/ is ignored by git.
SOURCES = ROOT / "build" / "docs-sources"
# setup.py's FOLDERS (importing setup.py would run setup()).
PACKAGE_FOLDERS = ("trainer", "sweeps", "cli")
SETTINGS_TABLE = "<!-- generated: training settings -->"
SERVED = ("bench/RESULTS.md", "bench/search.png")

cli = typer.main.get_command(app)
# mkdocs loads this file under its path ("docs/hooks.py"), which no import can name; mkdocs-click
# imports the module that holds `cli` by name.
sys.modules["sweep_docs_hooks"] = sys.modules[__name__]


def on_startup(command, dirty):
    # Before any plugin's on_config: mkdocstrings keeps only the `paths` that exist by then.
    package = SOURCES / "torchsweep"
    package.mkdir(parents=True, exist_ok=True)
    for folder in PACKAGE_FOLDERS:
        link = package / folder
        if not (link.is_symlink() and link.resolve() == ROOT / folder):
            link.unlink(missing_ok=True)
            link.symlink_to(ROOT / folder, target_is_directory=True)


def on_files(files, config):
    for path in SERVED:
        files.append(File.generated(config, path, abs_src_path=str(ROOT / path)))
    return files


def on_page_markdown(markdown, page, config, files):
    return markdown.replace(SETTINGS_TABLE, settings_table())


def settings_table() -> str:
    rows = ["| setting | default | allowed | meaning |", "|---|---|---|---|"]
    for name, field in FIELDS.items():
        rows.append(f"| `{name}` | `{_shown(field.default)}` | {_cell(allowed(name))} "
                    f"| {_cell(field.metadata['doc'])} |")
    return "\n".join(rows)


def _shown(default) -> str:
    """A default as `--set` and a study file spell it."""
    if isinstance(default, bool):
        return str(default).lower()
    return f"{default:g}" if isinstance(default, float) else str(default)


def _cell(text: str) -> str:
    # `imagefolder:<path>` is text, not a tag; a bar would end the cell.
    return html.escape(text, quote=False).replace("|", "\\|")

