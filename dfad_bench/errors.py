"""One error type for everything a user can get wrong; the CLI prints it as one line and exits 2."""


class DfadError(Exception):
    """A user-facing error: bad input file, unknown name, violated protocol rule.

    The message must name the file/field and say what was expected, on one line.
    """

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


class LeakageError(DfadError):
    """Train and test share a sample, an identity, a source or identical image bytes."""
