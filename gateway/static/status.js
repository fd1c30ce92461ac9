// Camera status page: signs in, lists cameras from the API and plays each online camera
// live over WHEP (a snapshot until the video starts).
const tokenKey = "pantau.token";
const form = document.getElementById("signin");
const grid = document.getElementById("cameras");

function token() { return sessionStorage.getItem(tokenKey); }

async function api(path) {
  const res = await fetch(path, { headers: { Authorization: `Bearer ${token()}` } });
  if (res.status === 401) { sessionStorage.removeItem(tokenKey); showSignin(); throw new Error("signed out"); }
  return res;
}

function showSignin() { form.hidden = false; grid.replaceChildren(); }

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const data = Object.fromEntries(new FormData(form));
  const res = await fetch("/api/v1/session", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(data),
  });
  const body = await res.json();
  if (!res.ok) { document.getElementById("error").textContent = body.detail || body.title; return; }
  sessionStorage.setItem(tokenKey, body.token);
  document.getElementById("who").textContent = `${body.username} (${body.role})`;
  form.hidden = true;
  refresh();
});

// The latest keyframe as the video's poster, shown until live frames arrive.
async function snapshot(video, id) {
  const res = await api(`/api/v1/cameras/${encodeURIComponent(id)}/snapshot.jpg`);
  if (!res.ok) return;
  const url = URL.createObjectURL(await res.blob());
  const old = video.poster;
  video.poster = url;
  if (old.startsWith("blob:")) URL.revokeObjectURL(old);
}

// WHEP: one recvonly peer connection per tile. aiortc sends no trickle candidates and
// takes none, so the offer goes out once ICE gathering is complete.
async function startLive(tile, id) {
  if (tile.pc) return;
  const pc = new RTCPeerConnection();
  tile.pc = pc;
  pc.addTransceiver("video", { direction: "recvonly" });
  const video = tile.querySelector("video");
  pc.ontrack = (event) => { video.srcObject = event.streams[0] || new MediaStream([event.track]); };
  pc.onconnectionstatechange = () => {
    if (["failed", "closed"].includes(pc.connectionState)) stopLive(tile);
  };
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((resolve) => {
    if (pc.iceGatheringState === "complete") return resolve();
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") resolve();
    });
  });
  const res = await fetch(`/whep/live/${encodeURIComponent(id)}`, {
    method: "POST",
    headers: { "Content-Type": "application/sdp", Authorization: `Bearer ${token()}` },
    body: pc.localDescription.sdp,
  });
  if (res.status !== 201) { stopLive(tile); return; }
  tile.session = res.headers.get("Location");
  await pc.setRemoteDescription({ type: "answer", sdp: await res.text() });
}

function stopLive(tile) {
  if (tile.pc) tile.pc.close();
  tile.pc = null;
  if (tile.session) {
    fetch(tile.session, { method: "DELETE", headers: { Authorization: `Bearer ${token()}` } }).catch(() => {});
    tile.session = null;
  }
}

async function refresh() {
  if (!token()) { showSignin(); return; }
  const res = await api("/api/v1/cameras");
  const { cameras } = await res.json();
  for (const cam of cameras) {
    let tile = document.getElementById(`cam-${cam.id}`);
    if (!tile) {
      tile = document.createElement("div");
      tile.className = "tile"; tile.id = `cam-${cam.id}`;
      tile.innerHTML = `<video autoplay muted playsinline></video><div class="meta"></div>`;
      grid.append(tile);
    }
    const meta = tile.querySelector(".meta");
    const why = cam.reason ? ` – ${cam.reason}` : "";
    meta.innerHTML = "";
    const name = document.createElement("strong"); name.textContent = cam.name;
    const state = document.createElement("span");
    state.className = `state-${cam.state}`; state.textContent = ` ${cam.state}${why}`;
    meta.append(name, state);
    const up = cam.state === "online" || cam.state === "degraded";
    if (up) {
      const video = tile.querySelector("video");
      if (video.currentTime === 0) snapshot(video, cam.id);
      startLive(tile, cam.id).catch(() => stopLive(tile));
    } else {
      stopLive(tile);
    }
  }
}

window.addEventListener("pagehide", () => {
  for (const tile of document.querySelectorAll(".tile")) stopLive(tile);
});
refresh();
setInterval(() => { if (!document.hidden && token()) refresh().catch(() => {}); }, 3000);
