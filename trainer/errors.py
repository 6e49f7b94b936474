"""The training core's user-facing errors; torch-free so the CLI can catch them cheaply."""


class ConfigError(ValueError):
    """A setting that is unknown or out of range; the message names the field."""


class DataError(RuntimeError):
    """A dataset that cannot be loaded; the message says what to do."""


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, truncated, unsafe or from an unknown format."""


class WriteError(CheckpointError):
    """An output that cannot be written (disk full, read-only folder); the file it would have
    replaced is left as it was."""
