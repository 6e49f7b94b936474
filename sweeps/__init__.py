"""Study files, search spaces and Optuna orchestration on top of the training core."""
