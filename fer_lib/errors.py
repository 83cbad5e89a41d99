"""Errors that reach users: each carries one sentence that names the culprit."""


class FerError(Exception):
    """A user-facing failure; the CLI prints its message without a traceback."""


class DataError(FerError, ValueError):
    """The data file or folder is not what the loader expects."""


class ConfigError(FerError, ValueError):
    """A parameter, argument or checkpoint does not make sense."""


class TrainingDiverged(FerError, RuntimeError):
    """The loss became NaN or infinite."""
