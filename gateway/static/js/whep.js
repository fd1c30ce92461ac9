// WHEP client (draft-ietf-wish-whep): one recvonly peer connection, SDP offer out, 201 answer in,
// DELETE on the session's Location to end. aiortc sends no trickle candidates and takes none, so
// the offer goes out once ICE gathering is complete.
import { problem } from "./api.js";

const GATHER_TIMEOUT_MS = 3000;

function gathered(pc) {
  return new Promise((resolve) => {
    if (pc.iceGatheringState === "complete") { resolve(); return; }
    const timer = setTimeout(resolve, GATHER_TIMEOUT_MS); // host candidates suffice on a LAN
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") { clearTimeout(timer); resolve(); }
    });
  });
}

// Opens a session at `url`; returns {pc, location, channel}. With `control`, a data channel
// labelled "control" is created before the offer (WHEP playback's pause/seek/speed).
export async function connect(url, bearer, { video, control = false, onPeer } = {}) {
  const pc = new RTCPeerConnection();
  onPeer?.(pc);
  const channel = control ? pc.createDataChannel("control") : null;
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.ontrack = (event) => {
    if (video) video.srcObject = event.streams[0] || new MediaStream([event.track]);
  };
  try {
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    const res = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/sdp", Authorization: `Bearer ${bearer}` },
      body: pc.localDescription.sdp,
    });
    if (res.status !== 201) throw await problem(res);
    const location = res.headers.get("Location");
    await pc.setRemoteDescription({ type: "answer", sdp: await res.text() });
    return { pc, location, channel };
  } catch (err) {
    pc.close();
    throw err;
  }
}

// Ends a session: close the peer and DELETE its Location (the server also notices the peer go).
export function hangUp(session, bearer) {
  if (!session) return;
  session.pc?.close();
  if (session.location) {
    fetch(session.location, { method: "DELETE", headers: { Authorization: `Bearer ${bearer}` }, keepalive: true })
      .catch(() => {});
  }
}

// Capped exponential backoff with jitter ("equal jitter": half fixed, half random), in ms.
export function backoff(attempt, baseMs = 1000, capMs = 30000, random = Math.random) {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(attempt, 16));
  return ceiling / 2 + random() * (ceiling / 2);
}

