"""The words a study may use for its method, sampler, pruner and goal (the CLI offers the same)."""

METHODS = {"bayes": "tpe", "random": "random", "grid": "grid"}  # W&B method -> our sampler
SAMPLERS = ("tpe", "random", "grid", "cmaes", "qmc", "gp")
PRUNERS = ("median", "hyperband", "successive_halving", "none")
GOALS = ("maximize", "minimize")
