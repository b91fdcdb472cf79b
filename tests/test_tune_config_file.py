"""Config files: what ``swimcore tune --out`` writes, ``load_config`` reads back."""

from __future__ import annotations

import json
import pathlib

import pytest

from swimcore import Config, ConfigError
from swimcore.config_file import (
    closest_preset,
    config_from_dict,
    config_to_toml,
    dump_config,
    load_config,
)

TUNED = Config.lan(probe_interval=0.5, probe_timeout=0.25, suspicion_mult=2, label='a "b"\\c')


@pytest.mark.parametrize("name", ["tuned.toml", "tuned.json"])
def test_a_saved_config_loads_back_equal(tmp_path: pathlib.Path, name: str) -> None:
    path = tmp_path / name
    dump_config(TUNED, path, comment="line one\nline two")
    assert load_config(path) == TUNED


def test_the_file_names_the_preset_and_only_the_changed_fields() -> None:
    text = config_to_toml(Config.wan(probe_interval=4.0), comment="hello")
    assert text.splitlines() == ["# hello", 'preset = "wan"', "probe_interval = 4.0"]


@pytest.mark.parametrize(
    ("config", "preset"),
    [(Config.lan(), "lan"), (Config.wan(suspicion_mult=5), "wan"), (Config.local(), "local")],
)
def test_the_closest_preset_is_the_one_with_fewest_changes(config: Config, preset: str) -> None:
    assert closest_preset(config) == preset


def test_every_field_type_round_trips(tmp_path: pathlib.Path) -> None:
    config = Config.local(
        verify_before_death=False, max_packet=9000, gossip_interval=0.0, label="blue"
    )
    path = tmp_path / "c.toml"
    dump_config(config, path)
    assert load_config(path) == config


def test_preset_defaults_to_lan_and_ints_are_accepted_for_seconds(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("probe_interval = 2\nprobe_timeout = 1\n")
    assert load_config(path) == Config.lan(probe_interval=2, probe_timeout=1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'preset = "lan"\nprobe_intervall = 1.0\n',
            "unknown Config field(s) in file: probe_intervall",
        ),
        ('preset = "cloud"\n', "preset must be one of lan, wan, local"),
        ("probe_interval = -1.0\n", "probe_interval must be a positive number"),
        ("probe_interval = [1\n", "not valid toml"),
    ],
)
def test_bad_files_raise_config_errors_naming_the_problem(
    tmp_path: pathlib.Path, text: str, message: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config(path)


def test_a_missing_file_and_a_json_list_are_config_errors(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "nowhere.toml")
    path = tmp_path / "list.json"
    path.write_text(json.dumps([1, 2]))
    with pytest.raises(ConfigError, match="top level must be a table"):
        load_config(path)


def test_config_from_dict_leaves_its_argument_alone() -> None:
    data = {"preset": "wan", "suspicion_mult": 3}
    assert config_from_dict(data) == Config.wan(suspicion_mult=3)
    assert data == {"preset": "wan", "suspicion_mult": 3}
