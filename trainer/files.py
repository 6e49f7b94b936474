"""Names of the files in a training run's folder (torch-free, so sweeps can find them cheaply).

The checkpoints' and the export's names are for trainer/checkpoint.py alone: every other module
asks its `Checkpoints` (tests/test_checkpoint_owner.py fails on one that does not)."""

LAST = "last.pt"            # resume state, rewritten after every epoch
BEST = "best.pt"            # state at the best epoch so far
METRICS = "metrics.jsonl"   # one JSON object per epoch
EVALUATIONS = "evaluations.jsonl"   # one per evaluation, within epochs too (trainer.evaluations)
CONFIG = "config.json"      # the resolved TrainConfig
EXPORT_WEIGHTS = "model.safetensors"
EXPORT_CONFIG = "config.json"
PICTURE = "model.svg"       # the exported model's autograd graph (trainer.picture)
