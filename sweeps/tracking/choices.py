"""The words tracking takes on the command line: W&B's modes, and which checkpoints to log."""

MODES = ("online", "offline", "disabled")
# Which kept checkpoints the study run logs as W&B model artifacts (`--log-checkpoints`).
CHECKPOINT_ARTIFACTS = ("best", "all", "none")
DEFAULT_CHECKPOINT_ARTIFACTS = "best"
