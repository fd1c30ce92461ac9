"""Loading the YAML config: ${VAR} substitution, PANTAU_ overrides, errors as FILE:LINE: key: message.

This is the only module that reads the process environment for configuration.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from core.config import Settings
from core.errors import ConfigError

ENV_PREFIX = "PANTAU_"

log = logging.getLogger(__name__)
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

Path_ = tuple[str | int, ...]


class _Document:
    """A YAML document turned into plain data, remembering the line of every key."""

    def __init__(self, filename: str, environ: Mapping[str, str]) -> None:
        self.filename = filename
        self.environ = environ
        self.lines: dict[Path_, int] = {}
        self.problems: list[str] = []
        self._constructor = yaml.constructor.SafeConstructor()

    def build(self, node: yaml.Node | None) -> Any:
        if node is None:
            return {}
        return self._value(node, ())

    def _value(self, node: yaml.Node, path: Path_) -> Any:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = self._constructor.construct_object(key_node, deep=True)
                if not isinstance(key, str):
                    self._problem(key_node.start_mark.line + 1, path, f"key {key!r} is not a string")
                    continue
                child = (*path, key)
                if key in out:
                    self._problem(key_node.start_mark.line + 1, child, "duplicate key")
                    continue
                self.lines[child] = key_node.start_mark.line + 1
                out[key] = self._value(value_node, child)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self._value(item, (*path, i)) for i, item in enumerate(node.value)]
        value = self._constructor.construct_object(node, deep=True)
        if isinstance(value, str):
            return self._substitute(value, node.start_mark.line + 1, path)
        return value

    def _substitute(self, text: str, line: int, path: Path_) -> str:
        def repl(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in self.environ:
                return self.environ[name]
            if default is not None:
                return default
            self._problem(line, path, f"environment variable {name} is not set")
            return ""

        return _VAR.sub(repl, text)

    def _problem(self, line: int, path: Path_, message: str) -> None:
        self.problems.append(f"{self.filename}:{line}: {format_path(path)}: {message}")


def format_path(path: Path_) -> str:
    """('cameras', 0, 'source') -> 'cameras[0].source'."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _apply_env_overrides(
    data: dict[str, Any], environ: Mapping[str, str], problems: list[str]
) -> set[Path_]:
    """Merge PANTAU_SECTION__KEY=value (and PANTAU_TOPKEY=value for a top-level key that is no
    section, e.g. PANTAU_DATA_DIR) into `data`; values are parsed as YAML scalars. Any other PANTAU_
    variable belongs to something else (PANTAU_TEST_WORKERS is the test runner's): ignored, with one
    warning naming them all."""
    applied: set[Path_] = set()
    ignored: list[str] = []
    for name in sorted(environ):
        if not name.upper().startswith(ENV_PREFIX):
            continue
        parts = [p for p in name[len(ENV_PREFIX) :].lower().split("__")]
        if not _overridable(parts):
            ignored.append(name)
            continue
        path: Path_ = tuple(int(p) if p.isdigit() else p for p in parts)
        try:
            value = yaml.safe_load(environ[name]) if environ[name] != "" else ""
        except yaml.YAMLError:
            value = environ[name]
        if isinstance(value, (dict, list)) or value is None:
            value = environ[name] if value is None else value
        target: Any = data
        ok = True
        for part in path[:-1]:
            if isinstance(part, int):
                ok = isinstance(target, list) and part < len(target)
                if ok:
                    target = target[part]
            else:
                ok = isinstance(target, dict)
                if ok:
                    target = target.setdefault(part, {})
            if not ok:
                break
        last = path[-1]
        if ok and isinstance(last, int):
            ok = isinstance(target, list) and last < len(target)
        elif ok:
            ok = isinstance(target, dict)
        if not ok:
            problems.append(f"env {name}: {format_path(path)}: no such entry to override")
            continue
        target[last] = value
        applied.add(path)
    if ignored:
        log.warning("ignoring environment variables that name no config key (overrides are "
                    "PANTAU_<SECTION>__<KEY>): %s", ", ".join(ignored))
    return applied


def _overridable(parts: list[str]) -> bool:
    """Whether PANTAU_ + parts names a config entry: a known section and a key in it, or a top-level
    key that is not a section."""
    field = Settings.model_fields.get(parts[0])
    if field is None or any(not p for p in parts):
        return False
    # data_dir is the only top-level scalar; every other top-level key is a section (or the camera
    # list), which an override can only reach key by key.
    is_section = parts[0] != "data_dir"
    return len(parts) >= 2 if is_section else len(parts) == 1


def load_settings(path: Path | None, environ: Mapping[str, str] | None = None) -> Settings:
    """Load and validate the config file (or the built-in defaults when `path` is None)."""
    environ = os.environ if environ is None else environ
    filename = str(path) if path is not None else "<defaults>"
    doc = _Document(filename, environ)
    data: Any = {}
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError([f"{filename}:0: (file): cannot read: {exc.strerror}"]) from exc
        try:
            data = doc.build(yaml.compose(text))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark is not None else 0
            problem = getattr(exc, "problem", None) or str(exc)
            raise ConfigError([f"{filename}:{line}: (syntax): {problem}"]) from exc
        if not isinstance(data, dict):
            doc.problems.append(f"{filename}:1: (top level): must be a mapping of sections")
    if doc.problems:
        raise ConfigError(doc.problems)
    overrides = _apply_env_overrides(data, environ, doc.problems)
    if doc.problems:
        raise ConfigError(doc.problems)
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, filename, doc.lines, overrides)) from exc
    floors = settings.retention_problems()
    workers = settings.workers_problem()
    if workers is not None:
        floors.append((("server", "workers"), workers))
    if floors:
        raise ConfigError([_where(loc, filename, doc.lines, overrides) + message for loc, message in floors])
    return settings


def _where(loc: Path_, filename: str, lines: dict[Path_, int], overrides: set[Path_]) -> str:
    """`FILE:LINE: KEY: ` (or `env VAR: KEY: `) of a problem at `loc`."""
    env = next((o for o in overrides if loc[: len(o)] == o or o[: len(loc)] == loc), None)
    if env is not None:
        return f"env {ENV_PREFIX + '__'.join(str(p).upper() for p in env)}: {format_path(loc)}: "
    line = 0
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            line = lines[loc[:n]]
            break
    return f"{filename}:{line}: {format_path(loc)}: "


def _explain(
    exc: ValidationError, filename: str, lines: dict[Path_, int], overrides: set[Path_]
) -> list[str]:
    problems = []
    for err in exc.errors(include_input=False, include_url=False):
        loc: Path_ = tuple(p for p in err["loc"] if isinstance(p, (str, int)))
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown key"
        elif err["type"] == "missing":
            message = "required key is missing"
        problems.append(_where(loc, filename, lines, overrides) + message)
    return problems
