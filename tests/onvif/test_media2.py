"""Media2 where Media1 lacks the profile: an H.265 profile only Media2 lists, signed with WS-Security."""

from __future__ import annotations

import pytest

from core.config import OnvifConfig
from onvif_adapters.errors import OnvifAuthError
from onvif_adapters.source import OnvifSource
from tests.onvif.fakesoap import ENVELOPE, FakeSoapServer

TR2 = 'xmlns:tr2="http://www.onvif.org/ver20/media/wsdl"'


def services(port: int) -> str:
    base = f"http://127.0.0.1:{port}/onvif"
    entries = [
        ("http://www.onvif.org/ver10/device/wsdl", "device_service"),
        ("http://www.onvif.org/ver10/media/wsdl", "media_service"),
        ("http://www.onvif.org/ver20/media/wsdl", "media2_service"),
    ]
    body = "".join(
        f"<tds:Service><tds:Namespace>{ns}</tds:Namespace><tds:XAddr>{base}/{path}</tds:XAddr>"
        "<tds:Version><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tds:Version></tds:Service>"
        for ns, path in entries
    )
    return ENVELOPE.format(body=f"<tds:GetServicesResponse>{body}</tds:GetServicesResponse>")


MEDIA2_PROFILES = ENVELOPE.format(
    body=f"<tr2:GetProfilesResponse {TR2}>"
    '<tr2:Profiles token="Main264" fixed="true"><tr2:Name>main</tr2:Name><tr2:Configurations>'
    '<tr2:VideoEncoder token="ve0"><tt:Name>ve0</tt:Name><tt:UseCount>1</tt:UseCount><tt:Encoding>H264</tt:Encoding>'
    "<tt:Resolution><tt:Width>1920</tt:Width><tt:Height>1080</tt:Height></tt:Resolution></tr2:VideoEncoder>"
    "</tr2:Configurations></tr2:Profiles>"
    '<tr2:Profiles token="Main265" fixed="true"><tr2:Name>hevc</tr2:Name><tr2:Configurations>'
    '<tr2:VideoEncoder token="ve1"><tt:Name>ve1</tt:Name><tt:UseCount>1</tt:UseCount><tt:Encoding>H265</tt:Encoding>'
    "<tt:Resolution><tt:Width>3840</tt:Width><tt:Height>2160</tt:Height></tt:Resolution></tr2:VideoEncoder>"
    '<tr2:PTZ token="ptz0"><tt:Name>ptz</tt:Name><tt:UseCount>1</tt:UseCount><tt:NodeToken>n</tt:NodeToken></tr2:PTZ>'
    "</tr2:Configurations></tr2:Profiles></tr2:GetProfilesResponse>"
)
MEDIA2_URI = ENVELOPE.format(
    body=f"<tr2:GetStreamUriResponse {TR2}><tr2:Uri>rtsp://127.0.0.1:554/Streaming/Channels/102</tr2:Uri>"
    "</tr2:GetStreamUriResponse>"
)
AUTH_FAULT = ENVELOPE.format(
    body="<s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>ter:NotAuthorized</s:Value>"
    "</s:Subcode></s:Code><s:Reason><s:Text xml:lang=\"en\">Sender not Authorized</s:Text></s:Reason></s:Fault>"
)


def noop(name: str, text: str | None) -> None:
    pass


async def test_h265_profile_only_media2_lists_is_resolved_through_media2() -> None:
    async with FakeSoapServer() as server:
        server.answers.update({
            "GetServices": (200, services(server.port)),
            "media2_service/GetProfiles": (200, MEDIA2_PROFILES),
            "media2_service/GetStreamUri": (200, MEDIA2_URI),
        })
        source = OnvifSource("gate", f"onvif://admin:s%40fe@127.0.0.1:{server.port}/?profile=Main265", OnvifConfig())
        url = await source.resolve(noop)
    assert url == "rtsp://admin:s%40fe@127.0.0.1:554/Streaming/Channels/102"
    assert source.device is not None and source.device.profile == "Main265"
    assert [(p.token, p.encoding, p.resolution, p.has_ptz) for p in source.device.profiles] == [
        ("Main264", "H264", "1920x1080", False),
        ("Main265", "H265", "3840x2160", True),
    ]
    media2 = [body for key, body in server.requests if key.startswith("media2_service/")]
    assert len(media2) == 2
    # Signed like every zeep request: a PasswordDigest UsernameToken, never the password itself.
    assert all("<wsse:Username>admin</wsse:Username>" in body and "PasswordDigest" in body for body in media2)
    assert not any("s@fe" in body for body in media2)
    assert "<tr2:Protocol>RtspUnicast</tr2:Protocol>" in media2[1]


async def test_media2_auth_fault_is_an_auth_error() -> None:
    async with FakeSoapServer() as server:
        server.answers.update({
            "GetServices": (200, services(server.port)),
            "media2_service/GetProfiles": (400, AUTH_FAULT),
        })
        source = OnvifSource("gate", f"onvif://admin:pw@127.0.0.1:{server.port}/?profile=Main265", OnvifConfig())
        with pytest.raises(OnvifAuthError, match="Media2 GetProfiles: credentials refused"):
            await source.resolve(noop)
