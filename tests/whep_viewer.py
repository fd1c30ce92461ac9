"""A WHEP viewer in its own process, for tests that freeze it (SIGSTOP) as a stalled viewer would.

Usage: python tests/whep_viewer.py URL TOKEN. Prints "frame" on stdout for the first decoded
frame, then keeps receiving until killed.
"""

from __future__ import annotations

import asyncio
import sys

import aiohttp
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription


async def main(url: str, token: str) -> None:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("video", direction="recvonly")
    tracks: asyncio.Queue = asyncio.Queue()
    pc.on("track", tracks.put_nowait)
    await pc.setLocalDescription(await pc.createOffer())
    async with aiohttp.ClientSession() as http, http.post(
        url, data=pc.localDescription.sdp,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/sdp"},
    ) as resp:
        answer = await resp.text()
        if resp.status != 201:
            raise SystemExit(f"WHEP answered {resp.status}: {answer}")
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    track = await asyncio.wait_for(tracks.get(), 10)
    await asyncio.wait_for(track.recv(), 10)
    print("frame", flush=True)
    while True:
        await track.recv()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
