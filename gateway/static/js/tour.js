// The camera tour ("CCTV patrol", SOP step 4): one camera at a time from a group, each shown for
// a dwell time; pause, previous and next by button or key (space, arrows). An operator records a
// patrol over it (patrolbar.js): which camera was in front for how long, acknowledged or skipped.
import { allowed, getJSON } from "./api.js";
import { PushedStates } from "./camerastate.js";
import { apply, t } from "./i18n.js";
import { LiveTile } from "./livetile.js";
import { el, start } from "./shell.js";
import { followAlarms } from "./alarms.js";
import { EventStream } from "./eventstream.js";
import { PatrolBar } from "./patrolbar.js";

const MIN_DWELL_S = 3;
const MAX_DWELL_S = 600;
const REFRESH_MS = 3000;

const who = await start("tour", "viewer");
if (who) {
  const stage = document.getElementById("stage");
  const groupSelect = document.getElementById("tour-group");
  const dwellInput = document.getElementById("dwell");
  const pauseButton = document.getElementById("tour-pause");
  const position = document.getElementById("tour-position");
  const countdown = document.getElementById("countdown");
  const alarms = new Map();
  const pushed = new PushedStates();
  let polled = [];
  let cameras = []; // as polled, corrected by newer alerts
  let index = 0;
  let tile = null;
  let preload = null;
  let paused = false;
  let remaining = 0;

  dwellInput.min = String(MIN_DWELL_S);
  dwellInput.max = String(MAX_DWELL_S);
  dwellInput.value = localStorage.getItem("pantau.tour.dwell") || "10";

  function dwell() {
    const n = Number(dwellInput.value);
    return Number.isFinite(n) ? Math.min(Math.max(n, MIN_DWELL_S), MAX_DWELL_S) : 10;
  }

  function members() {
    const group = groupSelect.value;
    return group ? cameras.filter((c) => (c.groups || []).includes(group)) : cameras;
  }

  // The next camera plays hidden behind the current one, so each step shows a running picture
  // at once instead of a black tile while WebRTC connects.
  function place(which, front) {
    which.element.classList.toggle("preload", !front);
    which.element.inert = !front;
    if (front) which.element.removeAttribute("aria-hidden"); else which.element.setAttribute("aria-hidden", "true");
    which.video.play?.().catch(() => {});
  }

  function show() {
    const list = members();
    if (list.length === 0) {
      tile?.destroy(); tile = null;
      preload?.destroy(); preload = null;
      stage.replaceChildren(el("p", { class: "note" }, t("wall.noCameras")));
      position.textContent = "";
      delete stage.dataset.camera;
      patrol?.shown(null);
      return;
    }
    index = ((index % list.length) + list.length) % list.length;
    const cam = list[index];
    const nextCam = list.length > 1 ? list[(index + 1) % list.length] : null;
    if (tile?.camera.id !== cam.id) {
      const old = tile;
      if (preload?.camera.id === cam.id) { tile = preload; preload = null; } else tile = new LiveTile(cam, { large: true });
      if (old) {
        if (nextCam && old.camera.id === nextCam.id) { preload?.destroy(); preload = old; } else old.destroy();
      }
    } else {
      tile.update(cam);
    }
    if (preload && preload.camera.id !== nextCam?.id) { preload.destroy(); preload = null; }
    if (nextCam && !preload) preload = new LiveTile(nextCam, { large: true });
    else if (preload) preload.update(nextCam);
    for (const node of [...stage.children]) if (node !== tile.element && node !== preload?.element) node.remove();
    if (stage.firstElementChild !== tile.element) stage.prepend(tile.element);
    if (preload && tile.element.nextElementSibling !== preload.element) tile.element.after(preload.element);
    place(tile, true);
    if (preload) place(preload, false);
    tile.setAlarms(alarms.get(cam.id) || new Set());
    stage.dataset.camera = cam.id;
    patrol?.shown(cam.id);
    position.textContent = t("tour.position", { n: index + 1, total: list.length, name: cam.name || cam.id });
  }

  function step(delta) {
    index += delta;
    remaining = dwell();
    show();
    tick();
  }

  function tick() {
    patrol?.render();
    pauseButton.textContent = t(paused ? "tour.resume" : "tour.pause");
    pauseButton.setAttribute("aria-pressed", String(paused));
    countdown.textContent = paused ? t("tour.paused") : t("tour.nextIn", { s: remaining });
  }

  function current() {
    const list = members();
    return list.length ? list[((index % list.length) + list.length) % list.length] : null;
  }

  // Only the officer's own word starts a patrol; viewers watch the tour.
  const patrol = allowed("operator", who.role) ? new PatrolBar({
    current, members, step,
    group: () => groupSelect.value,
    lock: (on) => { groupSelect.disabled = on; }, // a patrol walks one group
    restart: () => { index = 0; step(0); },
    get paused() { return paused; },
    set paused(value) { paused = value; tick(); },
  }) : null;

  function setGroups() {
    const want = [...new Set(cameras.flatMap((c) => c.groups || []))].sort();
    const saved = localStorage.getItem("pantau.tour.group") || "";
    if (JSON.stringify([...groupSelect.options].map((o) => o.value)) !== JSON.stringify(["", ...want])) {
      groupSelect.replaceChildren(el("option", { value: "", dataset: { i18n: "wall.allGroups" } }),
        ...want.map((g) => el("option", { value: g }, g)));
      apply(groupSelect);
      groupSelect.value = want.includes(saved) ? saved : "";
    }
  }

  async function refresh() {
    try {
      ({ cameras: polled } = await getJSON("/api/v1/cameras"));
      cameras = polled.map((c) => pushed.reconcile(c));
      setGroups();
      show();
    } catch (err) {
      countdown.textContent = err.message;
    }
  }

  groupSelect.addEventListener("change", () => {
    localStorage.setItem("pantau.tour.group", groupSelect.value);
    index = 0;
    step(0);
  });
  dwellInput.addEventListener("change", () => {
    dwellInput.value = String(dwell());
    localStorage.setItem("pantau.tour.dwell", dwellInput.value);
    remaining = Math.min(remaining, dwell());
    tick();
  });
  pauseButton.addEventListener("click", () => { paused = !paused; tick(); });
  document.getElementById("tour-prev").addEventListener("click", () => step(-1));
  document.getElementById("tour-next").addEventListener("click", () => step(1));
  document.addEventListener("keydown", (event) => {
    if (event.target.closest("input, select, textarea")) return;
    if (patrol?.key(event)) { event.preventDefault(); return; }
    if (event.key === " " && event.target.closest("button, a")) return; // Space already presses it
    if (event.key === " ") { event.preventDefault(); paused = !paused; tick(); }
    if (event.key === "ArrowRight") step(1);
    if (event.key === "ArrowLeft") step(-1);
  });
  document.addEventListener("visibilitychange", () => {
    tile?.sync(); preload?.sync();
    patrol?.visibility(document.visibilityState === "visible");
  });
  document.addEventListener("pantau:lang", () => { tile?.render(); preload?.render(); show(); tick(); });
  window.addEventListener("beforeunload", (event) => { if (patrol?.recording) event.preventDefault(); });
  window.addEventListener("pagehide", () => { tile?.close(); preload?.close(); });
  const stream = new EventStream("kinds=camera.offline,camera.online");
  followAlarms(stream, (camera, kinds) => { alarms.set(camera, kinds); if (tile?.camera.id === camera) tile.setAlarms(kinds); });
  stream.on("alert", (alert) => {
    const id = pushed.take(alert);
    if (id === null) return;
    cameras = polled.map((c) => pushed.reconcile(c));
    const cam = cameras.find((c) => c.id === id);
    for (const shown of [tile, preload]) if (cam && shown?.camera.id === id) shown.update(cam, { polled: false });
  });
  stream.start();

  remaining = dwell();
  await refresh();
  tick();
  setInterval(() => { if (document.visibilityState === "visible") refresh(); }, REFRESH_MS);
  setInterval(() => {
    tile?.render();
    preload?.render();
    if (paused || document.visibilityState !== "visible") return;
    remaining -= 1;
    if (remaining <= 0) step(1); else tick();
  }, 1000);
}
