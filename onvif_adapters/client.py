"""One ONVIF device, asked through onvif-zeep-async; plain data and Pantau errors come out.

Use it inside the running event loop (ONVIFCamera creates aiohttp sessions and edits
os.environ when built: it drops http_proxy/https_proxy for the whole process)::

    async with OnvifClient("192.0.2.10", 80, "admin", "secret", timeout_s=10) as client:
        await client.connect()             # clock offset first, then service addresses
        info = await client.device_info()  # DeviceInfo
        profiles = await client.profiles() # [Profile]
        uri = await client.stream_uri(profiles[0].token)

`connect()` measures the camera's clock with GetSystemDateAndTime, which ONVIF lets
through without credentials, and signs every later request's WS-Security UsernameToken
with that offset: a camera whose clock drifted minutes away still accepts us. Every call
has a timeout, and whatever onvif-zeep-async, zeep, lxml or aiohttp raise becomes an
`OnvifError` subclass (auth refused, timeout, unreachable, SOAP fault, malformed answer)
whose message names the device and the operation, never the password.

Code inside onvif_adapters (PTZ, events) may use `client.camera`, the connected
ONVIFCamera, through `client.call(...)` so its calls get the same timeout and mapping.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from urllib.parse import urlsplit, urlunsplit
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, TypeVar

import aiohttp
import lxml.etree
import zeep.exceptions
from onvif import ONVIFCamera
from onvif.exceptions import ONVIFAuthError, ONVIFError, ONVIFTimeoutError
from onvif.util import is_auth_error, stringify_onvif_error

from onvif_adapters.errors import (
    OnvifAuthError,
    OnvifError,
    OnvifFault,
    OnvifMalformed,
    OnvifTimeout,
    OnvifUnreachable,
)
from onvif_adapters.models import DeviceInfo, Profile

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_TIMEOUT_S = 10.0
# Closing a session is given at least this long (a short request timeout on a busy machine would
# otherwise leave sessions open: "Unclosed client session" at garbage collection).
CLOSE_TIMEOUT_S = 5.0
# Stream setup Media1 GetStreamUri wants for an RTSP URI (RTP over RTSP, unicast).
RTSP_STREAM_SETUP = {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}
# Longest fault text kept in a reason; vendors put whole stack traces in there.
MAX_DETAIL = 200


def map_error(exc: BaseException, where: str) -> OnvifError:
    """The Pantau error for what onvif-zeep-async/zeep/aiohttp raised while doing `where`."""
    if isinstance(exc, OnvifError):
        return exc
    cause = exc
    # safe_func wraps errors raised while building a request in ONVIFError(err).
    if type(exc) is ONVIFError and isinstance(exc.__cause__, Exception):
        cause = exc.__cause__
    if isinstance(cause, ONVIFAuthError):
        return OnvifAuthError(f"{where}: credentials refused")
    if isinstance(cause, (TimeoutError, ONVIFTimeoutError, aiohttp.ServerTimeoutError)):
        return OnvifTimeout(f"{where}: no answer in time")
    if isinstance(cause, zeep.exceptions.Fault):
        if is_auth_error(cause):
            return OnvifAuthError(f"{where}: credentials refused ({_short(cause.message)})")
        return OnvifFault(f"{where}: SOAP fault: {_short(stringify_onvif_error(cause))}")
    if isinstance(cause, zeep.exceptions.TransportError):
        if cause.status_code in (401, 403):
            return OnvifAuthError(f"{where}: credentials refused (HTTP {cause.status_code})")
        return OnvifMalformed(f"{where}: HTTP {cause.status_code} without a SOAP answer")
    if isinstance(
        cause,
        (
            zeep.exceptions.XMLSyntaxError,
            zeep.exceptions.XMLParseError,
            zeep.exceptions.ValidationError,
            zeep.exceptions.LookupError,
            lxml.etree.LxmlError,
        ),
    ):
        return OnvifMalformed(f"{where}: not a valid SOAP answer ({_short(str(cause))})")
    if isinstance(cause, (aiohttp.ClientConnectionError, OSError)):
        return OnvifUnreachable(f"{where}: cannot connect ({type(cause).__name__})")
    if isinstance(cause, aiohttp.ClientResponseError):
        return OnvifMalformed(f"{where}: HTTP {cause.status}")
    if isinstance(cause, (AttributeError, TypeError, ValueError, KeyError, IndexError)):
        # An answer that parsed but lacks what the schema promises (None where an
        # element should be): a malformed answer, whatever Python says about it.
        return OnvifMalformed(f"{where}: unexpected answer ({type(cause).__name__})")
    if isinstance(cause, (zeep.exceptions.Error, ONVIFError)):
        return OnvifMalformed(f"{where}: {_short(str(cause))}")
    return OnvifError(f"{where}: unexpected {type(cause).__name__}")


def _short(text: object) -> str:
    flat = " ".join(str(text or "").split())
    return flat if len(flat) <= MAX_DETAIL else flat[: MAX_DETAIL - 1] + "…"


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def parse_device_time(answer: Any) -> dt.datetime:
    """The UTC time in a GetSystemDateAndTime answer (zeep object), timezone-aware."""
    utc = getattr(answer, "UTCDateTime", None)
    if utc is None:
        raise OnvifMalformed("GetSystemDateAndTime: no UTCDateTime in the answer")
    d, t = utc.Date, utc.Time
    return dt.datetime(d.Year, d.Month, d.Day, t.Hour, t.Minute, t.Second, tzinfo=dt.UTC)


def pin_host(url: str, host: str) -> str:
    """`url` with its host replaced by `host` (port, path and query kept); as given when it names
    `host` already or cannot be read."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    if not parts.hostname or parts.hostname.lower() == host.lower().strip("[]"):
        return url
    name = f"[{host}]" if ":" in host and not host.startswith("[") else host
    netloc = name if port is None else f"{name}:{port}"
    if parts.username:
        netloc = parts.netloc.rsplit("@", 1)[0] + "@" + netloc
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class OnvifClient:
    """A connection to one ONVIF device (an async context manager); see the module doc."""

    def __init__(
        self,
        host: str,
        port: int,
        user: str | None,
        password: str | None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.host = host
        self.port = port
        self.address = f"{host}:{port}"
        self._user = user or None
        self._password = password or None
        self.timeout_s = timeout_s
        self._wall_clock = wall_clock
        self._camera: ONVIFCamera | None = None
        #: Camera clock minus ours in seconds, from the last clock reading.
        self.clock_offset_s: float | None = None

    async def __aenter__(self) -> OnvifClient:
        # Built here, inside the running loop: it opens aiohttp sessions.
        # Without credentials, an empty UsernameToken: onvif-zeep-async fails on None while
        # signing, and a camera answers an empty token with the auth fault we want to report.
        self._camera = ONVIFCamera(
            self.host, self.port, self._user or "", self._password or "", no_cache=True, adjust_time=False
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close every session the client opened."""
        camera, self._camera = self._camera, None
        if camera is None:
            return
        # Each service holds its own aiohttp session; ONVIFCamera.close() stops at the first that
        # fails to close and leaves the rest open (an "Unclosed connector" at garbage collection):
        # close them one by one, then the camera's own (snapshot) session.
        services = list(camera.services.values())
        camera.services.clear()
        for service in services:
            try:
                await asyncio.wait_for(service.close(), max(self.timeout_s, CLOSE_TIMEOUT_S))
            except Exception:
                log.debug("closing an ONVIF service of %s failed", self.address, exc_info=True)
        try:
            await asyncio.wait_for(camera.close(), max(self.timeout_s, CLOSE_TIMEOUT_S))
        except Exception:
            log.debug("closing the ONVIF client of %s failed", self.address, exc_info=True)

    @property
    def camera(self) -> ONVIFCamera:
        """The underlying ONVIFCamera, for code inside onvif_adapters only."""
        if self._camera is None:
            raise RuntimeError("OnvifClient used outside `async with`")
        return self._camera

    async def call(self, where: str, make: Callable[[], Awaitable[T]]) -> T:
        """Run `make()` with the client's timeout; every failure becomes an OnvifError."""
        try:
            async with asyncio.timeout(self.timeout_s):
                return await make()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raise map_error(exc, f"ONVIF {self.address} {where}") from exc

    async def connect(self) -> None:
        """Measure the clock offset, then learn the service addresses (signed with that offset)."""
        offset = await self.read_clock_offset()
        camera = self.camera
        # onvif-zeep-async signs with camera.dt_diff; update_xaddrs() would reset it unless
        # adjust_time is on, and adjust_time would measure again: set ours instead.
        camera.dt_diff = dt.timedelta(seconds=offset)
        # Services built so far were set up with the old offset (and are cached per binding).
        await self._drop_services()
        await self.call("GetServices", self._update_xaddrs)

    async def _drop_services(self) -> None:
        camera = self.camera
        services = list(camera.services.values())
        camera.services.clear()
        for service in services:
            await service.close()

    async def _update_xaddrs(self) -> None:
        camera = self.camera
        devicemgmt = await camera.create_devicemgmt_service()
        camera.xaddrs = {}
        # Both are private steps of update_xaddrs(), which starts by clearing dt_diff.
        if not await camera._update_xaddrs_from_services(devicemgmt):
            await camera._update_xaddrs_from_capabilities(devicemgmt)
        # Our WS-Security credentials go to the address we were given, never to one the device names:
        # a service address on another host (a NAT's inside address, or a lie) is pinned to ours.
        for namespace, xaddr in list(camera.xaddrs.items()):
            pinned = pin_host(xaddr, self.host)
            if pinned != xaddr:
                log.info("ONVIF %s: service %s named host %s; pinned to %s", self.address, namespace.rsplit("/", 2)[-2],
                         urlsplit(xaddr).hostname, self.host)
                camera.xaddrs[namespace] = pinned

    async def read_clock_offset(self) -> float:
        """Camera clock minus ours, in seconds, from an unauthenticated GetSystemDateAndTime."""

        async def read() -> float:
            devicemgmt = await self.camera.create_devicemgmt_service()
            sent = self._wall_clock()
            try:
                answer = await devicemgmt.authless_GetSystemDateAndTime()
            except zeep.exceptions.Fault:
                # Some cameras (Axis among them) authenticate even this call.
                answer = await devicemgmt.GetSystemDateAndTime()
            received = self._wall_clock()
            device = parse_device_time(answer).timestamp()
            # The camera reports whole seconds, read somewhere in the round trip.
            return device - (sent + received) / 2

        self.clock_offset_s = await self.call("GetSystemDateAndTime", read)
        return self.clock_offset_s

    async def device_info(self) -> DeviceInfo:
        """GetDeviceInformation."""

        async def get() -> Any:
            return await (await self.camera.create_devicemgmt_service()).GetDeviceInformation()

        answer = await self.call("GetDeviceInformation", get)
        return DeviceInfo(
            manufacturer=_text(getattr(answer, "Manufacturer", None)),
            model=_text(getattr(answer, "Model", None)),
            firmware=_text(getattr(answer, "FirmwareVersion", None)),
            serial=_text(getattr(answer, "SerialNumber", None)),
            hardware_id=_text(getattr(answer, "HardwareId", None)),
        )

    async def scopes(self) -> list[str]:
        """GetScopes: the device's scope URIs (name, location, hardware, profiles)."""

        async def get() -> Any:
            return await (await self.camera.create_devicemgmt_service()).GetScopes()

        answer = await self.call("GetScopes", get)
        return [_text(getattr(s, "ScopeItem", None)) for s in answer or [] if getattr(s, "ScopeItem", None)]

    async def profiles(self) -> list[Profile]:
        """Media1 GetProfiles, in the device's order."""

        async def get() -> Any:
            return await (await self.camera.create_media_service()).GetProfiles()

        answer = await self.call("GetProfiles", get)
        out: list[Profile] = []
        for p in answer or []:
            vec = getattr(p, "VideoEncoderConfiguration", None)
            res = getattr(vec, "Resolution", None) if vec is not None else None
            token = _text(getattr(p, "token", None))
            if not token:
                continue
            out.append(
                Profile(
                    token=token,
                    name=_text(getattr(p, "Name", None)) or token,
                    encoding=_text(getattr(vec, "Encoding", None)) or None,
                    width=getattr(res, "Width", None),
                    height=getattr(res, "Height", None),
                    has_ptz=getattr(p, "PTZConfiguration", None) is not None,
                )
            )
        return out

    async def stream_uri(self, profile_token: str) -> str:
        """Media1 GetStreamUri for RTSP (RTP unicast) of one profile."""

        async def get() -> Any:
            media = await self.camera.create_media_service()
            return await media.GetStreamUri({"StreamSetup": RTSP_STREAM_SETUP, "ProfileToken": profile_token})

        answer = await self.call(f"GetStreamUri({profile_token})", get)
        uri = _text(getattr(answer, "Uri", None))
        if not uri:
            raise OnvifMalformed(f"{self.address} GetStreamUri({profile_token}): no Uri in the answer")
        return uri

    async def snapshot_uri(self, profile_token: str) -> str | None:
        """Media1 GetSnapshotUri, or None when the device has no snapshot for the profile."""

        async def get() -> Any:
            media = await self.camera.create_media_service()
            return await media.GetSnapshotUri({"ProfileToken": profile_token})

        try:
            answer = await self.call(f"GetSnapshotUri({profile_token})", get)
        except OnvifFault as exc:
            log.debug("%s has no snapshot URI: %s", self.address, exc.detail)
            return None
        return _text(getattr(answer, "Uri", None)) or None
