"""Config loading: strict validation, FILE:LINE: key: message errors, substitution, overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.configfile import load_settings
from core.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent

MINIMAL = """\
server: {host: 127.0.0.1, port: 8080}
database: {url: "sqlite+aiosqlite:///data/pantau.db"}
storage: {path: data/recordings}
cameras:
  - id: gate-north
    name: North gate
    source: rtsp://127.0.0.1:8554/test
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pantau.yaml"
    path.write_text(text)
    return path


def problems(path: Path, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ or {})
    return info.value.problems


def test_minimal_config_from_interfaces_is_valid(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, MINIMAL), {})
    assert settings.cameras[0].id == "gate-north"
    assert settings.server.port == 8080


def test_example_config_validates() -> None:
    # As shipped, in an empty environment (issue 20): it needs no variable to be set.
    settings = load_settings(ROOT / "config.example.yaml", {})
    assert settings.cameras
    assert settings.cameras[0].source.startswith("rtsp://admin:@")
    with_password = load_settings(ROOT / "config.example.yaml", {"CAMERA_PASSWORD": "x"})
    assert with_password.cameras[0].source.startswith("rtsp://admin:x@")


def test_example_config_tells_no_burned_watermark() -> None:
    # Passthrough never burns a watermark in: the player overlays it (README, "limits").
    text = (ROOT / "config.example.yaml").read_text().lower()
    assert "burn the" not in text and "not built" not in text


def test_defaults_without_a_file() -> None:
    settings = load_settings(None, {})
    assert settings.database_url.startswith("sqlite+aiosqlite:///")
    assert settings.cameras == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("server: {port: 99999}\n", ":1: server.port: "),
        ("server:\n  host: 1.2.3.4\n  prot: 80\n", ":3: server.prot: unknown key"),
        ("bogus: 1\n", ":1: bogus: unknown key"),
        ("database: {url: 'mysql://x'}\n", ":1: database.url: must start with"),
        ("cameras:\n  - name: x\n    source: rtsp://h/x\n", ":2: cameras[0].id: required key is missing"),
        ("cameras:\n  - id: Bad_Id\n    source: rtsp://h/x\n", ":2: cameras[0].id: must be"),
        ("cameras:\n  - id: a\n    source: rtsp://h/x\n    colour: red\n", ":4: cameras[0].colour: unknown key"),
        ("cameras:\n  - id: a\n    source: rtsp://h/x\n    transport: sctp\n", ":4: cameras[0].transport:"),
        ("cameras:\n  - id: a\n    source: rtsp://h/x\n  - id: a\n    source: rtsp://h/y\n", ":1: cameras: "),
        ("server: {port: 1}\nserver: {port: 2}\n", ":2: server: duplicate key"),
        ("server: [1, 2\n", ": (syntax):"),
        ("- just\n- a list\n", ":1: (top level): must be a mapping"),
        ("cameras:\n  - id: a\n    source: ${NOPE}\n", ":3: cameras[0].source: environment variable NOPE is not set"),
        ("health: {black_max_luma: -1}\n", ":1: health.black_max_luma:"),
        ("desk:\n  timezone: Mars/Base\n", ":2: desk.timezone: unknown time zone"),
        ("desk:\n  shifts:\n    - {name: Pagi, start: '25:00'}\n", ":3: desk.shifts[0].start:"),
        ("desk:\n  equipment:\n    - {id: sw, name: Switch, probe: {tcp: nohost}}\n", ":3: desk.equipment[0].probe.tcp: write host:port"),
        ("desk:\n  equipment:\n    - {id: sw, name: Switch, probe: {disk: true, database: true}}\n",
         ":3: desk.equipment[0].probe: "),
        ("desk:\n  equipment:\n    - {id: ups, name: A}\n    - {id: ups, name: B}\n", ":2: desk.equipment: "),
        ("access:\n  desk:\n    file_roles: [janitor]\n", ":3: access.desk.file_roles[0]:"),
        ("review:\n  thumbnail_cache_mb: 0\n", ":2: review.thumbnail_cache_mb: "),
        ("review:\n  thumbnail_cache_mb: lots\n", ":2: review.thumbnail_cache_mb: "),
        ("review: {thumbnail_cache: 9}\n", ":1: review.thumbnail_cache: unknown key"),
        ("review:\n  preroll_s: -1\n", ":2: review.preroll_s: Input should be greater than or equal to 0"),
        ("review:\n  preroll_s: 301\n", ":2: review.preroll_s: Input should be less than or equal to 300"),
        ("review:\n  preroll_s: soon\n", ":2: review.preroll_s: Input should be a valid number"),
        ("review: {pre_roll_s: 5}\n", ":1: review.pre_roll_s: unknown key"),
        # The retention floor: no setting keeps recordings shorter (recording.min_retention_days, 30).
        ("recording:\n  retention_days: 7\n", ":2: recording.retention_days: 7 days is under recording.min_retention_days"),
        ("cameras:\n  - id: a\n    source: rtsp://h/x\n    retention_days: 0.001\n",
         ":4: cameras[0].retention_days: 0.001 days is under recording.min_retention_days (30)"),
        ("recording:\n  min_retention_days: 60\n", ":1: recording.retention_days: 30 days is under"),
    ],
)
def test_bad_config_names_file_line_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    found = problems(path)
    assert any(p.startswith(str(path)) and expected in p for p in found), found


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("file:///etc/passwd", "scheme 'file' is not allowed"),
        ("http://example.com/x.mp4", "scheme 'http' is not allowed"),
        ("concat:/a|/b", "not allowed"),
        ("subfile:,start,0,end,1,:/etc/passwd", "not allowed"),
        ("/etc/passwd", "scheme '(none)' is not allowed"),
        ("rtsp:///nohost", "has no host"),
        ("onvif://u:p@/", "has no host"),
        ("onvif://u:p@10.0.0.5:80/onvif/device_service", "onvif:// takes no path"),
        ("onvif://u:p@10.0.0.5:80/?profile=main&stream=2", "unknown onvif:// parameter(s) stream"),
        ("onvif://u:p@10.0.0.5:80/?profile=a%20b", "profile must be main, sub or a profile token"),
        ("onvif://u:p@10.0.0.5:80/?profile=main&profile=sub", "profile= is given more than once"),
    ],
)
def test_bad_camera_urls_refused(tmp_path: Path, url: str, expected: str) -> None:
    path = write(tmp_path, f"cameras:\n  - id: cam\n    source: '{url}'\n")
    found = problems(path)
    assert any(":3: cameras[0].source: " in p and expected in p for p in found), found


@pytest.mark.parametrize(
    ("url", "profile"),
    [
        ("onvif://admin:pw@10.0.0.5:80/?profile=sub", "sub"),
        ("onvif://admin:pw@10.0.0.5", "main"),
        ("onvif://10.0.0.5:8080/?profile=Profile_Token-1", "Profile_Token-1"),
    ],
)
def test_onvif_sources_accepted(url: str, profile: str) -> None:
    from core.config import CameraConfig
    from core.schemes import check_onvif_source

    assert CameraConfig(id="cam", source=url).source == url
    assert check_onvif_source(url) == profile


def test_errors_never_echo_the_password(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "cameras:\n  - id: cam\n    source: rtsp://admin:Sup3rSecret@10.0.0.5/x\n    transport: bad\n"
        "  - id: cam2\n    source: 'ftp://admin:Sup3rSecret@10.0.0.5/x'\n",
    )
    text = "\n".join(problems(path))
    assert "cameras[0].transport" in text and "cameras[1].source" in text
    assert "Sup3rSecret" not in text


def test_repr_of_camera_hides_password(tmp_path: Path) -> None:
    path = write(tmp_path, "cameras:\n  - id: cam\n    source: rtsp://admin:Sup3rSecret@10.0.0.5/x\n")
    settings = load_settings(path, {})
    assert "Sup3rSecret" not in repr(settings)
    assert settings.cameras[0].display_source == "rtsp://***@10.0.0.5/x"


def test_variable_substitution_with_default(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "server: {host: '${HOST:-0.0.0.0}', port: '${PORT}'}\n"
        "cameras:\n  - id: cam\n    source: 'rtsp://u:${PW}@h/x'\n",
    )
    settings = load_settings(path, {"PORT": "9001", "PW": "pw"})
    assert settings.server.host == "0.0.0.0"
    assert settings.server.port == 9001
    assert settings.cameras[0].source == "rtsp://u:pw@h/x"


def test_environment_overrides_beat_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL)
    env = {"PANTAU_SERVER__PORT": "9100", "PANTAU_CAMERAS__0__TRANSPORT": "udp", "PANTAU_LOGGING__LEVEL": "DEBUG"}
    settings = load_settings(path, env)
    assert settings.server.port == 9100
    assert settings.cameras[0].transport == "udp"
    assert settings.logging.level == "DEBUG"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"PANTAU_SERVER__PORT": "abc"}, "env PANTAU_SERVER__PORT: server.port:"),
        ({"PANTAU_SERVER__NOPE": "1"}, "env PANTAU_SERVER__NOPE: server.nope: unknown key"),
        ({"PANTAU_CAMERAS__5__NAME": "x"}, "env PANTAU_CAMERAS__5__NAME: cameras[5].name: no such entry"),
        ({"PANTAU_RECORDING__RETENTION_DAYS": "1"}, "env PANTAU_RECORDING__RETENTION_DAYS: recording.retention_days: 1 days"),
    ],
)
def test_bad_environment_override_is_named(tmp_path: Path, env: dict[str, str], expected: str) -> None:
    found = problems(write(tmp_path, MINIMAL), env)
    assert any(expected in p for p in found), found


def test_other_pantau_variables_are_ignored_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # PANTAU_TEST_WORKERS belongs to scripts/test; exported, it used to break every command.
    env = {"PANTAU_TEST_WORKERS": "0", "PANTAU_NOPE__X": "1", "PANTAU_SERVER": "x", "PANTAU_DATA_DIR__X": "y",
           "PANTAU_SERVER__PORT": "9100", "PANTAU_DATA_DIR": str(tmp_path / "d")}
    with caplog.at_level("WARNING", logger="core.configfile"):
        settings = load_settings(write(tmp_path, MINIMAL), env)
    assert settings.server.port == 9100 and settings.data_dir == tmp_path / "d"
    warned = [r.getMessage() for r in caplog.records if r.name == "core.configfile"]
    assert len(warned) == 1, warned
    for name in ("PANTAU_TEST_WORKERS", "PANTAU_NOPE__X", "PANTAU_SERVER", "PANTAU_DATA_DIR__X"):
        assert name in warned[0]
    assert "PANTAU_SERVER__PORT" not in warned[0] and "PANTAU_DATA_DIR," not in warned[0] + ","
    caplog.clear()
    with caplog.at_level("WARNING", logger="core.configfile"):
        load_settings(write(tmp_path, MINIMAL), {"PANTAU_SERVER__PORT": "9100"})
    assert not caplog.records


def test_unreadable_file(tmp_path: Path) -> None:
    found = problems(tmp_path / "missing.yaml")
    assert "missing.yaml:0: (file): cannot read" in found[0]


def _keys(model: type) -> set[str]:
    from pydantic import BaseModel

    names: set[str] = set()
    for name, field in model.model_fields.items():  # type: ignore[attr-defined]
        names.add(name)
        for arg in (field.annotation, *getattr(field.annotation, "__args__", ())):
            for inner in (arg, *getattr(arg, "__args__", ())):
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    names |= _keys(inner)
    return names


def test_example_config_documents_every_key() -> None:
    from core.config import Settings

    text = (ROOT / "config.example.yaml").read_text()
    missing = sorted(k for k in _keys(Settings) if f"{k}:" not in text)
    assert not missing, f"config.example.yaml lacks: {missing}"


def test_cluster_on_sqlite_is_an_error_naming_the_key(tmp_path: Path) -> None:
    lines = problems(write(tmp_path, MINIMAL + "cluster:\n  enabled: true\n"))
    assert len(lines) == 1 and lines[0].startswith(f"{tmp_path / 'pantau.yaml'}:8: cluster: cluster.enabled is true"), lines
    assert "PostgreSQL" in lines[0]
    # Without a database url the default is SQLite too.
    assert "cluster.enabled is true" in problems(write(tmp_path, "cluster: {enabled: true}\n"))[0]
    env = problems(write(tmp_path, MINIMAL), {"PANTAU_CLUSTER__ENABLED": "true"})
    assert env == ["env PANTAU_CLUSTER__ENABLED: cluster: " + env[0].split(": cluster: ", 1)[1]]
    assert not load_settings(write(tmp_path, MINIMAL + "cluster: {enabled: false}\n"), {}).cluster_enabled


def test_cluster_defaults_follow_the_database() -> None:
    assert not load_settings(None, {}).cluster_enabled
    pg = load_settings(None, {"PANTAU_DATABASE__URL": "postgresql+asyncpg://pantau@db/pantau"})
    assert pg.cluster_enabled
    cfg = pg.cluster
    assert (cfg.capacity, cfg.lease_s, cfg.renew_s) == (10_000, 10.0, 3.0)
    assert cfg.node_id_for("cctv-1", 8080) == "cctv-1:8080"
    assert cfg.advertise_url_for("cctv-1", 8080) == "http://cctv-1:8080"
    off = load_settings(None, {"PANTAU_DATABASE__URL": "postgresql+asyncpg://pantau@db/pantau",
                               "PANTAU_CLUSTER__ENABLED": "false"})
    assert not off.cluster_enabled


def test_cluster_renewal_must_fit_twice_in_a_lease(tmp_path: Path) -> None:
    lines = problems(write(tmp_path, MINIMAL + "cluster:\n  lease_s: 6\n  renew_s: 3\n"))
    assert len(lines) == 1 and ":8: cluster: renew_s (3) must be below lease_s / 2 (3)" in lines[0], lines
    assert problems(write(tmp_path, MINIMAL + "cluster: {advertise_url: 'ftp://x'}\n"))[0].endswith(
        "cluster.advertise_url: 'ftp://x' is not an http:// or https:// URL with a host")
    ok = load_settings(write(tmp_path, MINIMAL + "cluster: {lease_s: 15, renew_s: 5, node_id: cctv-a}\n"), {})
    assert ok.cluster.node_id_for("host", 1) == "cctv-a"
