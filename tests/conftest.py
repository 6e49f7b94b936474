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
