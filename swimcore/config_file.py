"""Configurations in files: load a :class:`~swimcore.config.Config` from TOML or JSON, save one.

A file names the preset it starts from and the fields it changes, all at the top level::

    # written by swimcore tune
    preset = "lan"
    probe_interval = 0.5
    probe_timeout = 0.25
    suspicion_mult = 2

``preset`` is optional (``"lan"`` by default).  JSON files (``.json``, in any case) hold the
same object.
Unknown keys and bad values raise :class:`~swimcore.errors.ConfigError` naming them, as the
config itself does.  :func:`dump_config` writes only the fields that differ from the preset, so
a saved file says what was chosen and nothing else.
"""

from __future__ import annotations

import json
import math
import pathlib
import re
import tomllib
from collections.abc import Mapping
from typing import Any

import attrs

from swimcore.config import Config
from swimcore.errors import ConfigError

PRESETS = ("lan", "wan", "local")

__all__ = ["PRESETS", "config_from_dict", "config_to_toml", "dump_config", "load_config"]

#: What a TOML comment may not hold: control characters other than tab (line breaks split the
#: comment into lines first), and surrogates, which UTF-8 cannot encode.
_NOT_IN_COMMENT = re.compile("[\x00-\x08\x0a-\x1f\x7f\ud800-\udfff]")


def _is_json(file: pathlib.Path) -> bool:
    return file.suffix.lower() == ".json"


def config_from_dict(data: Mapping[str, Any]) -> Config:
    """The config a file's parsed contents describe."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"a config is a table of Config fields, got {type(data).__name__}")
    odd = [key for key in data if not isinstance(key, str)]
    if odd:
        raise ConfigError(f"Config field names are strings, got {odd[0]!r}")
    values = dict(data)
    preset = values.pop("preset", "lan")
    if preset not in PRESETS:
        raise ConfigError(f"preset must be one of {', '.join(PRESETS)}, got {preset!r}")
    names = {field.name for field in attrs.fields(Config)}
    unknown = sorted(key for key in values if key not in names)
    if unknown:
        raise ConfigError(f"unknown Config field(s) in file: {', '.join(unknown)}")
    return Config.preset(preset, **values)


def load_config(path: str | pathlib.Path) -> Config:
    """Read the config in ``path`` (TOML, or JSON when the name ends in ``.json`` in any case)."""
    file = pathlib.Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {file}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config file {file} is not UTF-8 text (byte {exc.start}: {exc.reason}); "
            f"save it as UTF-8"
        ) from None
    kind = "JSON" if _is_json(file) else "TOML"
    try:
        data = json.loads(text) if kind == "JSON" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{file}: not valid {kind}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{file}: the top level must be a table of Config fields")
    return config_from_dict(data)


def closest_preset(config: Config) -> str:
    """The preset from which ``config`` differs in the fewest fields (``lan`` on ties)."""
    return min(PRESETS, key=lambda name: len(_changes(config, name)))


def _changes(config: Config, preset: str) -> dict[str, Any]:
    base = Config.preset(preset)
    return {
        field.name: getattr(config, field.name)
        for field in attrs.fields(Config)
        if getattr(config, field.name) != getattr(base, field.name)
    }


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    raise ConfigError(f"cannot write {type(value).__name__} values to a config file")


def _toml_string(value: str) -> str:
    """``value`` as a TOML basic string.

    JSON escapes quotes, backslashes and the controls below U+0020 as TOML does (``\\n``,
    ``\\u0000``...); every other character is written as it is (``ensure_ascii`` would write
    a character past U+FFFF as a surrogate pair, which TOML refuses) except DEL, which TOML
    wants escaped too.
    """
    if re.search("[\ud800-\udfff]", value):
        raise ConfigError(f"cannot write {value!r} to a config file: it holds a lone surrogate")
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def config_to_toml(config: Config, preset: str | None = None, comment: str = "") -> str:
    """``config`` as the TOML text :func:`load_config` reads back (``comment`` on top)."""
    name = preset or closest_preset(config)
    if name not in PRESETS:
        raise ConfigError(f"preset must be one of {', '.join(PRESETS)}, got {name!r}")
    lines = [f"# {line}".rstrip() for line in comment.splitlines()]
    bad = next((m for m in map(_NOT_IN_COMMENT.search, lines) if m is not None), None)
    if bad is not None:
        raise ConfigError(
            f"the comment holds {bad.group()!r}, which a TOML comment cannot: "
            f"use text without control characters (tab and line breaks are fine)"
        )
    lines.append(f"preset = {json.dumps(name)}")
    lines += [f"{key} = {_toml_value(value)}" for key, value in _changes(config, name).items()]
    return "\n".join(lines) + "\n"


def dump_config(
    config: Config, path: str | pathlib.Path, preset: str | None = None, comment: str = ""
) -> None:
    """Write ``config`` to ``path`` (TOML, or JSON when the name ends in ``.json`` in any
    case; JSON has no comments, so ``comment`` is left out of it)."""
    file = pathlib.Path(path)
    if _is_json(file):
        name = preset or closest_preset(config)
        text = json.dumps({"preset": name, **_changes(config, name)}, indent=2) + "\n"
    else:
        text = config_to_toml(config, preset, comment)
    try:
        file.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write config file {file}: {exc.strerror or exc}") from None
