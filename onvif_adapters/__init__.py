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
