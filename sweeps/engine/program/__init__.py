"""Trials that run the user's own program, as W&B's agent runs it (see `objective`)."""
