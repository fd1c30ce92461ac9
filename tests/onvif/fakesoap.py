"""A small SOAP server for quirks the live test device cannot show: faults, garbage, odd clocks.

Answers by operation name (the first element in the SOAP Body), or by "service/operation"
(e.g. "media2_service/GetProfiles") where two services share a name; every operation has a
valid default answer, and a test replaces the ones it is about::

    async with FakeSoapServer({"GetDeviceInformation": (500, recorded("fault_...xml"))}) as srv:
        OnvifClient("127.0.0.1", srv.port, "u", "p")
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from types import TracebackType

from aiohttp import web

RECORDED = Path(__file__).with_name("recorded")
SOAP = "application/soap+xml; charset=utf-8"
_OPERATION = re.compile(r"<(?:[\w.-]+:)?Body[^>]*>\s*<(?:[\w.-]+:)?(\w+)")

ENVELOPE = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:tt="http://www.onvif.org/ver10/schema" xmlns:tds="http://www.onvif.org/ver10/device/wsdl" '
    'xmlns:trt="http://www.onvif.org/ver10/media/wsdl"><s:Body>{body}</s:Body></s:Envelope>'
)


def recorded(name: str) -> str:
    """A recorded answer from tests/onvif/recorded/."""
    return (RECORDED / name).read_text(encoding="utf-8")


def system_date_and_time(at: float) -> str:
    """A GetSystemDateAndTime answer with the given UTC time."""
    t = time.gmtime(at)
    return ENVELOPE.format(
        body="<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>"
        "<tt:DateTimeType>NTP</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>"
        f"<tt:UTCDateTime><tt:Time><tt:Hour>{t.tm_hour}</tt:Hour><tt:Minute>{t.tm_min}</tt:Minute>"
        f"<tt:Second>{t.tm_sec}</tt:Second></tt:Time><tt:Date><tt:Year>{t.tm_year}</tt:Year>"
        f"<tt:Month>{t.tm_mon}</tt:Month><tt:Day>{t.tm_mday}</tt:Day></tt:Date></tt:UTCDateTime>"
        "</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"
    )


class FakeSoapServer:
    """An aiohttp ONVIF impostor on loopback (async context manager); `answers` maps operation -> (status, xml)."""

    def __init__(self, answers: dict[str, tuple[int, str]] | None = None) -> None:
        self.answers = dict(answers or {})
        self.port = 0
        self.calls: list[str] = []
        #: (service/operation, request body) of every request, in order.
        self.requests: list[tuple[str, str]] = []
        self._runner: web.AppRunner | None = None

    def _default(self, operation: str) -> str | None:
        base = f"http://127.0.0.1:{self.port}/onvif"
        bodies = {
            "GetServices": "<tds:GetServicesResponse>"
            f"<tds:Service><tds:Namespace>http://www.onvif.org/ver10/device/wsdl</tds:Namespace>"
            f"<tds:XAddr>{base}/device_service</tds:XAddr><tds:Version><tt:Major>2</tt:Major>"
            "<tt:Minor>5</tt:Minor></tds:Version></tds:Service>"
            f"<tds:Service><tds:Namespace>http://www.onvif.org/ver10/media/wsdl</tds:Namespace>"
            f"<tds:XAddr>{base}/media_service</tds:XAddr><tds:Version><tt:Major>2</tt:Major>"
            "<tt:Minor>5</tt:Minor></tds:Version></tds:Service></tds:GetServicesResponse>",
            "GetDeviceInformation": "<tds:GetDeviceInformationResponse><tds:Manufacturer>Fake</tds:Manufacturer>"
            "<tds:Model>F-1</tds:Model><tds:FirmwareVersion>1.0</tds:FirmwareVersion>"
            "<tds:SerialNumber>F-0001</tds:SerialNumber><tds:HardwareId>hw</tds:HardwareId>"
            "</tds:GetDeviceInformationResponse>",
            "GetScopes": "<tds:GetScopesResponse/>",
            "GetProfiles": '<trt:GetProfilesResponse><trt:Profiles token="p1" fixed="true">'
            "<tt:Name>main</tt:Name></trt:Profiles></trt:GetProfilesResponse>",
            "GetStreamUri": "<trt:GetStreamUriResponse><trt:MediaUri><tt:Uri>rtsp://127.0.0.1:9/none</tt:Uri>"
            "<tt:InvalidAfterConnect>false</tt:InvalidAfterConnect><tt:InvalidAfterReboot>false"
            "</tt:InvalidAfterReboot><tt:Timeout>PT0S</tt:Timeout></trt:MediaUri></trt:GetStreamUriResponse>",
        }
        if operation == "GetSystemDateAndTime":
            return system_date_and_time(time.time())
        body = bodies.get(operation)
        return None if body is None else ENVELOPE.format(body=body)

    async def _handle(self, request: web.Request) -> web.Response:
        text = await request.text()
        match = _OPERATION.search(text)
        operation = match.group(1) if match else ""
        self.calls.append(operation)
        keyed = f"{request.match_info['service']}/{operation}"
        self.requests.append((keyed, text))
        for key in (keyed, operation):
            if key in self.answers:
                status, body = self.answers[key]
                return web.Response(status=status, text=body, content_type="application/soap+xml")
        default = self._default(operation)
        if default is None:
            return web.Response(status=400, text=f"no answer for {operation!r}")
        return web.Response(text=default, content_type="application/soap+xml")

    async def __aenter__(self) -> FakeSoapServer:
        app = web.Application()
        app.router.add_post("/onvif/{service}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = int(server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
