// The video wall: a grid of live tiles (1, 4, 9 or 16 per screen), paged, optionally one group;
// the grid plays each camera's sub-stream where it has one (or, by choice, the main streams) and
// a tile made full screen its main stream;
// the alert tray in the header. A camera's state comes from the camera list every few seconds and
// from camera.offline / camera.online alerts the moment they happen (camerastate.js). An emergency
// (emergency.js) takes the wall over with its playbook's cameras until it is acknowledged.
import { getJSON } from "./api.js";
import { followAlarms } from "./alarms.js";
import { PushedStates } from "./camerastate.js";
import { CASE_ROLES } from "./casewords.js";
import { followDuty } from "./duty.js";
import { EmergencyWall } from "./emergency.js";
import { EventStream } from "./eventstream.js";
import { apply, t } from "./i18n.js";
import { LiveTile, playable } from "./livetile.js";
import { el, start } from "./shell.js";
import { AlertTray } from "./tray.js";

const LAYOUTS = [1, 4, 9, 16];
const REFRESH_MS = 3000;
const prefs = {
  get layout() { const n = Number(localStorage.getItem("pantau.wall.layout")); return LAYOUTS.includes(n) ? n : 4; },
  set layout(n) { localStorage.setItem("pantau.wall.layout", String(n)); },
  get group() { return localStorage.getItem("pantau.wall.group") || ""; },
  set group(g) { localStorage.setItem("pantau.wall.group", g); },
  // What the grid plays of a camera with a sub-stream: "sub" (light, the default) or "main".
  get gridStream() { return localStorage.getItem("pantau.wall.stream") === "main" ? "main" : "sub"; },
  set gridStream(s) { localStorage.setItem("pantau.wall.stream", s); },
};

const who = await start("wall", "viewer");
if (who) {
  const grid = document.getElementById("wall");
  const layoutSelect = document.getElementById("layout");
  const groupSelect = document.getElementById("group");
  const streamSelect = document.getElementById("grid-stream");
  const pageText = document.getElementById("page-of");
  const summary = document.getElementById("summary");
  const prev = document.getElementById("prev-page");
  const next = document.getElementById("next-page");
  const tiles = new Map();
  const alarms = new Map();
  const pushed = new PushedStates();
  let polled = [];
  let cameras = []; // as polled, corrected by newer alerts
  let page = 0;
  let revoked = false; // an enrolled display's token was refused: nothing runs any more
  let emergency = null; // EmergencyWall: during an emergency the wall shows its cameras only
  // Operators and supervisors report an incident from a tile; viewers and displays do not.
  const canReport = !who.display && CASE_ROLES.has(who.role);
  // A person takes snapshots (the policy decides as for live viewing); a wall display does not.
  const canSnapshot = !who.display;

  for (const n of LAYOUTS) layoutSelect.append(el("option", { value: String(n) }, String(n)));
  layoutSelect.value = String(prefs.layout);
  layoutSelect.addEventListener("change", () => { prefs.layout = Number(layoutSelect.value); page = 0; draw(); });
  groupSelect.addEventListener("change", () => { prefs.group = groupSelect.value; page = 0; draw(); });
  streamSelect.value = prefs.gridStream;
  streamSelect.addEventListener("change", () => {
    prefs.gridStream = streamSelect.value;
    for (const tile of tiles.values()) tile.setGridStream(prefs.gridStream); // each switches without a black frame
  });
  prev.addEventListener("click", () => { page -= 1; draw(); });
  next.addEventListener("click", () => { page += 1; draw(); });

  function shown() {
    const urgent = emergency?.cameras;
    if (urgent) return urgent.map((id) => cameras.find((c) => c.id === id)).filter(Boolean);
    const group = prefs.group;
    return group ? cameras.filter((c) => (c.groups || []).includes(group)) : cameras;
  }

  function groups() {
    const all = new Set(cameras.flatMap((c) => c.groups || []));
    const want = [...all].sort();
    const have = [...groupSelect.options].map((o) => o.value);
    if (JSON.stringify(have) !== JSON.stringify(["", ...want])) { // (joined, [] and [""] would look alike)
      groupSelect.replaceChildren(el("option", { value: "", dataset: { i18n: "wall.allGroups" } }),
        ...want.map((g) => el("option", { value: g }, g)));
      apply(groupSelect);
    }
    groupSelect.value = want.includes(prefs.group) ? prefs.group : "";
  }

  // The tiles per screen: the user's choice, or in an emergency the fewest that show all its cameras.
  function layoutNow() {
    if (!emergency?.cameras) return prefs.layout;
    return LAYOUTS.find((n) => n >= shown().length) ?? LAYOUTS[LAYOUTS.length - 1];
  }

  // fromPoll: a new camera list (the tiles' stall check counts those).
  function draw({ fromPoll = false } = {}) {
    if (revoked) return;
    const layout = layoutNow();
    const urgent = !!emergency?.cameras;
    layoutSelect.disabled = urgent;
    groupSelect.disabled = urgent;
    const list = shown();
    const pages = Math.max(1, Math.ceil(list.length / layout));
    page = Math.min(Math.max(page, 0), pages - 1);
    const visible = list.slice(page * layout, (page + 1) * layout);
    const ids = new Set(visible.map((c) => c.id));
    for (const [id, tile] of tiles) {
      if (!ids.has(id)) { tile.destroy(); tiles.delete(id); }
    }
    grid.className = `grid cols-${Math.sqrt(layout)}`;
    const cells = visible.map((cam) => {
      let tile = tiles.get(cam.id);
      if (!tile) {
        tile = new LiveTile(cam, { ptz: cam.ptz === true, report: canReport, snapshot: canSnapshot, gridStream: prefs.gridStream,
          onLost: () => refresh() });
        tiles.set(cam.id, tile);
      } else tile.update(cam, { polled: fromPoll });
      tile.setAlarms(alarms.get(cam.id) || new Set());
      return tile.element;
    });
    while (cells.length < layout && list.length > 0) cells.push(el("div", { class: "tile empty", "aria-hidden": "true" }));
    // Move only the nodes out of place: a <video> taken out of the page pauses and its tile
    // briefly counts as off screen.
    for (const node of [...grid.children]) if (!cells.includes(node)) node.remove();
    cells.forEach((cell, i) => { if (grid.children[i] !== cell) grid.insertBefore(cell, grid.children[i] || null); });
    for (const video of grid.querySelectorAll("video")) if (video.srcObject && video.paused) video.play().catch(() => {});
    if (list.length === 0) grid.replaceChildren(el("p", { class: "note" }, t("wall.noCameras")));
    pageText.textContent = t("wall.pageOf", { page: page + 1, pages });
    prev.disabled = page === 0;
    next.disabled = page >= pages - 1;
    count();
  }

  function count() {
    const list = shown();
    const up = list.filter(playable).length; // up here, or on the node that ingests it
    summary.textContent = t("wall.summary", { up, total: list.length });
  }

  async function refresh() {
    if (revoked) return;
    try {
      ({ cameras: polled } = await getJSON("/api/v1/cameras"));
      cameras = polled.map((c) => pushed.reconcile(c));
      tray.setCameras(cameras);
      groups();
      draw({ fromPoll: true });
    } catch (err) {
      summary.textContent = err.message;
    }
  }

  // Arrow keys move between tiles; PageUp/PageDown between pages.
  grid.addEventListener("keydown", (event) => {
    const items = [...grid.querySelectorAll(".tile[tabindex]")];
    const at = items.indexOf(document.activeElement);
    const cols = Math.sqrt(layoutNow());
    const step = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: cols, ArrowUp: -cols }[event.key];
    if (step && at >= 0 && items[at + step]) { event.preventDefault(); items[at + step].focus(); }
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "PageDown" && !next.disabled) { page += 1; draw(); }
    if (event.key === "PageUp" && !prev.disabled) { page -= 1; draw(); }
  });
  document.addEventListener("visibilitychange", () => { for (const tile of tiles.values()) tile.sync(); });
  document.addEventListener("pantau:lang", () => { for (const tile of tiles.values()) tile.render(); draw(); });
  window.addEventListener("pagehide", () => { for (const tile of tiles.values()) tile.close(); });
  const stream = new EventStream();
  followAlarms(stream, (camera, kinds) => { alarms.set(camera, kinds); tiles.get(camera)?.setAlarms(kinds); });
  const tray = new AlertTray(stream, who, document.querySelector("#shell .tools"));
  emergency = new EmergencyWall(stream, who, {
    header: document.getElementById("emergency"), panel: document.getElementById("emergency-steps"),
    onChange: () => { page = 0; draw(); },
  });
  stream.on("alert", (alert) => {
    const id = pushed.take(alert);
    const at = id === null ? -1 : cameras.findIndex((c) => c.id === id);
    if (at < 0) return;
    cameras[at] = pushed.reconcile(polled.find((c) => c.id === id));
    tiles.get(id)?.update(cameras[at], { polled: false });
    count();
  });
  let polling = null;
  let ticking = null;
  // A revoked display (the shell shows why): every peer closed, no tile retries, no polling.
  document.addEventListener("pantau:revoked", () => {
    revoked = true;
    clearInterval(polling);
    clearInterval(ticking);
    stream.stop();
    for (const tile of tiles.values()) tile.destroy();
    tiles.clear();
    grid.replaceChildren();
  });
  stream.start();

  await Promise.all([refresh(), followDuty(document.getElementById("on-duty"))]);
  if (!revoked) {
    polling = setInterval(() => { if (document.visibilityState === "visible") refresh(); }, REFRESH_MS);
    // Countdowns ("next try in 12 s") tick between refreshes.
    ticking = setInterval(() => { for (const tile of tiles.values()) tile.render(); }, 1000);
  }
}
