"""Exceptions that carry one clear, user-facing message.

Everything the pipeline rejects (a bad config key, a missing dataset path, a corrupt
archive, an impossible budget) raises one of these; the command-line entry point prints
the message without a traceback and exits with status 2.
"""


class VabalError(Exception):
    """Base class of every error whose message is meant for the user."""


class ConfigError(VabalError):
    """The configuration is invalid: the message names the offending key or value."""


class DataError(VabalError):
    """A dataset or stored file is missing, corrupt or malformed: the message names it."""


class DivergedError(VabalError):
    """A network's loss, logits or features are not finite (NaN or inf): the message names
    the run and round, so that a diverged classifier never becomes a selection."""
