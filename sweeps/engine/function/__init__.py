"""A study whose trials call the user's own Python function, in a worker process that runs many
of them (see `objective`): `reference` finds and ships the function, `handle` is the trial a
function is given, `thread` runs a W&B-style function (no argument, its own `wandb.init()`)."""
