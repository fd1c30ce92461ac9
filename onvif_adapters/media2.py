"""Media2 (ver20/media) GetProfiles and GetStreamUri, spoken directly: onvif-zeep-async has no WSDL for it.

onvif-zeep-async 4.3.0 ships no `ver20/media` service definition, so zeep cannot build
these two requests. They are small: the envelope is written here, signed with the same
WS-Security UsernameToken (on the camera's clock) that onvif-zeep-async uses, posted with
aiohttp, and the answer is read with lxml (no entities, no network). Faults and garbage
map to the same OnvifErrors as the zeep path. Elements are matched by local name, because
vendors disagree on prefixes and on which namespace a profile's children live in.
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape as xml_escape

import aiohttp
import lxml.etree
from onvif.client import UsernameDigestTokenDtDiff

from onvif_adapters.client import OnvifClient
from onvif_adapters.errors import OnvifAuthError, OnvifFault, OnvifMalformed
from onvif_adapters.models import Profile

MEDIA2_NS = "http://www.onvif.org/ver20/media/wsdl"
SOAP_NS = "http://www.w3.org/2003/05/soap-envelope"
_PARSER = lxml.etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
# Media2's StreamingProtocol: "RtspUnicast" is the current name; older Media2 firmware
# only knows the deprecated "RTSP".
STREAM_PROTOCOLS = ("RtspUnicast", "RTSP")
MAX_ANSWER = 4 * 1024 * 1024


def media2_address(client: OnvifClient) -> str | None:
    """The device's Media2 service address, if GetServices listed one."""
    return client.camera.xaddrs.get(MEDIA2_NS)


def _text(element: Any, path: str) -> str:
    found = element.find(path)
    return (found.text or "").strip() if found is not None else ""


def _int(element: Any, path: str) -> int | None:
    text = _text(element, path)
    return int(text) if text.isdigit() else None


class Media2:
    """The two Media2 operations Pantau needs, on one connected OnvifClient."""

    def __init__(self, client: OnvifClient, address: str) -> None:
        self._client = client
        self._address = address

    async def _call(self, operation: str, body: str) -> Any:
        """Post one signed request; the Body's first child of a good answer."""

        async def post() -> Any:
            envelope = lxml.etree.fromstring(
                f'<s:Envelope xmlns:s="{SOAP_NS}" xmlns:tr2="{MEDIA2_NS}"><s:Header/>'
                f"<s:Body>{body}</s:Body></s:Envelope>",
                _PARSER,
            )
            camera = self._client.camera
            if camera.user:
                token = UsernameDigestTokenDtDiff(camera.user, camera.passwd, dt_diff=camera.dt_diff, use_digest=True)
                envelope, _ = token.apply(envelope, {})
            data = lxml.etree.tostring(envelope, xml_declaration=True, encoding="utf-8")
            content_type = f'application/soap+xml; charset=utf-8; action="{MEDIA2_NS}/{operation}"'
            async with aiohttp.ClientSession() as session:
                async with session.post(
                    self._address, data=data, headers={"Content-Type": content_type}, allow_redirects=False
                ) as response:
                    raw = await response.content.read(MAX_ANSWER + 1)
                    status = response.status
            return self._answer(operation, status, raw)

        return await self._client.call(f"Media2 {operation}", post)

    def _answer(self, operation: str, status: int, raw: bytes) -> Any:
        where = f"ONVIF {self._client.address} Media2 {operation}"
        if len(raw) > MAX_ANSWER:
            raise OnvifMalformed(f"{where}: answer over {MAX_ANSWER} bytes")
        try:
            root = lxml.etree.fromstring(raw, _PARSER)
        except lxml.etree.XMLSyntaxError as exc:
            if status in (401, 403):
                raise OnvifAuthError(f"{where}: credentials refused (HTTP {status})") from exc
            raise OnvifMalformed(f"{where}: not a valid SOAP answer (HTTP {status})") from exc
        body = root.find(f"{{{SOAP_NS}}}Body")
        if body is None or len(body) == 0:
            raise OnvifMalformed(f"{where}: not a SOAP answer (no Body)")
        first = body[0]
        if lxml.etree.QName(first).localname == "Fault":
            reason = " ".join(" ".join(t.split()) for t in first.itertext() if t.strip())
            subcodes = [v.text or "" for v in first.iter(f"{{{SOAP_NS}}}Value")]
            if status in (401, 403) or any("NotAuthorized" in c for c in subcodes) or "auth" in reason.lower():
                raise OnvifAuthError(f"{where}: credentials refused ({reason[:200]})")
            raise OnvifFault(f"{where}: SOAP fault: {reason[:200]}")
        if status != 200:
            raise OnvifMalformed(f"{where}: HTTP {status}")
        return first

    async def profiles(self) -> list[Profile]:
        """Media2 GetProfiles (all configurations), in the device's order."""
        answer = await self._call("GetProfiles", "<tr2:GetProfiles><tr2:Type>All</tr2:Type></tr2:GetProfiles>")
        out = []
        for p in answer.iterfind("{*}Profiles"):
            token = (p.get("token") or "").strip()
            if not token:
                continue
            encoder = "{*}Configurations/{*}VideoEncoder"
            out.append(
                Profile(
                    token=token,
                    name=_text(p, "{*}Name") or token,
                    encoding=_text(p, f"{encoder}/{{*}}Encoding") or None,
                    width=_int(p, f"{encoder}/{{*}}Resolution/{{*}}Width"),
                    height=_int(p, f"{encoder}/{{*}}Resolution/{{*}}Height"),
                    has_ptz=p.find("{*}Configurations/{*}PTZ") is not None,
                )
            )
        return out

    async def stream_uri(self, profile_token: str) -> str:
        """Media2 GetStreamUri for RTSP unicast."""
        escaped = xml_escape(profile_token)
        last: OnvifFault | None = None
        for protocol in STREAM_PROTOCOLS:
            try:
                answer = await self._call(
                    "GetStreamUri",
                    f"<tr2:GetStreamUri><tr2:Protocol>{protocol}</tr2:Protocol>"
                    f"<tr2:ProfileToken>{escaped}</tr2:ProfileToken></tr2:GetStreamUri>",
                )
            except OnvifFault as exc:
                last = exc
                continue
            uri = _text(answer, "{*}Uri")
            if not uri:
                raise OnvifMalformed(f"ONVIF {self._client.address} Media2 GetStreamUri: no Uri in the answer")
            return uri
        assert last is not None
        raise last
