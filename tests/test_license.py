"""The LICENSE file is the full Apache License 2.0 that pyproject.toml declares (issue 20)."""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The SHA-256 of https://www.apache.org/licenses/LICENSE-2.0.txt (Debian ships the same bytes as
# /usr/share/common-licenses/Apache-2.0): the whole text, not a summary.
APACHE_2_SHA256 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"


def test_license_is_the_full_apache_2_text() -> None:
    text = (ROOT / "LICENSE").read_bytes()
    assert hashlib.sha256(text).hexdigest() == APACHE_2_SHA256
    assert b"END OF TERMS AND CONDITIONS" in text and b"9. Accepting Warranty or Additional Liability" in text
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    license_ = project["license"]
    assert (license_ if isinstance(license_, str) else license_.get("text")) == "Apache-2.0"
