"""storage.object at load: each mistake named by file, line and key; the secret from the environment
or a file, and never in the settings' text."""

from __future__ import annotations

from pathlib import Path

from core.configfile import load_settings
from tests.test_config import problems, write

OBJECT = """\
storage:
  path: data/recordings
  object:
    endpoint: https://minio.example:9000
    bucket: pantau-recordings
    access_key_id: pantau
"""


def test_a_valid_section_takes_the_secret_from_the_environment(tmp_path: Path) -> None:
    path = write(tmp_path, OBJECT + "    secret_access_key: ${S3_SECRET}\n")
    settings = load_settings(path, {"S3_SECRET": "s3cr3t-value"})
    cfg = settings.storage.object
    assert cfg is not None and cfg.secret() == "s3cr3t-value"
    assert (cfg.lock_mode, cfg.retention_days, cfg.upload_concurrency) == ("GOVERNANCE", None, 2)
    assert "s3cr3t-value" not in repr(settings) and "s3cr3t-value" not in str(settings.model_dump())


def test_the_secret_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "s3-secret"
    secret.write_text("from-a-file\n")
    settings = load_settings(write(tmp_path, OBJECT + f"    secret_access_key_file: {secret}\n"), {})
    assert settings.storage.object is not None and settings.storage.object.secret() == "from-a-file"
    lines = problems(write(tmp_path, OBJECT + f"    secret_access_key_file: {tmp_path / 'none'}\n"))
    assert lines[0].startswith(f"{tmp_path / 'pantau.yaml'}:7: storage.object.secret_access_key_file: "), lines
    assert "cannot be read" in lines[0]


def test_mistakes_are_named_by_line_and_key(tmp_path: Path) -> None:
    file = tmp_path / "pantau.yaml"
    both = OBJECT + "    secret_access_key: a\n    secret_access_key_file: /etc/hostname\n"
    assert "exactly one of secret_access_key and secret_access_key_file" in problems(write(tmp_path, both))[0]
    text = OBJECT.replace("https://minio.example:9000", "https://u:p@minio.example:9000/bucket") \
        .replace("pantau-recordings", "Pantau_Recordings") + "    secret_access_key: a\n    lock_mode: STRICT\n"
    lines = problems(write(tmp_path, text))
    assert any(line.startswith(f"{file}:4: storage.object.endpoint: ") for line in lines), lines
    assert any(line.startswith(f"{file}:5: storage.object.bucket: ") for line in lines), lines
    assert any(line.startswith(f"{file}:8: storage.object.lock_mode: ") for line in lines), lines


def test_the_lock_is_never_shorter_than_the_retention_floor(tmp_path: Path) -> None:
    text = OBJECT + "    secret_access_key: a\n    retention_days: 7\n"
    lines = problems(write(tmp_path, text))
    assert lines == [f"{tmp_path / 'pantau.yaml'}:8: storage.object.retention_days: 7 days is under "
                     "recording.min_retention_days (30): " + lines[0].split("(30): ", 1)[1]], lines
