"""Exceptions that carry a one-line, user-actionable message.

`UserError` (and subclasses) mean bad input: the CLI prints the message and exits 2.
Anything else escaping a command is an internal error: exit 1.
"""


class UserError(Exception):
    """Bad input from the user (file, argument, config, data). The message is shown as is."""


class DataError(UserError):
    """A candle file or frame is unreadable or fails validation."""


class ConfigError(UserError):
    """A configuration file or value is invalid."""
