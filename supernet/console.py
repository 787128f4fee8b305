"""What a user sees of an app: when it stops on bad input, the message that says what is wrong
and how to fix it, not a traceback (``HYDRA_FULL_ERROR=1`` shows the traceback, chained to the
error); a warning as its kind and message, without the line of code that raised it."""
from __future__ import annotations

import contextlib
import warnings
from typing import Iterator

from hydra.errors import CompactHydraException

from .data import DatasetNotFoundError
from .latency.table import MissingEntryError
from .run import NonFiniteLossError
from .run.checkpoint import CheckpointError

# What the project raises for input it cannot use (ValueError: settings, genotypes, tables; OSError:
# files, refused folders); any other exception is a bug and keeps its traceback.
USER_ERRORS = (ValueError, OSError, CheckpointError, DatasetNotFoundError, MissingEntryError, NonFiniteLossError)


class AppError(CompactHydraException):
    """A user error as hydra prints it: the message alone."""


def one_line_warning(message, category, filename, lineno, line=None) -> str:
    return f"{category.__name__}: {message}\n"


@contextlib.contextmanager
def app_console() -> Iterator[None]:
    """Around an app's work: a user error becomes an :class:`AppError` naming its kind, and
    warnings print as one line."""
    shown, warnings.formatwarning = warnings.formatwarning, one_line_warning
    try:
        yield
    except USER_ERRORS as e:
        raise AppError(f"{type(e).__name__}: {e}") from e
    finally:
        warnings.formatwarning = shown
