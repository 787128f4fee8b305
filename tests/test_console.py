"""What a user sees of an app: a user error as its message, a warning as one line."""
import warnings

import pytest

from supernet.console import AppError, app_console


def test_a_warning_prints_as_one_line_and_a_user_error_as_its_message():
    before = warnings.formatwarning
    with pytest.raises(AppError, match=r"^ValueError: trainer.arch_every must be >= 1$"):
        with app_console():
            shown = warnings.formatwarning("derive: alpha was never trained", UserWarning, "supernet/derive.py", 40,
                                           "warnings.warn(message)")
            raise ValueError("trainer.arch_every must be >= 1")
    assert shown == "UserWarning: derive: alpha was never trained\n"        # no file, line number or source
    assert warnings.formatwarning is before
    with pytest.raises(KeyError):                                             # a bug keeps its traceback
        with app_console():
            raise KeyError("bug")
