"""Checks our SOAP answers against the ONVIF schemas bundled with onvif-zeep-async (lxml XMLSchema
over each WSDL's own types, which import onvif.xsd): stricter than zeep, which reads leniently."""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import os
import secrets
from pathlib import Path

import aiohttp
from lxml import etree

import onvif_adapters  # noqa: F401  (imports onvif with the root logger kept)
import onvif

WSDL_DIR = Path(onvif.__file__).parent / "wsdl"
SOAP_ENV = "http://www.w3.org/2003/05/soap-envelope"
XS = "http://www.w3.org/2001/XMLSchema"
MEDIA = "http://www.onvif.org/ver10/media/wsdl"
DEVICE = "http://www.onvif.org/ver10/device/wsdl"


@functools.cache
def schema_of(wsdl: str) -> etree.XMLSchema:
    """The XML schema in a WSDL's types section, its imports resolved in the bundled directory."""
    tree = etree.parse(str(WSDL_DIR / wsdl))
    node = tree.find(f".//{{{XS}}}schema")
    assert node is not None
    doc = etree.ElementTree(etree.fromstring(etree.tostring(node), base_url=os.fspath(WSDL_DIR / f"{wsdl}.xsd")))
    return etree.XMLSchema(doc)


def username_token(user: str, password: str) -> str:
    """A wsse:Security header with a PasswordDigest token made now."""
    nonce = secrets.token_bytes(16)
    created = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    digest = base64.b64encode(hashlib.sha1(nonce + created.encode() + password.encode()).digest()).decode()
    return (
        '<wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd" '
        'xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd">'
        f"<wsse:UsernameToken><wsse:Username>{user}</wsse:Username>"
        '<wsse:Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0'
        f'#PasswordDigest">{digest}</wsse:Password>'
        f"<wsse:Nonce>{base64.b64encode(nonce).decode()}</wsse:Nonce><wsu:Created>{created}</wsu:Created>"
        "</wsse:UsernameToken></wsse:Security>"
    )


async def soap(http: aiohttp.ClientSession, url: str, operation: str, namespace: str,
               user: str | None = None, password: str | None = None, inner: str = "") -> tuple[int, etree._Element]:
    """One SOAP 1.2 call; (HTTP status, the Body's first element)."""
    header = f"<s:Header>{username_token(user, password)}</s:Header>" if user and password else ""
    body = (f'<s:Envelope xmlns:s="{SOAP_ENV}">{header}<s:Body>'
            f'<{operation} xmlns="{namespace}">{inner}</{operation}></s:Body></s:Envelope>')
    async with http.post(url, data=body.encode(), headers={"Content-Type": "application/soap+xml"}) as resp:
        root = etree.fromstring(await resp.read())
        return resp.status, root.find(f"{{{SOAP_ENV}}}Body")[0]


async def validate_media_response(http: aiohttp.ClientSession, base: str, operation: str, user: str,
                                  password: str) -> etree._Element:
    """Call a media operation and assert its response is valid by media.wsdl's schema."""
    status, answer = await soap(http, f"{base}/onvif/media_service", operation, MEDIA, user, password)
    assert status == 200, etree.tostring(answer)
    schema = schema_of("media.wsdl")
    ok = schema.validate(etree.ElementTree(answer))
    assert ok, (operation, schema.error_log.last_error, etree.tostring(answer)[:2000])
    return answer


async def validate_device_response(http: aiohttp.ClientSession, base: str, operation: str,
                                   user: str | None = None, password: str | None = None,
                                   inner: str = "") -> etree._Element:
    """Call a device operation and assert its response is valid by devicemgmt.wsdl's schema."""
    status, answer = await soap(http, f"{base}/onvif/device_service", operation, DEVICE, user, password, inner)
    assert status == 200, etree.tostring(answer)
    schema = schema_of("devicemgmt.wsdl")
    ok = schema.validate(etree.ElementTree(answer))
    assert ok, (operation, schema.error_log.last_error, etree.tostring(answer)[:2000])
    return answer
