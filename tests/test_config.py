"""Settings: precedence of every layer, validation naming the key, the documented example."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from vieweratlas.config import (
    example_yaml,
    load_settings,
    parse_duration,
    parse_timestamp,
    redacted,
    settings_reference,
)
from vieweratlas.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def write_yaml(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_defaults_are_the_default_preset() -> None:
    s = load_settings(environ={})
    assert s.preset == "default"
    assert s.analysis.max_channels == 5000
    assert s.analysis.resolution == 1.0
    assert s.lake == "./atlas-data"


@pytest.mark.parametrize(
    ("preset", "expect"),
    [
        ("rigorous", {"overlap_threshold": 300, "min_community_size": 10,
                      "min_channel_viewers": 10}),
        ("explorer", {"resolution": 2.0}),
        ("debug", {"max_channels": 100}),
    ],
)  # fmt: skip
def test_presets_mean_what_the_design_says(preset: str, expect: dict[str, object]) -> None:
    s = load_settings(preset=preset, environ={})
    for key, value in expect.items():
        assert getattr(s.analysis, key) == value


def test_each_layer_overrides_the_one_below(tmp_path: Path) -> None:
    cfg = write_yaml(
        tmp_path,
        {"preset": "rigorous", "analysis": {"resolution": 1.5, "seed": 7, "min_community_size": 4}},
    )
    env = {"VIEWERATLAS_ANALYSIS__SEED": "8", "VIEWERATLAS_ANALYSIS__RESOLUTION": "1.7"}
    s = load_settings(config_file=cfg, environ=env, overrides={"analysis": {"resolution": 2.5}})
    assert s.preset == "rigorous"  # chosen in the file
    assert s.analysis.overlap_threshold == 300  # from the preset
    assert s.analysis.min_community_size == 4  # file beats preset
    assert s.analysis.seed == 8  # environment beats file
    assert s.analysis.resolution == 2.5  # flags beat environment


def test_preset_flag_beats_preset_in_file(tmp_path: Path) -> None:
    cfg = write_yaml(tmp_path, {"preset": "rigorous"})
    s = load_settings(config_file=cfg, preset="explorer", environ={})
    assert s.preset == "explorer"
    assert s.analysis.resolution == 2.0
    # Nothing of the file's preset (rigorous) leaks in.
    assert s.analysis.overlap_threshold == load_settings(environ={}).analysis.overlap_threshold


def test_legacy_twitch_environment_is_read_and_prefixed_wins() -> None:
    s = load_settings(environ={"TWITCH_CLIENT_ID": "abc", "TWITCH_CLIENT_SECRET": "shh"})
    assert s.twitch.client_id == "abc"
    assert s.twitch.client_secret is not None
    assert s.twitch.client_secret.get_secret_value() == "shh"
    s = load_settings(environ={"TWITCH_CLIENT_ID": "abc", "VIEWERATLAS_TWITCH__CLIENT_ID": "new"})
    assert s.twitch.client_id == "new"


def test_endpoints_come_from_nested_environment() -> None:
    s = load_settings(environ={"VIEWERATLAS_TWITCH__HELIX_URL": "http://127.0.0.1:9/helix"})
    assert s.twitch.helix_url == "http://127.0.0.1:9/helix"


def test_secrets_never_show(tmp_path: Path) -> None:
    s = load_settings(
        environ={"TWITCH_OAUTH_TOKEN": "oauth:topsecret", "TWITCH_CLIENT_SECRET": "x1y2"}
    )
    text = repr(s) + str(s) + yaml.safe_dump(redacted(s))
    assert "topsecret" not in text
    assert "x1y2" not in text


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"overrides": {"analysis": {"resolution": -1}}}, "analysis.resolution"),
        ({"overrides": {"analysis": {"resolutoin": 1}}}, "analysis.resolutoin: unknown setting"),
        ({"overrides": {"collect": {"interval": "5 minutes"}}}, "collect.interval"),
        ({"overrides": {"analysis": {"algorithm": "girvan"}}}, "analysis.algorithm"),
        ({"environ": {"VIEWERATLAS_ANALYSIS__SEEED": "1"}}, "VIEWERATLAS_ANALYSIS__SEEED"),
        ({"environ": {"VIEWERATLAS_ANALYSIS__SEED": "many"}}, "analysis.seed"),
        ({"preset": "fastest"}, "unknown preset 'fastest'"),
    ],
)
def test_bad_values_are_errors_naming_the_key(kwargs: dict[str, object], needle: str) -> None:
    kwargs.setdefault("environ", {})
    with pytest.raises(ConfigError) as err:
        load_settings(**kwargs)  # type: ignore[arg-type]
    assert needle in str(err.value)
    assert "\n" not in str(err.value)


def test_yaml_errors_name_the_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("analysis:\n  resolution: [1,\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml:\d+: not valid YAML"):
        load_settings(config_file=bad, environ={})
    notmap = tmp_path / "list.yaml"
    notmap.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_settings(config_file=notmap, environ={})
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(config_file=tmp_path / "missing.yaml", environ={})
    unknown = write_yaml(tmp_path, {"analysis": {"bots": {"blocklst": False}}})
    with pytest.raises(ConfigError, match=r"analysis\.bots\.blocklst: unknown setting"):
        load_settings(config_file=unknown, environ={})


def test_settings_are_immutable() -> None:
    s = load_settings(environ={})
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen-instance error
        s.analysis.seed = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("1h", 3600), ("7d", 604800), ("90", 90), (45, 45), ("1.5h", 5400)],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("bad", ["", "5 minutes", "-5s", "m", True, None, [1]])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


@given(
    st.datetimes(
        min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    )
)
def test_timestamps_round_trip_iso_and_epoch(dt: datetime) -> None:
    assert parse_timestamp(dt.isoformat()) == dt
    assert abs((parse_timestamp(dt.timestamp()) - dt).total_seconds()) < 1e-3
    assert parse_timestamp(dt.replace(tzinfo=None).isoformat()) == dt  # naive means UTC


def test_example_config_documents_every_setting_and_loads() -> None:
    text = (ROOT / "config" / "config.yaml").read_text()
    assert text == example_yaml(), (
        "regenerate: uv run vieweratlas config --example > config/config.yaml"
    )
    for key, _default, help_text in settings_reference():
        assert help_text, f"setting {key} has no help text"
        assert f"# {key.rsplit('.', 1)[-1]}:" in text
    s = load_settings(config_file=ROOT / "config" / "config.yaml", environ={})
    assert s == load_settings(environ={})
    # Uncommenting every default gives the defaults back.
    names = {key.rsplit(".", 1)[-1] for key, _, _ in settings_reference()}
    lines = []
    for line in text.splitlines():
        m = re.match(r"^(\s*)# ([a-z_]+): (.*)$", line)
        if m and m.group(2) in names:
            lines.append(f"{m.group(1)}{m.group(2)}: {m.group(3)}")
        elif not line.lstrip().startswith("#"):
            lines.append(line)
    data = yaml.safe_load("\n".join(lines))
    assert load_settings(overrides=data, environ={}) == load_settings(environ={})


CANARY = "s3cr3t-canary-value"


@pytest.mark.parametrize(
    "overrides",
    [
        {"twitch": {"client_secret": [CANARY]}},
        {"twitch": {"oauth_token": {"token": CANARY}}},
        {"twitch": {"client_secret": 123456789}},
        {"twitch": f"oauth:{CANARY}"},  # a whole section holding secrets
    ],
)
def test_a_secret_of_the_wrong_type_is_never_echoed(
    overrides: dict[str, object], tmp_path: Path
) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(environ={}, overrides=overrides)
    assert CANARY not in str(err.value) and "123456789" not in str(err.value)
    assert "twitch" in str(err.value) and "not shown" in str(err.value)
    with pytest.raises(ConfigError) as err:
        load_settings(environ={}, config_file=write_yaml(tmp_path, overrides))
    assert CANARY not in str(err.value) and "123456789" not in str(err.value)


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"vod": {"bucket_len": "0s"}}, "vod.bucket_len"),
        ({"collect": {"interval": 0}}, "collect.interval"),
        ({"collect": {"silence_timeout": "0m"}}, "collect.silence_timeout"),
        ({"retention": {"raw": "0d"}}, "retention.raw"),
        ({"retention": {"runs": "0d"}}, "retention.runs"),
        ({"retention": {"keep_runs": 0}}, "retention.keep_runs"),
        ({"collect": {"reconnect_min": "5m", "reconnect_max": "1m"}}, "reconnect_min"),
        ({"analysis": {"seed": -1}}, "analysis.seed"),
        ({"analysis": {"seed": 2**40}}, "analysis.seed"),
        ({"analysis": {"lake_copy": "pictures"}}, "analysis.lake_copy"),
    ],
)
def test_settings_that_cannot_work_are_refused(overrides: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(key)):
        load_settings(environ={}, overrides=overrides)


@pytest.mark.parametrize(
    "bad",
    ["1e20", "-1e20", "inf", "nan", 1e300, "9999-12-31T23:59:59-05:00", "0001-01-01T00:00+01:00"],
)
def test_times_out_of_range_are_value_errors(bad: object) -> None:
    with pytest.raises(ValueError, match=r"range|expected"):
        parse_timestamp(bad)
