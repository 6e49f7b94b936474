"""The words a study may use for its method, sampler, pruner and goal (the CLI offers the same)."""
from torchsweep.trainer.goal import Goal

# W&B method -> our sampler. `custom` leaves the choice to W&B's scheduler block, whose every
# engine runs on Optuna here.
METHODS = {"bayes": "tpe", "random": "random", "grid": "grid", "custom": "tpe"}
ENGINES = ("optuna", "wandb", "ax")   # W&B's scheduler.engine
SAMPLERS = ("tpe", "random", "grid", "cmaes", "qmc", "gp")
# wilcoxon compares a configuration's seeds with the best one's: a study with repeats only.
PRUNERS = ("median", "hyperband", "successive_halving", "wilcoxon", "none")
GOALS = tuple(goal.value for goal in Goal)   # as a study file writes them
