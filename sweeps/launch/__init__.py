"""Launching a study's workers on a cluster's scheduler: Slurm job arrays (`slurm`) and
Kubernetes Indexed Jobs (`k8s`). Between the CLI and the engine: the workers they start run the
engine's `join_study`, as `sweep worker` does."""
