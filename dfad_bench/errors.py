"""One error type for everything a user can get wrong; the CLI prints it as one line and exits 2."""

import os


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


class ModelFailure(DfadError):
    """Model code (``__init__``, ``fit`` or ``predict``) raised: one line, traceback in a log file."""

    exit_code = 3

    def __init__(self, message: str, model: str = "", phase: str = "", log_path: str | None = None) -> None:
        super().__init__(message)
        self.model, self.phase, self.log_path = model, phase, log_path


#: Method names whose frames mark the phase a model was in when it raised.
_MODEL_PHASES = {"fit": "fit", "predict": "predict", "__init__": "init"}


def model_phase(exc: BaseException, default: str = "fit") -> str:
    """The phase (``init``, ``fit``, ``predict``) of the outermost model frame in ``exc``'s
    traceback: the first ``fit``/``predict``/``__init__`` call below the harness."""
    phase = getattr(exc, "dfad_phase", None)
    if isinstance(phase, str) and phase:
        return phase
    tb = exc.__traceback__
    while tb is not None:
        name = tb.tb_frame.f_code.co_name
        if name in _MODEL_PHASES and not tb.tb_frame.f_globals.get("__name__", "").startswith("dfad_bench.harness.runner"):
            return _MODEL_PHASES[name]
        tb = tb.tb_next
    return default


def model_failure(model: str, exc: BaseException, log_dir: str | os.PathLike | None, phase: str | None = None) -> ModelFailure:
    """Turn an exception from model code into a one-line :class:`ModelFailure`.

    The full traceback goes to ``<log_dir>/error.log`` (written atomically); the message is
    "model M failed in fit: <type>: <message> (full traceback in <log_dir>/error.log)". Used by
    ``run`` and by ``submit``'s contract check, so both report a failing model the same way.
    """
    import traceback

    phase = phase or model_phase(exc)
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return model_failure_from(model, phase, type(exc).__name__, str(exc), text, log_dir)


def model_failure_from(model: str, phase: str, exc_type: str, message: str, traceback_text: str,
                       log_dir: str | os.PathLike | None) -> ModelFailure:
    """:func:`model_failure` from an exception's parts (a sealed child sends them as JSON)."""
    from pathlib import Path

    text = traceback_text
    log_path: str | None = None
    if log_dir is not None:
        from dfad_bench.atomic import write_bytes_atomic

        path = Path(log_dir) / "error.log"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_bytes_atomic(path, f"model {model} failed in {phase}\n\n{text}".encode())
            log_path = str(path)
        except OSError:
            log_path = None  # a full or read-only disk must not hide the model's own error
    detail = " ".join(str(message).split()) or "(no message)"
    if len(detail) > 300:
        detail = detail[:297] + "..."
    where = f"full traceback in {log_path}" if log_path else "rerun with --debug for the traceback"
    return ModelFailure(f"model {model} failed in {phase}: {exc_type}: {detail} ({where})", model, phase, log_path)


def check_seed(seed: object, where: str) -> int:
    """``seed`` as an int in [0, 2**32 - 1], or a DfadError naming ``where``."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise DfadError(f"{where}: seed must be an integer in [0, {MAX_SEED}], got {seed!r}")
    return seed
