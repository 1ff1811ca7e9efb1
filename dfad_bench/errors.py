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


MAX_SEED = 2**32 - 1  # numpy / scikit-learn / torch all accept seeds in [0, 2**32 - 1]


def check_seed(seed: object, where: str) -> int:
    """``seed`` as an int in [0, 2**32 - 1], or a DfadError naming ``where``."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise DfadError(f"{where}: seed must be an integer in [0, {MAX_SEED}], got {seed!r}")
    return seed
