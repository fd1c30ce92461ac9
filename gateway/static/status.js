// Camera status page: signs in, lists cameras from the API and refreshes snapshots.
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

async function snapshot(img, id) {
  const res = await api(`/api/v1/cameras/${encodeURIComponent(id)}/snapshot.jpg`);
  if (!res.ok) return;
  const url = URL.createObjectURL(await res.blob());
  const old = img.src;
  img.src = url;
  if (old.startsWith("blob:")) URL.revokeObjectURL(old);
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
      tile.innerHTML = `<img alt=""><div class="meta"></div>`;
      grid.append(tile);
    }
    const meta = tile.querySelector(".meta");
    const why = cam.reason ? ` – ${cam.reason}` : "";
    meta.innerHTML = "";
    const name = document.createElement("strong"); name.textContent = cam.name;
    const state = document.createElement("span");
    state.className = `state-${cam.state}`; state.textContent = ` ${cam.state}${why}`;
    meta.append(name, state);
    if (cam.state === "online" || cam.state === "degraded") snapshot(tile.querySelector("img"), cam.id);
  }
}

refresh();
setInterval(() => { if (!document.hidden && token()) refresh().catch(() => {}); }, 3000);
