"""The sweep engine's user-facing errors; cheap to import, so the CLI can map them to exit codes."""


class StorageError(RuntimeError):
    """A storage that cannot be reached, parsed or read."""


class StudyError(RuntimeError):
    """A study that cannot be run as asked (e.g. its search space changed)."""


class UnknownStudy(LookupError):
    """Not bundled, not a file, not run before, and no --param to define it."""


class StudyNotFound(LookupError):
    """No study of that name in the storage."""


class ExportError(RuntimeError):
    """Nothing to export: no completed trial, or its checkpoint is gone."""
