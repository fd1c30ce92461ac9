# Shared set-up steps for scripts/serve-demo and scripts/test (sourced, not run).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root for: $*" >&2; return 1; fi
}

# Install the Debian packages named, only those not installed yet.
apt_ensure() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing Debian packages: ${missing[*]}" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# A Python >= 3.11 with venv.
python_ensure() {
  PY="${PYTHON:-python3}"
  if ! command -v "$PY" >/dev/null || ! "$PY" -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null; then
    apt_ensure python3 python3-venv
    PY=python3
  fi
  if ! "$PY" -c 'import venv, ensurepip' 2>/dev/null; then apt_ensure python3-venv; fi
}

# .venv with the project installed (editable) plus the extras named, every dependency at the
# version constraints.txt pins (the versions the suite passed with; scripts/lock writes it);
# re-installs when pyproject.toml or constraints.txt changes.
venv_ensure() {
  local extras="${1:-}"
  python_ensure
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  local stamp=".venv/.pantau-installed${extras:+-$extras}"
  local want
  want="$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    .venv/bin/python -m pip install -q --upgrade pip >&2
    .venv/bin/python -m pip install -q -c constraints.txt -e ".${extras:+[$extras]}" >&2
    echo "$want" > "$stamp"
  fi
}

# ipycam (the ONVIF test device) at the version given, installed into .venv without dependencies.
ipycam_ensure() {
  local version="$1"
  if [ "$(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("ipycam"))' 2>/dev/null)" != "$version" ]; then
    .venv/bin/python -m pip install -q --no-deps "ipycam==$version" >&2
  fi
}
