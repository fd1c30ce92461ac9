"""A hostile "camera": an RTSP server (run as its own process) that answers with what a broken or
malicious device sends. One mode per port:

  garbage      answers anything with an HTTP page and closes
  bad_sdp      OPTIONS and DESCRIBE answered, the SDP malformed
  huge_header  an answer whose header line is 1 MB long
  flood        a valid H.264 session whose RTP is random bytes, at a camera's rate
  wrong_length interleaved frames whose length fields lie

Usage: python camera.py MODE=PORT [MODE=PORT ...]; prints "ready" when every port listens.
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
import sys

SDP = (
    "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=hostile\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\n"
    "a=rtpmap:96 H264/90000\r\n"
    "a=fmtp:96 packetization-mode=1;sprop-parameter-sets=Z0IAHpWoKA9puAgICBA=,aM48gA==\r\n"
    "a=control:trackID=0\r\n"
)


async def read_request(reader: asyncio.StreamReader) -> tuple[str, str]:
    head = await reader.readuntil(b"\r\n\r\n")
    text = head.decode(errors="replace")
    method = text.split(" ", 1)[0]
    cseq = re.search(r"CSeq:\s*(\d+)", text, re.I)
    return method, cseq.group(1) if cseq else "0"


def answer(cseq: str, extra: str = "", body: str = "") -> bytes:
    length = f"Content-Length: {len(body)}\r\n" if body else ""
    return f"RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\n{extra}{length}\r\n{body}".encode()


async def serve(mode: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        if mode == "garbage":
            await reader.read(4096)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html>not a camera</html>")
            return
        while True:
            method, cseq = await read_request(reader)
            if mode == "huge_header":
                writer.write(b"RTSP/1.0 200 OK\r\nCSeq: " + cseq.encode() + b"\r\nX-Pad: " + b"a" * 1_000_000 + b"\r\n\r\n")
                await writer.drain()
                continue
            if method == "OPTIONS":
                writer.write(answer(cseq, "Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN\r\n"))
            elif method == "DESCRIBE":
                sdp = "v=0\r\nm=video notaport RTP/AVP 96\r\na=rtpmap:96 H264/90000/x/y\r\nc=nonsense\r\n" \
                    if mode == "bad_sdp" else SDP
                writer.write(answer(cseq, "Content-Type: application/sdp\r\n", sdp))
            elif method == "SETUP":
                writer.write(answer(cseq, "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\nSession: 12345678\r\n"))
            elif method == "PLAY":
                writer.write(answer(cseq, "Session: 12345678\r\n"))
                await writer.drain()
                await flood(writer, lying=mode == "wrong_length")
                return
            else:
                writer.write(answer(cseq, "Session: 12345678\r\n"))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def flood(writer: asyncio.StreamWriter, lying: bool) -> None:
    """Random RTP (valid headers, garbage NAL units) until the client goes."""
    seq = 0
    while True:
        payload = os.urandom(1400)
        header = bytes([0x80, 96, (seq >> 8) & 0xFF, seq & 0xFF]) + (seq * 3600).to_bytes(4, "big") + b"\x12\x34\x56\x78"
        packet = header + payload
        size = len(packet) if not lying else (len(packet) * 7) % 65536
        writer.write(b"$\x00" + size.to_bytes(2, "big") + packet)
        seq = (seq + 1) % 65536
        if seq % 8 == 0:  # 400 packets (560 kB) a second: a 4.5 Mbit/s camera's rate, of garbage
            await writer.drain()
            await asyncio.sleep(0.02)


async def main(specs: list[str]) -> None:
    servers = []
    for spec in specs:
        mode, port = spec.split("=")
        servers.append(await asyncio.start_server(functools.partial(serve, mode), "127.0.0.1", int(port),
                                                  limit=2**16))
    print("ready", flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
