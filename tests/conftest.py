import os

# Tests that are not about W&B keep it off; the tracking tests turn offline mode on themselves.
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("WANDB_SILENT", "true")
# pytest-xdist's workers run with COLUMNS=80, and Rich fixes a console's width from COLUMNS
# when the console is made (at import): tables would then ignore the width a test asks for.
for size in ("COLUMNS", "LINES"):
    os.environ.pop(size, None)
