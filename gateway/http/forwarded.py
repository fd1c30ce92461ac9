"""The `Forwarded` header (RFC 7239), parsed strictly: elements, their `for` and `proto` parameters.

Grammar (RFC 7239 section 4, with RFC 7230's token and quoted-string):

    Forwarded         = 1#forwarded-element
    forwarded-element = [ forwarded-pair ] *( ";" [ forwarded-pair ] )
    forwarded-pair    = token "=" value
    value             = token / quoted-string

A `for` node (section 6) is an IPv4 address, a bracketed IPv6 address (quoted, since `[`, `]` and
`:` are not token characters), either with an optional port, or `unknown` or an obfuscated
identifier (`_` and letters). Pantau needs an address to log, throttle and match against
`server.admin_hosts`, so `unknown` and obfuscated nodes are refused (ValueError) when the walk
reaches them, as an unparsable X-Forwarded-For entry is.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# RFC 7230 tchar.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_PORT = re.compile(r"[0-9]{1,5}|_[0-9A-Za-z._-]+")
_OBFUSCATED = re.compile(r"_[0-9A-Za-z._-]+")
#: Bound on what one request may make us parse (a proxy chain is a few hops, not thousands).
MAX_ELEMENTS = 64
PROTOS = frozenset({"http", "https"})


@dataclass(frozen=True, slots=True)
class Element:
    """One hop's forwarded-element: its parameters, names in lower case."""

    params: dict[str, str]

    @property
    def node(self) -> str | None:
        """The `for` parameter, as written (unquoted)."""
        return self.params.get("for")

    @property
    def proto(self) -> str | None:
        """The `proto` parameter in lower case (the scheme the client used to reach this hop)."""
        proto = self.params.get("proto")
        return proto.lower() if proto is not None else None


def _quoted(text: str, i: int) -> tuple[str, int]:
    """The quoted-string starting at text[i] == '"' (backslash escapes undone) and the index after it."""
    out: list[str] = []
    i += 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
        elif ch == '"':
            return "".join(out), i + 1
        elif ch in "\r\n" or ord(ch) < 0x20 and ch != "\t":
            break
        else:
            out.append(ch)
            i += 1
    raise ValueError("Forwarded: an unterminated or invalid quoted-string")


def parse(values: list[str]) -> list[Element]:
    """Every element of the header lines `values`, in order; ValueError for a malformed header
    (a proxy we trust sent something we cannot read: refuse rather than guess)."""
    elements: list[Element] = []
    for text in values:
        i, params = 0, {}
        while True:
            while i < len(text) and text[i] in " \t":
                i += 1
            if i < len(text) and text[i] not in ",;":
                token = _TOKEN.match(text, i)
                if token is None or text[token.end():token.end() + 1] != "=":
                    raise ValueError("Forwarded: expected name=value")
                name, i = token.group().lower(), token.end() + 1
                if text[i:i + 1] == '"':
                    value, i = _quoted(text, i)
                else:
                    match = _TOKEN.match(text, i)
                    if match is None:
                        raise ValueError(f"Forwarded: {name} has no value")
                    value, i = match.group(), match.end()
                if name in params:
                    raise ValueError(f"Forwarded: {name} given twice in one element")
                params[name] = value
                while i < len(text) and text[i] in " \t":
                    i += 1
            if i >= len(text) or text[i] == ",":
                if params:
                    elements.append(Element(params))
                if len(elements) > MAX_ELEMENTS:
                    raise ValueError(f"Forwarded: more than {MAX_ELEMENTS} elements")
                if i >= len(text):
                    break
                params, i = {}, i + 1
            elif text[i] == ";":
                i += 1
            else:
                raise ValueError("Forwarded: expected ';' or ',' between parameters")
    return elements


def node_address(node: str | None) -> IpAddress:
    """The address of a `for` node; ValueError for none, `unknown`, an obfuscated identifier, an
    unbracketed IPv6 address or a bad port."""
    if node is None:
        raise ValueError("Forwarded: an element without for=")
    if node.lower() == "unknown" or _OBFUSCATED.fullmatch(node):
        raise ValueError(f"Forwarded: for={node[:60]!r} hides the client's address (unknown or obfuscated)")
    port: str | None = None
    if node.startswith("["):
        host, sep, rest = node[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"Forwarded: for={node[:60]!r} is not [IPv6]:port")
        port = rest[1:] if rest else None
        address = ipaddress.ip_address(host)
        if not isinstance(address, ipaddress.IPv6Address):
            raise ValueError(f"Forwarded: for={node[:60]!r}: only IPv6 goes in brackets")
    else:
        host, sep, port_text = node.partition(":")
        port = port_text if sep else None
        try:
            address = ipaddress.IPv4Address(host)
        except ValueError:
            raise ValueError(f"Forwarded: for={node[:60]!r} is not an IPv4 address or a quoted [IPv6]") from None
    if port is not None and not _PORT.fullmatch(port):
        raise ValueError(f"Forwarded: for={node[:60]!r} has a bad port")
    return address
