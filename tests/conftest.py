import os

# Tests that are not about W&B keep it off; the tracking tests turn offline mode on themselves.
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("WANDB_SILENT", "true")
# pytest-xdist's workers run with COLUMNS=80, and Rich fixes a console's width from COLUMNS
# when the console is made (at import): tables would then ignore the width a test asks for.
for size in ("COLUMNS", "LINES"):
    os.environ.pop(size, None)
# Each of pytest-xdist's processes trains with one thread (torch reads this at import), and so
# do the processes they start: two processes of torch's default one thread per core
# oversubscribe the cores, and small models then wait on each other's threads.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")

# pytest-xdist hands whole files to its two processes in the order they are collected
# (--no-loadscope-reorder in pyproject.toml; its default orders them by how many tests they
# hold, which sent the few long chaos tests last): the longest files go first, so that the run
# does not end on one long file while the other process idles. Longest first, by the seconds
# their tests took in all (`pytest --durations=0`, 2026-12-07: 190 s down to 54 s); the other
# files are shorter and keep their order. A file missing here only costs time.
LONGEST_FILES = ("test_chaos.py", "test_programs.py", "test_python_api.py", "test_tracking.py",
                 "test_recovery.py", "test_storage_outages.py", "test_launch_slurm.py",
                 "test_workers.py", "test_report.py", "test_types.py", "test_wandb_files.py",
                 "test_cli_run.py", "test_loop.py", "test_wandb_projects.py",
                 "test_errors_cli.py")


def pytest_collection_modifyitems(items):
    rank = {name: place for place, name in enumerate(LONGEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))   # stable: files stay whole
