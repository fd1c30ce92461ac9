"""The GStreamer bindings (PyGObject), versions pinned once; imported only when RTSP restream is on."""

from __future__ import annotations

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstApp", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstApp, GstRtsp, GstRtspServer  # noqa: E402

__all__ = ["GLib", "Gst", "GstApp", "GstRtsp", "GstRtspServer"]
