"""The manual: README.md is its front door, docs/ builds with `mkdocs build --strict` (any
warning fails: a broken link or anchor, an object the API page cannot find), and the pages
generated from the code at build time hold all of it: every training setting, every command
and option, every name the training core exports."""
import html
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
import typer

import torchsweep.trainer
from torchsweep.cli.app import app
from torchsweep.trainer.config import FIELDS, allowed

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("docs") / "site"
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"),
         "-d", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert built.returncode == 0, built.stdout + built.stderr
    assert "WARNING" not in built.stderr, built.stderr
    return out


def page(site, name):
    return (site / name / "index.html").read_text()


class Cells(HTMLParser):
    """The text of each table row's cells."""

    def __init__(self):
        super().__init__()
        self.rows, self._cell = [], None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.rows[-1].append(self._cell)
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def text(markup: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


def test_the_settings_table_holds_every_setting_as_validation_reads_it(site):
    parser = Cells()
    parser.feed(page(site, "training"))
    rows = {row[0]: row[1:] for row in parser.rows if row and row[0] in FIELDS}
    assert list(rows) == list(FIELDS)
    for name, field in FIELDS.items():
        default, allowed_values, meaning = rows[name]
        shown = str(field.default).lower() if isinstance(field.default, bool) else field.default
        assert default == (f"{shown:g}" if isinstance(shown, float) else str(shown)), name
        assert allowed_values == allowed(name)
        assert meaning == field.metadata["doc"]


def commands(command, path):
    """(path, command) for `command` and every command under it, depth first."""
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from commands(sub, f"{path} {name}")


def test_the_cli_reference_documents_every_command_and_option(site):
    shown = text(page(site, "reference/cli"))
    usages = [(path, shown.find(f"\n{path} [OPTIONS]"))
              for path, _ in commands(typer.main.get_command(app), "sweep")]
    missing = [path for path, at in usages if at < 0]
    assert not missing, f"the CLI reference lacks {missing}"
    starts = sorted(at for _, at in usages) + [len(shown)]
    for path, command in commands(typer.main.get_command(app), "sweep"):
        at = dict(usages)[path]
        section = shown[at:starts[starts.index(at) + 1]]
        for option in command.params:
            if option.param_type_name == "option" and not option.hidden:
                assert max(option.opts, key=len) in section, (path, option.opts)


def test_the_python_api_documents_every_name_the_training_core_exports(site):
    documented = set(re.findall(r'id="torchsweep\.trainer\.\w+\.(\w+)"',
                                page(site, "reference/python")))
    assert set(torchsweep.trainer.__all__) <= documented, \
        set(torchsweep.trainer.__all__) - documented


def test_the_benchmark_results_are_a_page_of_the_site(site):
    results = page(site, "bench/RESULTS")
    assert "Benchmark results" in results and (site / "bench" / "search.png").is_file()


def built_page(site, target: str) -> Path:
    """The HTML file that docs/NAME.md becomes."""
    name = Path(target).relative_to("docs").with_suffix("")
    return site / ("" if name.name == "index" else name) / "index.html"


def test_every_link_of_the_readme_reaches_a_file_and_its_anchor(site):
    links = re.findall(r"\]\(([^)\s]+)\)", README)
    local = [link for link in links if not re.match(r"\w+://", link)]
    assert any(link.startswith("docs/") for link in local)
    for link in local:
        target, _, anchor = link.partition("#")
        assert (ROOT / target).exists(), link
        if anchor and target.startswith("docs/"):
            assert f'id="{anchor}"' in built_page(site, target).read_text(), link


def test_the_readme_is_a_front_door_with_the_two_commands():
    assert len(README.splitlines()) <= 200, "the manual's text belongs in docs/"
    assert "pip install -e . && sweep run batchsize_study" in README
    assert "pip install -e '.[test]' && python -m pytest -q" in README
    ci = (ROOT / ".ci" / "run").read_text()
    assert "-e '.[test]'" in ci and "-m pytest -q" in ci
