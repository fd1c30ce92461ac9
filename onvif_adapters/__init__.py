"""Everything ONVIF; zeep and onvif-zeep-async objects never leave this package."""

import logging as _logging


def _import_onvif_quietly() -> None:
    """onvif-zeep-async's client module calls `logging.basicConfig(level=INFO)` when imported,
    which would give every process (each CLI command too) an INFO handler on the root logger.
    Import it once with a placeholder handler on the root, so that call does nothing."""
    root = _logging.getLogger()
    placeholder = _logging.NullHandler()
    root.addHandler(placeholder)
    try:
        import onvif.client  # noqa: F401
    finally:
        root.removeHandler(placeholder)


_import_onvif_quietly()

# The public face, imported after the quiet import above on purpose.
from onvif_adapters.client import OnvifClient  # noqa: E402
from onvif_adapters.discovery import discover  # noqa: E402
from onvif_adapters.errors import OnvifError  # noqa: E402
from onvif_adapters.ptz import PtzSessions  # noqa: E402
from onvif_adapters.source import OnvifSource, resolver_for  # noqa: E402
from onvif_adapters.subscription import CameraEvent, EventSubscriber  # noqa: E402

__all__ = [
    "CameraEvent",
    "EventSubscriber",
    "OnvifClient",
    "OnvifError",
    "OnvifSource",
    "PtzSessions",
    "discover",
    "resolver_for",
]
