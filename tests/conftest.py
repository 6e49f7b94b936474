import os

# Tests that are not about W&B keep it off; the tracking tests turn offline mode on themselves.
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("WANDB_SILENT", "true")
