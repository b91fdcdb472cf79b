"""Config files: what ``swimcore tune --out`` writes, ``load_config`` reads back."""

from __future__ import annotations

import json
import pathlib
import tomllib
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

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
        ("probe_interval = [1\n", "not valid TOML"),
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


# ------------------------------------------------------------ refused with a ConfigError


def test_a_file_that_is_not_utf8_is_a_config_error_naming_it(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('label = "caf\xe9"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin1\.toml is not UTF-8 text .*save it as UTF-8"):
        load_config(path)


@pytest.mark.parametrize("name", ["x.toml", "x.json", "x.JSON"])
@pytest.mark.parametrize(
    "label", ["🚀", "café", "日本", 'tab\there "q" \\ \x7f', "\x00\x01\x1f\n\r\x0b\x0c\x85\u2028"]
)
def test_labels_beyond_ascii_and_control_characters_round_trip(
    tmp_path: pathlib.Path, name: str, label: str
) -> None:
    config = Config.lan(label=label)
    path = tmp_path / name
    dump_config(config, path, comment="by hand")
    assert load_config(path) == config


@given(st.text(max_size=20).filter(lambda s: len(s.encode()) <= 64))  # no lone surrogates
@settings(max_examples=200, deadline=None)
def test_any_label_a_config_holds_reads_back_from_toml(label: str) -> None:
    config = Config.lan(label=label)
    assert config_from_dict(tomllib.loads(config_to_toml(config))) == config


@pytest.mark.parametrize("comment", ["a\x00", "bell \x07", "esc \x1b[0m", "del \x7f", "\ud800"])
def test_a_comment_toml_cannot_hold_is_refused_before_writing(
    tmp_path: pathlib.Path, comment: str
) -> None:
    path = tmp_path / "c.toml"
    with pytest.raises(ConfigError, match="which a TOML comment cannot: use text without"):
        dump_config(TUNED, path, comment=comment)
    assert not path.exists()


def test_comments_with_tabs_line_breaks_and_any_script_still_load(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "c.toml"
    dump_config(TUNED, path, comment="tab\there\r\nnext\x0bline\u2028日本 🚀\n")
    assert load_config(path) == TUNED


def test_writing_to_a_directory_is_a_config_error(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ConfigError, match="cannot write config file"):
        dump_config(TUNED, tmp_path)
    with pytest.raises(ConfigError, match="cannot write config file"):
        dump_config(TUNED, tmp_path / "missing" / "c.json")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({1: 2}, "Config field names are strings, got 1"),
        ({"preset": "lan", 2.5: 1}, "Config field names are strings, got 2.5"),
        ([("preset", "lan")], "a config is a table of Config fields, got list"),
    ],
)
def test_config_from_dict_refuses_what_is_not_a_table_of_names(data: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config_from_dict(data)


def test_a_json_suffix_in_any_case_is_read_and_named_as_json(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "x.JSON"
    dump_config(TUNED, path)
    assert json.loads(path.read_text())["preset"] == "lan"  # written as JSON
    assert load_config(path) == TUNED
    path.write_text("{not json")
    with pytest.raises(ConfigError, match=r"x\.JSON: not valid JSON"):
        load_config(path)
    other = tmp_path / "x.conf"
    other.write_text("probe_interval = [1\n")
    with pytest.raises(ConfigError, match=r"x\.conf: not valid TOML"):  # was "not valid conf"
        load_config(other)
