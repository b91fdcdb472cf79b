"""Argument checking shared by the subcommands: one-line errors that name the option.

Every converter here raises :class:`argparse.ArgumentTypeError` with a message that says what
is accepted, so argparse prints ``argument --nodes: want a whole number >= 1, got 'abc'``
rather than ``invalid _positive_int value``.  :class:`CliParser` prints that error as one line
(no usage block, no traceback) and exits with status 2.  ``FIELD=VALUE`` overrides of
:class:`~swimcore.Config` are converted here too, so ``run``, ``simulate`` and ``tune`` agree
on what ``--set lifeguard_buddy=maybe`` means (it is refused).
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import attrs

from swimcore import Config, ConfigError
from swimcore.config import MAX_LABEL_BYTES

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


class CliParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line: ``PROG: error: MESSAGE (see PROG -h)``."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def plain(doc: str | None) -> str:
    """A module docstring as help text: reStructuredText's double backticks and ``::`` gone."""
    text = (doc or "").replace("``", "")
    return re.sub(r"(\S)::\n", r"\1:\n", text).replace("\n::\n", "\n")


def number(text: str, kind: type[int] | type[float], want: str) -> Any:
    """``text`` as ``kind`` (finite), or an error saying ``want`` and what was given."""
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"want {want}, got {text!r}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"want {want}, got {text!r}")
    return value


#: Image files matplotlib writes in every install (pillow, which it requires, writes JPEG).
PLOT_FORMATS = (".png", ".pdf", ".svg", ".eps", ".ps", ".jpg", ".jpeg")


def output_file(suffixes: tuple[str, ...] = ()) -> Callable[[str], str]:
    """A converter for a file written when a run ends, checked before it starts: its folder
    exists and takes files, and its name ends in one of ``suffixes`` (any, if none)."""

    def check(text: str) -> str:
        path = Path(text)
        if suffixes and path.suffix.lower() not in suffixes:
            raise argparse.ArgumentTypeError(
                f"want a file name ending in {', '.join(suffixes)}, got {text!r}"
            )
        folder = path.parent
        if path.is_dir() or not folder.is_dir() or not os.access(folder, os.W_OK):
            raise argparse.ArgumentTypeError(
                f"cannot write {text!r}: want a file in a folder that exists and is writable"
            )
        return text

    return check


def cluster_label(text: str) -> str:
    """A cluster label (``GROUP``): at most as long as the wire's header allows."""
    if len(text.encode()) > MAX_LABEL_BYTES:
        raise argparse.ArgumentTypeError(
            f"want a label of at most {MAX_LABEL_BYTES} UTF-8 bytes, got {len(text.encode())}"
        )
    return text


def positive_int(text: str) -> int:
    """A whole number of at least 1."""
    value: int = number(text, int, "a whole number >= 1")
    if value < 1:
        raise argparse.ArgumentTypeError(f"want a whole number >= 1, got {text!r}")
    return value


def count(text: str) -> int:
    """A whole number of at least 0."""
    value: int = number(text, int, "a whole number >= 0")
    if value < 0:
        raise argparse.ArgumentTypeError(f"want a whole number >= 0, got {text!r}")
    return value


def integer(text: str) -> int:
    """Any whole number (seeds)."""
    value: int = number(text, int, "a whole number")
    return value


def probability(text: str) -> float:
    """A number within 0..1."""
    value: float = number(text, float, "a number within 0..1")
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"want a number within 0..1, got {text!r}")
    return value


def positive_seconds(text: str) -> float:
    """A finite number of seconds above 0."""
    value: float = number(text, float, "a number of seconds > 0")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"want a number of seconds > 0, got {text!r}")
    return value


def non_negative_seconds(text: str) -> float:
    """A finite number of seconds, 0 or more."""
    value: float = number(text, float, "a number of seconds >= 0")
    if value < 0:
        raise argparse.ArgumentTypeError(f"want a number of seconds >= 0, got {text!r}")
    return value


def non_negative(text: str) -> float:
    """A finite number, 0 or more."""
    value: float = number(text, float, "a number >= 0")
    if value < 0:
        raise argparse.ArgumentTypeError(f"want a number >= 0, got {text!r}")
    return value


def positive(text: str) -> float:
    """A finite number above 0."""
    value: float = number(text, float, "a number > 0")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"want a number > 0, got {text!r}")
    return value


def millis(text: str) -> float:
    """Milliseconds (0 or more), returned in seconds."""
    value: float = number(text, float, "a number of milliseconds >= 0")
    if value < 0:
        raise argparse.ArgumentTypeError(f"want a number of milliseconds >= 0, got {text!r}")
    return value / 1000.0


def log_level(text: str) -> int:
    """A logging level by name, any case: DEBUG, INFO, WARNING, ERROR or CRITICAL."""
    name = text.strip().upper()
    if name not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"want one of {', '.join(LOG_LEVELS)}, got {text!r}")
    level: int = getattr(logging, name)
    return level


def config_override(text: str) -> tuple[str, Any]:
    """``FIELD=VALUE`` for a :class:`~swimcore.Config` field, VALUE as the field's type.

    Booleans take true/false, yes/no, on/off or 1/0 and nothing else; numbers must parse; the
    message names the field.  Range checks are the Config's own (see :func:`build_config`).
    """
    key, sep, value = text.partition("=")
    key, value = key.strip(), value.strip()
    names = [field.name for field in attrs.fields(Config)]
    if not sep or key not in names:
        raise argparse.ArgumentTypeError(
            f"want FIELD=VALUE with FIELD a Config field ({', '.join(names)}), got {text!r}"
        )
    current = getattr(Config.lan(), key)
    if isinstance(current, bool):
        if value.lower() in _TRUE:
            return key, True
        if value.lower() in _FALSE:
            return key, False
        raise argparse.ArgumentTypeError(
            f"{key} wants true or false (yes/no, on/off, 1/0), got {value!r}"
        )
    if isinstance(current, int):
        try:
            return key, int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{key} wants a whole number, got {value!r}") from None
    if isinstance(current, float):
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise argparse.ArgumentTypeError(f"{key} wants a number, got {value!r}")
        return key, number
    return key, value


def build_config(preset: str, overrides: list[tuple[str, Any]], **defaults: Any) -> Config:
    """The preset with ``defaults`` and then ``overrides`` applied.

    Raises :class:`~swimcore.ConfigError` prefixed with ``--set`` when an override is out of
    range (the Config's validators name the field).
    """
    changes = dict(defaults)
    changes.update(overrides)
    try:
        return Config.preset(preset, **changes)
    except ConfigError as exc:
        raise ConfigError(f"--set: {exc}") from None


def given(args: argparse.Namespace, *dests: str) -> list[str]:
    """The options among ``dests`` that are on the command line, as ``--option`` names.

    For options whose default is ``None`` (a sentinel: the real default is filled in later by
    :func:`fill`), so an option the mode does not use is refused only when the user gave it.
    """
    return ["--" + dest.replace("_", "-") for dest in dests if getattr(args, dest) is not None]


def fill(args: argparse.Namespace, defaults: dict[str, Any]) -> None:
    """Give the options left out (``None``) their value in ``defaults``."""
    for dest, value in defaults.items():
        if getattr(args, dest) is None:
            setattr(args, dest, value)


def not_apply(options: list[str]) -> str:
    """``--a does not apply`` or ``--a, --b do not apply``: the start of a refusal."""
    return f"{', '.join(options)} {'does' if len(options) == 1 else 'do'} not apply"


def extra_missing(module: str) -> bool:
    """Whether importing ``module`` fails because it is not installed."""
    try:
        __import__(module)
    except ModuleNotFoundError:
        return True
    return False


def version_text() -> str:
    """``swimcore X.Y.Z (Python A.B.C, core: pure Python)``, or ``core: compiled with mypyc``."""
    import swimcore  # noqa: PLC0415
    from swimcore._build import build_kind  # noqa: PLC0415

    python = ".".join(str(part) for part in sys.version_info[:3])
    return f"swimcore {swimcore.__version__} (Python {python}, core: {build_kind()})"
