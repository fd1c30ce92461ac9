"""SOAP 1.2 envelopes in and out: a hardened parser for what clients send, builders for what we answer.

A request body is refused before lxml sees it when it is too large or names a DTD or an entity
(`<!DOCTYPE`, `<!ENTITY`): SOAP 1.2 forbids a DTD in an envelope (SOAP 1.2 part 1, 5), and a DTD is
how the billion-laughs and external-entity attacks arrive. The parser itself resolves no entity,
loads no DTD, touches no network and refuses huge trees, in case a DTD slips past the byte check in
an encoding we did not look at (anything but UTF-8 is refused too).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from lxml import etree

SOAP_ENV = "http://www.w3.org/2003/05/soap-envelope"
TT = "http://www.onvif.org/ver10/schema"
TDS = "http://www.onvif.org/ver10/device/wsdl"
TRT = "http://www.onvif.org/ver10/media/wsdl"
TPTZ = "http://www.onvif.org/ver20/ptz/wsdl"
TER = "http://www.onvif.org/ver10/error"
TEV = "http://www.onvif.org/ver10/events/wsdl"
WSNT = "http://docs.oasis-open.org/wsn/b-2"
WSA = "http://www.w3.org/2005/08/addressing"
TSE = "http://www.onvif.org/ver10/search/wsdl"
TRP = "http://www.onvif.org/ver10/replay/wsdl"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
NSMAP = {"s": SOAP_ENV, "tt": TT, "tds": TDS, "trt": TRT, "tptz": TPTZ, "ter": TER, "tev": TEV, "wsnt": WSNT,
         "wsa": WSA, "tse": TSE, "trp": TRP}
CONTENT_TYPE = "application/soap+xml"

#: The largest SOAP request taken: an ONVIF request with a UsernameToken is 1-3 KiB; SetScopes or a
#: PTZ preset name adds little. 64 KiB leaves room and keeps a parse well under a millisecond.
MAX_REQUEST_BYTES = 64 * 1024

_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
    huge_tree=False, remove_comments=True, remove_pis=True,
)


class SoapFault(Exception):
    """A SOAP fault to answer with: code (Sender/Receiver), ONVIF subcodes, reason, HTTP status."""

    def __init__(self, code: str, subcodes: tuple[str, ...], reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.code = code
        self.subcodes = subcodes
        self.reason = reason
        # SOAP 1.2 HTTP binding: Sender faults are 400, Receiver faults 500.
        self.status = status if status is not None else (400 if code == "Sender" else 500)


def not_authorized(reason: str = "Sender not authorized") -> SoapFault:
    """ONVIF Core 5.12.2: env:Sender / ter:NotAuthorized (HTTP 400, which zeep reads as a Fault)."""
    return SoapFault("Sender", ("ter:NotAuthorized",), reason)


def action_not_supported(operation: str) -> SoapFault:
    """ONVIF Core 5.12.4: env:Receiver / ter:ActionNotSupported."""
    return SoapFault("Receiver", ("ter:ActionNotSupported",), f"{operation} is not supported by this device")


def invalid_arg(subcode: str, reason: str) -> SoapFault:
    """env:Sender / ter:InvalidArgVal / ter:`subcode` (e.g. NoProfile, NoSource)."""
    return SoapFault("Sender", ("ter:InvalidArgVal", f"ter:{subcode}"), reason)


def malformed(reason: str) -> SoapFault:
    """A body that is not a SOAP 1.2 envelope we take."""
    return SoapFault("Sender", ("ter:WellFormed",), reason)


@dataclass(frozen=True)
class SoapRequest:
    """A parsed request: the operation (the Body's first child) and the Security header, if any."""

    operation: str
    namespace: str
    body: etree._Element
    security: etree._Element | None


def parse_xml(data: bytes, limit: int = MAX_REQUEST_BYTES) -> etree._Element:
    """The root of `data`, or SoapFault (Sender) for anything we refuse to parse."""
    if len(data) > limit:
        raise malformed(f"the request is larger than {limit} bytes")
    head = data.lstrip()[:64].lower()
    if head.startswith(b"<?xml") and b"encoding" in head and b"utf-8" not in head:
        raise malformed("only UTF-8 requests are taken")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise malformed("only UTF-8 requests are taken")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data or b"<!doctype" in data:
        raise SoapFault("Sender", ("ter:WellFormed",), "a SOAP message must not contain a DTD or an entity")
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise malformed(f"not well-formed XML: {exc.msg}") from exc
    if root.getroottree().docinfo.doctype:
        raise SoapFault("Sender", ("ter:WellFormed",), "a SOAP message must not contain a DTD or an entity")
    return root


def parse_request(data: bytes) -> SoapRequest:
    """The request in `data`, or SoapFault (Sender) for anything we refuse to parse."""
    root = parse_xml(data)
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise SoapFault("Sender", ("ter:WellFormed",), "not a SOAP 1.2 envelope")
    body = root.find(f"{{{SOAP_ENV}}}Body")
    if body is None or len(body) == 0:
        raise malformed("the envelope has no Body operation")
    first = body[0]
    qname = etree.QName(first)
    header = root.find(f"{{{SOAP_ENV}}}Header")
    security = header.find(f"{{{WSSE}}}Security") if header is not None else None
    return SoapRequest(qname.localname, qname.namespace or "", first, security)


def text_of(parent: etree._Element, path: str) -> str | None:
    """The stripped text at `path` (prefixes from NSMAP), or None."""
    found = parent.find(path, NSMAP)
    if found is None or found.text is None:
        return None
    return found.text.strip()


def qn(prefixed: str) -> str:
    """`tt:Name` -> `{namespace}Name`."""
    prefix, _, local = prefixed.partition(":")
    return f"{{{NSMAP[prefix]}}}{local}"


def el(tag: str, *children: etree._Element | str | int | float | bool | None,
       **attrs: str) -> etree._Element:
    """An element `tag` ("prefix:Local") with children (elements, or text for scalars)."""
    node = etree.Element(qn(tag), nsmap=None)
    for name, value in attrs.items():
        node.set(name, value)
    for child in children:
        if child is None:
            continue
        if isinstance(child, etree._Element):
            node.append(child)
        elif isinstance(child, bool):
            node.text = "true" if child else "false"
        else:
            node.text = str(child)
    return node


def many(items: Iterable[etree._Element]) -> list[etree._Element]:
    """Children built by a generator, as a list to splat into `el`."""
    return list(items)


def envelope(payload: etree._Element) -> bytes:
    """A SOAP 1.2 envelope around one response element."""
    root = etree.Element(qn("s:Envelope"), nsmap=NSMAP)
    body = etree.SubElement(root, qn("s:Body"))
    body.append(payload)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def fault_envelope(fault: SoapFault) -> bytes:
    """The SOAP 1.2 fault for `fault`, subcodes nested as ONVIF Core 5.12 shows them."""
    code = el("s:Code", el("s:Value", f"s:{fault.code}"))
    parent = code
    for sub in fault.subcodes:
        node = el("s:Subcode", el("s:Value", sub))
        parent.append(node)
        parent = node
    reason = el("s:Reason", el("s:Text", fault.reason))
    reason[0].set("{http://www.w3.org/XML/1998/namespace}lang", "en")
    return envelope(el("s:Fault", code, reason))
