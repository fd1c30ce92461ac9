"""An onvif:// camera source: resolves the RTSP URL on every connect, watches the clock, snapshots.

`OnvifSource` implements streams.camera.SourceResolver (injected by gateway/app.py), so
streams/ never imports ONVIF code::

    source = OnvifSource("gate", "onvif://admin:pw@192.0.2.10:80/?profile=sub", settings.onvif)
    Camera(cfg, ..., resolver=source)

On every (re)connect it asks the device (GetProfiles + GetStreamUri, Media1), puts the
credentials into the RTSP URL the device gives, and records what it learnt (device
information, profiles, clock offset, snapshot URI) in `source.device` for the API.
Between connects `watch()` reads the camera's clock every `clock_check_interval_s`; a
drift over `clock_drift_limit_s` is reported as the camera problem "clock_drift".

Media1 is asked first (zeep, the WSDL onvif-zeep-async ships). When the device offers
Media2 and Media1 lacks the profile (an H.265-only profile some cameras list only there)
or fails, Media2 answers instead (onvif_adapters/media2.py: onvif-zeep-async 4.3.0 has no
ver20/media WSDL, so those two requests are written by hand).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from core.config import CameraConfig, OnvifConfig
from core.schemes import RTSP_SCHEMES, check_onvif_source, is_onvif, scheme_of
from onvif_adapters.client import pin_host, OnvifClient
from onvif_adapters.errors import OnvifError, OnvifFault, OnvifMalformed
from onvif_adapters.media2 import Media2, media2_address
from onvif_adapters.models import DeviceRecord, Profile
from onvif_adapters.snapshot import SnapshotFailed, fetch_snapshot

log = logging.getLogger(__name__)

ONVIF_HTTP_PORT = 80
CLOCK_DRIFT = "clock_drift"
Report = Callable[[str, str | None], None]


class ProfileNotFound(OnvifError):
    """The profile a source names is not among the device's Media1 profiles."""

    title = "ONVIF profile not found"
    kind = "onvif-profile-not-found"


def select_profile(profiles: list[Profile], selector: str, service: str = "Media1") -> Profile:
    """main = the first profile, sub = the second, anything else a token."""
    tokens = ", ".join(p.token for p in profiles) or "none"
    if selector == "main" and profiles:
        return profiles[0]
    if selector == "sub":
        if len(profiles) >= 2:
            return profiles[1]
        raise ProfileNotFound(f"profile=sub, but the device has {len(profiles)} {service} profile(s) ({tokens})")
    for profile in profiles:
        if profile.token == selector:
            return profile
    raise ProfileNotFound(f"no media profile {selector!r} among the device's {service} profiles ({tokens})")


def with_credentials(uri: str, user: str | None, password: str | None) -> str:
    """The device's RTSP URI with our credentials in it (replacing any it carried)."""
    parts = urlsplit(uri)
    if scheme_of(uri) not in RTSP_SCHEMES or not parts.hostname:
        raise OnvifMalformed(f"the device's stream URI is not an rtsp:// URL (scheme {parts.scheme!r})")
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    if user:
        auth = quote(user, safe="")
        if password:
            auth += ":" + quote(password, safe="")
        netloc = f"{auth}@{netloc}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class OnvifSource:
    """One onvif:// camera's ONVIF side (see the module doc)."""

    def __init__(
        self,
        camera_id: str,
        source: str,
        settings: OnvifConfig,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.camera_id = camera_id
        self.settings = settings
        self.profile_selector = check_onvif_source(source)
        parts = urlsplit(source)
        self.host = parts.hostname or ""
        self.port = parts.port or ONVIF_HTTP_PORT
        self._user = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else None
        self._wall_clock = wall_clock
        #: What the device said on the last successful resolve; None before.
        self.device: DeviceRecord | None = None
        self.snapshot_uri: str | None = None

    @property
    def address(self) -> str:
        """host:port of the device service."""
        return f"{self.host}:{self.port}"

    def client(self) -> OnvifClient:
        """A new client for this device (use it with `async with`, then `await client.connect()`)."""
        return OnvifClient(
            self.host, self.port, self._user, self._password, self.settings.timeout_s, self._wall_clock
        )

    def _note_clock(self, offset_s: float | None, report: Report) -> None:
        if offset_s is None:
            return
        limit = self.settings.clock_drift_limit_s
        if abs(offset_s) > limit:
            direction = "ahead of" if offset_s > 0 else "behind"
            report(CLOCK_DRIFT, f"camera clock {abs(offset_s):.0f} s {direction} ours (limit {limit:g} s)")
        else:
            report(CLOCK_DRIFT, None)

    async def resolve(self, report: Report) -> str:
        """The RTSP URL to open now, with credentials; raises OnvifError (a SourceError)."""
        async with self.client() as client:
            await client.connect()
            self._note_clock(client.clock_offset_s, report)
            info = await client.device_info()
            profiles, profile, uri = await self._stream(client)
            url = with_credentials(self._pinned(uri, "stream URI"), self._user, self._password)
            try:
                snapshot_uri = await client.snapshot_uri(profile.token)
            except OnvifError as exc:
                log.info("camera %s: no snapshot URI (%s)", self.camera_id, exc.detail)
                snapshot_uri = None
            try:
                scopes = tuple(await client.scopes())
            except OnvifError:
                scopes = ()
        if snapshot_uri is not None and not self._may_receive(snapshot_uri):
            log.warning("camera %s: its snapshot URI names host %s, not the camera's address %s: not fetched with "
                        "its credentials (onvif.credential_hosts allows a host); the keyframe is used instead",
                        self.camera_id, urlsplit(snapshot_uri).hostname, self.host)
            snapshot_uri = None
        self.snapshot_uri = snapshot_uri
        self.device = DeviceRecord(
            self.address, info, tuple(profiles), scopes, client.clock_offset_s, profile=profile.token
        )
        log.info(
            "camera %s: ONVIF %s %s, profile %s (%s %s)",
            self.camera_id, info.manufacturer, info.model, profile.token, profile.encoding, profile.resolution,
            extra={"camera": self.camera_id},
        )
        return url

    def _may_receive(self, uri: str) -> bool:
        """Whether `uri`'s host may receive the camera's credentials: its own address, or one the
        administrator named in onvif.credential_hosts."""
        try:
            host = (urlsplit(uri).hostname or "").lower()
        except ValueError:
            return False
        return host == self.host.lower().strip("[]") or host in {h.lower() for h in self.settings.credential_hosts}

    def _pinned(self, uri: str, what: str) -> str:
        """`uri` at the camera's own address unless its host may receive the credentials (a camera
        behind NAT names its inside address; a lying one names anybody's)."""
        if self._may_receive(uri):
            return uri
        log.warning("camera %s: its %s names host %s; opened at the camera's address %s instead "
                    "(onvif.credential_hosts allows a host)", self.camera_id, what, urlsplit(uri).hostname, self.host)
        return pin_host(uri, self.host)

    async def _stream(self, client: OnvifClient) -> tuple[list[Profile], Profile, str]:
        """Profiles, the chosen one and its RTSP URI: Media1, else Media2 (see the module doc)."""
        try:
            profiles = await client.profiles()
            profile = select_profile(profiles, self.profile_selector)
            return profiles, profile, await client.stream_uri(profile.token)
        except (ProfileNotFound, OnvifFault, OnvifMalformed) as media1_failed:
            address = media2_address(client)
            if address is None:
                if isinstance(media1_failed, ProfileNotFound):
                    raise ProfileNotFound(f"{media1_failed.detail}; the device offers no Media2") from media1_failed
                raise
            log.info("camera %s: Media1 did not do (%s); asking Media2", self.camera_id, media1_failed.detail)
        media2 = Media2(client, address)
        profiles = await media2.profiles()
        profile = select_profile(profiles, self.profile_selector, "Media2")
        return profiles, profile, await media2.stream_uri(profile.token)

    async def watch(self, report: Report) -> None:
        """Read the camera's clock every clock_check_interval_s until cancelled."""
        while True:
            await asyncio.sleep(self.settings.clock_check_interval_s)
            try:
                async with self.client() as client:
                    offset = await client.read_clock_offset()
            except OnvifError as exc:
                # An unreachable camera shows in its connection state; keep the last reading.
                log.info("camera %s: clock check failed: %s", self.camera_id, exc.detail)
                continue
            self._note_clock(offset, report)
            if self.device is not None:
                self.device = replace(self.device, clock_offset_s=offset)

    async def snapshot(self) -> bytes | None:
        """The camera's own JPEG, or None (no snapshot URI, or fetching it failed: logged)."""
        uri = self.snapshot_uri
        if uri is None:
            return None
        try:
            return await fetch_snapshot(
                uri, self._user, self._password, self.settings.snapshot_timeout_s, self.settings.snapshot_max_bytes
            )
        except SnapshotFailed as exc:
            log.info("camera %s: camera snapshot failed, using the keyframe: %s", self.camera_id, exc)
            return None
        except Exception:  # never fail the route over the camera's picture: the keyframe is there
            log.exception("camera %s: camera snapshot failed unexpectedly", self.camera_id)
            return None


def resolver_for(camera: CameraConfig, settings: OnvifConfig, stream: str = "main") -> OnvifSource | None:
    """The OnvifSource of an onvif:// camera's main stream (or its `substream` with stream="sub", e.g.
    onvif://...?profile=sub); None for every other scheme and for a camera without that stream."""
    url = camera.source if stream == "main" else camera.substream
    if url is None or not is_onvif(url):
        return None
    return OnvifSource(camera.id, url, settings)
