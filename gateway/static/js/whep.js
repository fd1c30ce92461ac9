// WHEP client (draft-ietf-wish-whep): one recvonly peer connection, SDP offer out, 201 answer in,
// DELETE on the session's Location to end. aiortc sends no trickle candidates, so the offer goes
// out once ICE gathering is complete (the gateway takes trickled ones by PATCH too, for other
// players). The peer uses the gateway's STUN/TURN servers (webrtc.ice_servers), so a wall in
// another network or a remote viewer of a disposition link can reach it.
import { problem } from "./api.js";

const GATHER_TIMEOUT_MS = 3000;
const configurations = new Map();

// RTCPeerConnection's configuration: the gateway's ICE servers, asked once per bearer (TURN
// credentials are only given to a bearer who may view). A failure gives no servers, which is
// enough on the gateway's own network, and is asked again next time.
export function rtcConfiguration(bearer) {
  if (!configurations.has(bearer)) {
    const asked = fetch("/api/v1/webrtc/config", { headers: { Authorization: `Bearer ${bearer}` } })
      .then(async (res) => {
        if (!res.ok) throw await problem(res);
        const body = await res.json();
        return { iceServers: Array.isArray(body.iceServers) ? body.iceServers : [] };
      })
      .catch(() => {
        configurations.delete(bearer);
        return { iceServers: [] };
      });
    configurations.set(bearer, asked);
  }
  return configurations.get(bearer);
}

function gathered(pc) {
  return new Promise((resolve) => {
    if (pc.iceGatheringState === "complete") { resolve(); return; }
    const timer = setTimeout(resolve, GATHER_TIMEOUT_MS); // host candidates suffice on a LAN
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") { clearTimeout(timer); resolve(); }
    });
  });
}

// The codec the answer sends sound in ("PCMA", "opus"), or null when its audio section is
// missing or does not send (the camera has no sound, or the policy keeps it from this viewer).
export function soundOf(answer) {
  const section = answer.split(/\r?\nm=/).slice(1).find((s) => s.startsWith("audio "));
  if (!section || !/^a=(sendonly|sendrecv)\s*$/m.test(section)) return null;
  const codec = /^a=rtpmap:\d+ ([\w.-]+)\//m.exec(section);
  return codec ? codec[1] : null;
}

// Opens a session at `url`; returns {pc, location, channel, audio}. With `control`, a data channel
// labelled "control" is created before the offer (WHEP playback's pause/seek/speed). With `audio`,
// the offer also receives sound; `audio` in the result is the codec it comes in, or null.
export async function connect(url, bearer, { video, control = false, audio = false, onPeer } = {}) {
  const pc = new RTCPeerConnection(await rtcConfiguration(bearer));
  onPeer?.(pc);
  const channel = control ? pc.createDataChannel("control") : null;
  pc.addTransceiver("video", { direction: "recvonly" });
  if (audio) pc.addTransceiver("audio", { direction: "recvonly" });
  // The gateway sends each track in a stream of its own: the element plays both from one.
  const media = new MediaStream();
  pc.ontrack = (event) => {
    media.addTrack(event.track);
    if (video && video.srcObject !== media) video.srcObject = media;
  };
  try {
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    const res = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/sdp", Authorization: `Bearer ${bearer}` },
      body: pc.localDescription.sdp,
      // A node answers 307 for a camera another node ingests; a browser would follow it without the
      // Authorization header (cross-origin). Not followed: the page asks the API for the owner's URL.
      redirect: "manual",
    });
    if (res.type === "opaqueredirect") {
      throw Object.assign(new Error("the camera moved to another node"), { status: 307, retryAfterMs: 1000 });
    }
    if (res.status !== 201) throw await problem(res);
    // Relative to where the offer was answered: after a redirect to the node that ingests the
    // camera, the session lives there, not on the node that served the page.
    const where = res.headers.get("Location");
    const location = where ? new URL(where, res.url).href : null;
    const answer = await res.text();
    await pc.setRemoteDescription({ type: "answer", sdp: answer });
    return { pc, location, channel, audio: soundOf(answer) };
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

