"""The configuration: preset numbers, validation naming the bad field, immutability."""

from __future__ import annotations

import math
import sys
from typing import Any

import attrs
import pytest

from swimcore import Config, ConfigError

# memberlist's DefaultLANConfig / DefaultWANConfig / DefaultLocalConfig, as the issue lists them.
PRESETS: dict[str, dict[str, Any]] = {
    "lan": dict(
        probe_interval=1.0,
        probe_timeout=0.5,
        indirect_checks=3,
        suspicion_mult=4,
        retransmit_mult=4,
        max_packet=1400,
    ),
    "wan": dict(
        probe_interval=5.0,
        probe_timeout=3.0,
        indirect_checks=3,
        suspicion_mult=6,
        retransmit_mult=4,
        max_packet=1400,
    ),
    "local": dict(
        probe_interval=1.0,
        probe_timeout=0.2,
        indirect_checks=1,
        suspicion_mult=3,
        retransmit_mult=2,
        max_packet=1400,
    ),
}


@pytest.mark.parametrize(
    ("preset", "field", "value"),
    [(p, f, v) for p, fields in PRESETS.items() for f, v in fields.items()],
)
def test_preset_numbers(preset: str, field: str, value: Any) -> None:
    config = getattr(Config, preset)()
    assert getattr(config, field) == value
    assert getattr(Config.preset(preset), field) == value


def test_lan_is_the_default() -> None:
    assert Config() == Config.lan()
    assert Config.lan().max_metadata == 512
    assert Config.lan().join_address_every == 0  # the join-address rule is off by default


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_preset_accepts_changes(preset: str) -> None:
    config = Config.preset(preset, label="blue", indirect_checks=5)
    assert (config.label, config.indirect_checks) == ("blue", 5)
    assert config.probe_interval == PRESETS[preset]["probe_interval"]


def test_unknown_preset_names_the_choices() -> None:
    with pytest.raises(ConfigError, match="lan"):
        Config.preset("galactic")


BAD_VALUES: list[tuple[str, Any]] = [
    ("probe_interval", 0),
    ("probe_interval", -1.0),
    ("probe_interval", "1"),
    ("probe_interval", True),
    ("probe_timeout", 0.0),
    ("probe_timeout", None),
    ("indirect_checks", -1),
    ("indirect_checks", 1.5),
    ("suspicion_mult", 0),
    ("suspicion_max_mult", 0),
    ("retransmit_mult", 0),
    ("retransmit_mult", False),
    ("gossip_interval", -0.1),
    ("gossip_nodes", -1),
    ("gossip_to_the_dead_time", -1),
    ("push_pull_interval", -5),
    ("reclaim_time", -1),
    ("join_retry_interval", 0),
    ("awareness_max", 0),
    ("join_address_every", -1),
    ("max_packet", 511),
    ("max_packet", 1400.0),
    ("max_metadata", -1),
    ("max_members", 0),
    ("max_broadcasts", 0),
    ("max_relays", -1),
    ("max_exchange_bytes", 1023),
    ("label", "x" * 65),
    ("label", 7),
]


@pytest.mark.parametrize(("field", "value"), BAD_VALUES)
def test_bad_value_raises_naming_the_field(field: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=field):
        Config(**{field: value})
    with pytest.raises(ConfigError, match=field):
        attrs.evolve(Config.wan(), **{field: value})


def test_config_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        Config(probe_interval=-1)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        (dict(probe_interval=1.0, probe_timeout=2.0), "probe_timeout"),
        (dict(max_packet=600, max_metadata=400), "max_metadata"),
    ],
)
def test_cross_field_rules_name_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        Config(**changes)


def test_label_limit_counts_utf8_bytes() -> None:
    assert Config(label="é" * 32).label == "é" * 32
    with pytest.raises(ConfigError, match="label"):
        Config(label="é" * 33)


def test_config_is_frozen() -> None:
    config = Config.lan()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        config.probe_interval = 2.0  # type: ignore[misc]
    assert config.probe_interval == 1.0
    assert not hasattr(config, "__dict__")  # slotted: no stray attributes either


def test_config_is_hashable_and_compares_by_value() -> None:
    assert Config.wan() == Config.wan()
    assert Config.wan() != Config.lan()
    assert len({Config.lan(), Config.lan()}) == 1


@pytest.mark.parametrize("wire", ["memberlist", "memberlist+lzw"])
def test_memberlist_wire_without_msgpack_names_the_extra(
    wire: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert Config.lan(wire=wire).wire == wire  # installed here (the dev extra brings it)
    monkeypatch.setitem(sys.modules, "msgpack", None)  # what find_spec sees when it is absent
    with pytest.raises(ConfigError, match=r"swimcore\[memberlist\]"):
        Config.lan(wire=wire)
    assert Config.lan(wire="native").wire == "native"  # the native wire needs nothing more


#: Every switch of the configuration, found by its type (a new one is covered without a list).
SWITCHES = [field.name for field in attrs.fields(Config) if field.type in (bool, "bool")]


def test_the_switches_are_found() -> None:
    assert {"lifeguard_buddy", "verify_before_death", "stability_damping"} <= set(SWITCHES)


@pytest.mark.parametrize("field", SWITCHES)
@pytest.mark.parametrize("value", ["no", 0, 1, None])
def test_a_switch_takes_only_true_or_false(field: str, value: Any) -> None:
    # "no" is truthy: taken as it is, it would leave the feature on without a word.
    with pytest.raises(ConfigError, match=f"{field} must be True or False"):
        Config(**{field: value})


#: Every field given in seconds or as a count that may be a float.
NUMBERS = [
    field.name
    for field in attrs.fields(Config)
    if isinstance(getattr(Config.lan(), field.name), float)
]


@pytest.mark.parametrize("field", NUMBERS)
@pytest.mark.parametrize("value", [math.inf, math.nan])
def test_a_number_of_seconds_must_be_finite(field: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=field):
        Config(**{field: value})
