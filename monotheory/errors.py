"""The one error type users see: a bad parameter or file, described in one sentence."""


class ConfigError(ValueError):
    """A bad parameter, config or file.

    The message is one sentence that names the offending value and what is allowed, e.g.
    ``sparsity = 1.5 is outside [0, 1)``. The CLI prints it as one line on stderr and exits with status 2.
    """
