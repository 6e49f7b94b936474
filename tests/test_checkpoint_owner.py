"""One owner of checkpoint files: trainer/checkpoint.py (its `Checkpoints`), read off the source.

Outside it no module of the package names last.pt or best.pt (or the export's files), imports
their names, loads or saves with torch, or deletes, copies or moves files; the few that delete
or copy other files are listed here, each with what it is instead. A new one fails the test
until it goes through the owner or is listed with its reason."""
import ast
import subprocess
import sys
from pathlib import Path

from torchsweep.trainer import files

PROJECT = Path(__file__).resolve().parent.parent
PACKAGES = ("trainer", "sweeps", "cli")
OWNER = "trainer/checkpoint.py"
OWNED_NAMES = ("LAST", "BEST", "EXPORT_WEIGHTS", "EXPORT_CONFIG")   # in trainer/files.py
OWNED_FILES = (files.LAST, files.BEST)   # as a path (prose may name them), outside files.py
# Calls that delete, copy, move or (de)serialize files, by what they are called on.
FILE_CALLS = {"shutil": {"copy", "copy2", "copyfile", "copyfileobj", "copytree", "move", "rmtree"},
              "os": {"remove", "unlink", "rename", "replace", "rmdir", "removedirs"},
              "torch": {"save", "load"}}
PATH_CALLS = {"unlink", "rename", "rmdir"}   # Path's; `.replace(target)` is checked by arity
# Uses that are not checkpoints: (module, call) -> what it is.
NOT_CHECKPOINTS = {
    ("trainer/atomic.py", "os.replace"): "the atomic writer's rename (the owner writes with it)",
    ("trainer/atomic.py", "Path(temp).unlink"): "the atomic writer's temporary file",
    ("sweeps/tracking/wandb_runs.py", "shutil.rmtree"): "a W&B run folder that failed to start",
    ("sweeps/readout/export.py", "shutil.copyfile"): "the export's model.svg, for the report",
}


def _sources():
    for package in PACKAGES:
        for path in sorted((PROJECT / package).rglob("*.py")):
            module = str(path.relative_to(PROJECT))
            if module != OWNER:
                yield module, ast.parse(path.read_text(), module)


def _docstrings(tree: ast.AST) -> set[int]:
    return {id(node.body[0].value) for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and node.body and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)}


def _is_path_to(text: str, names: tuple[str, ...]) -> bool:
    """`"last.pt"`, or the end of a path such as f"{folder}/last.pt"; not a sentence naming it."""
    return not any(character.isspace() for character in text) and text.endswith(names)


def _file_call(node: ast.Call) -> str | None:
    """`shutil.rmtree`, `path.unlink`, ... when `node` deletes, copies, moves or (de)serializes."""
    function = node.func
    if not isinstance(function, ast.Attribute):
        return None
    on = function.value.id if isinstance(function.value, ast.Name) else None
    moves = function.attr == "replace" and len(node.args) == 1 and not node.keywords
    if function.attr in FILE_CALLS.get(on, ()) or function.attr in PATH_CALLS or moves:
        return ast.unparse(function)
    return None


def _trespasses(module: str, tree: ast.AST) -> list[str]:
    found, docstrings = [], _docstrings(tree)
    for node in ast.walk(tree):
        where = f"{module}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and id(node) not in docstrings and module != "trainer/files.py" \
                and _is_path_to(node.value, OWNED_FILES):
            found.append(f"{where}: names {node.value!r}")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").endswith("trainer.files"):
            found += [f"{where}: imports {alias.name}" for alias in node.names
                      if alias.name in OWNED_NAMES]
        elif isinstance(node, ast.ImportFrom) and node.module in FILE_CALLS:
            found += [f"{where}: imports {node.module}.{alias.name}" for alias in node.names
                      if alias.name in FILE_CALLS[node.module]]
        elif isinstance(node, ast.Attribute) and node.attr in OWNED_NAMES \
                and isinstance(node.value, ast.Name) and node.value.id == "files":
            found.append(f"{where}: uses files.{node.attr}")
        elif isinstance(node, ast.Call) and (call := _file_call(node)) \
                and (module, call) not in NOT_CHECKPOINTS:
            found.append(f"{where}: calls {call}")
    return found


def test_no_module_but_the_owner_touches_checkpoint_files():
    found = [line for module, tree in _sources() for line in _trespasses(module, tree)]
    assert not found, ("checkpoint files go through trainer/checkpoint.py's Checkpoints (or, "
                       "if this is not a checkpoint, list it in NOT_CHECKPOINTS with what it "
                       "is):\n" + "\n".join(found))


def test_every_listed_exception_is_still_there():
    """A listed use that went away leaves a hole through which a checkpoint could slip."""
    calls = {(module, call) for module, tree in _sources() for node in ast.walk(tree)
             if isinstance(node, ast.Call) and (call := _file_call(node))}
    assert set(NOT_CHECKPOINTS) <= calls, set(NOT_CHECKPOINTS) - calls


def test_the_owner_imports_no_torch_until_a_file_is_read_or_written():
    """So the engine uses it at no cost where no model trains (a program study's retention)."""
    done = subprocess.run(
        [sys.executable, "-c", "import sys; import torchsweep.trainer.checkpoint, "
         "torchsweep.sweeps.engine.retention; print('torch' in sys.modules)"],
        capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "False", done.stderr
