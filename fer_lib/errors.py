"""Errors that reach users: each carries one sentence that names the culprit."""


class FerError(Exception):
    """A user-facing failure; the CLI prints its message without a traceback."""


class DataError(FerError, ValueError):
    """The data file or folder is not what the loader expects."""


class ConfigError(FerError, ValueError):
    """A parameter, argument or checkpoint does not make sense."""


class TrainingDiverged(FerError, RuntimeError):
    """The training loss became NaN or infinite, or exploded far above where it started."""


class WriteError(FerError):
    """A file could not be written whole (a full disk, no permission); nothing half-written is left."""


class Note(UserWarning):
    """Something a user should know that does not stop the command; the CLI prints it as one line."""
