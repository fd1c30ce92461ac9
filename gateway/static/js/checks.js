// The shift's camera check (SOP step 3: every camera in good condition, on the equipment
// checklist): each camera's state and stream figures from the API, a tick and a note per camera
// by the officer, printed (or saved as PDF) for the handover report. Nothing is stored here.
// A camera that goes down turns its row red at once (camera.offline over the event stream).
import { getJSON } from "./api.js";
import { isDown, PushedStates } from "./camerastate.js";
import { EventStream } from "./eventstream.js";
import { t } from "./i18n.js";
import { describe } from "./livetile.js";
import { el, start } from "./shell.js";
import { dateTime } from "./timefmt.js";

const REFRESH_MS = 5000;
const GOOD = new Set(["online"]);

const who = await start("checks", "viewer");
if (who) {
  const body = document.getElementById("checks-body");
  const summary = document.getElementById("checks-summary");
  const stamp = document.getElementById("checks-stamp");
  const rows = new Map();
  const pushed = new PushedStates();
  let polled = [];
  let cameras = []; // as polled, corrected by newer alerts

  function figures(cam) {
    const s = cam.stats || {};
    const size = s.width && s.height ? `${s.width}×${s.height}` : "–";
    const rate = s.bitrate_bps ? `${(s.bitrate_bps / 1e6).toFixed(2)} Mbit/s` : "–";
    const fps = s.fps ? s.fps.toFixed(1) : "–";
    const age = s.last_packet_age_s === null || s.last_packet_age_s === undefined ? "–" : `${s.last_packet_age_s.toFixed(1)} s`;
    return t("check.figures", { size, codec: s.codec || "–", fps, rate, age, reconnects: s.reconnects ?? 0,
      dropped: s.dropped_packets ?? 0 });
  }

  function row(cam) {
    let r = rows.get(cam.id);
    if (!r) {
      r = {
        tick: el("input", { type: "checkbox", "aria-label": t("check.checked", { name: cam.name || cam.id }) }),
        note: el("input", { class: "wide", "aria-label": t("check.note", { name: cam.name || cam.id }) }),
        state: el("td"), since: el("td"), figures: el("td", { class: "note" }), name: el("th", { scope: "row" }),
      };
      r.node = el("tr", { dataset: { camera: cam.id } }, r.name, r.state, r.since, r.figures, el("td", {}, r.tick), el("td", {}, r.note));
      rows.set(cam.id, r);
    }
    const { badge, text } = describe(cam);
    r.node.classList.toggle("down", isDown(cam));
    r.name.textContent = cam.name && cam.name !== cam.id ? `${cam.name} (${cam.id})` : cam.id;
    r.state.replaceChildren(el("span", { class: `badge state-${badge}` }, t(`state.${badge}`)), text ? ` ${text}` : "");
    r.since.textContent = dateTime(cam.since);
    r.figures.textContent = figures(cam);
    return r.node;
  }

  function draw() {
    body.replaceChildren(...cameras.map(row));
    const good = cameras.filter((c) => GOOD.has(c.state)).length;
    summary.textContent = t("check.summary", { good, total: cameras.length });
    stamp.textContent = t("check.stamp", { who: who.username, at: dateTime(new Date()) });
  }

  async function refresh() {
    try {
      ({ cameras: polled } = await getJSON("/api/v1/cameras"));
      cameras = polled.map((c) => pushed.reconcile(c));
      draw();
    } catch (err) {
      summary.textContent = err.message;
    }
  }

  document.getElementById("checks-print").addEventListener("click", () => { draw(); window.print(); });
  document.addEventListener("pantau:lang", () => { rows.clear(); draw(); });
  const stream = new EventStream("kinds=camera.offline,camera.online");
  stream.on("alert", (alert) => {
    if (pushed.take(alert) === null) return;
    cameras = polled.map((c) => pushed.reconcile(c));
    draw();
  });
  stream.start();
  await refresh();
  setInterval(() => { if (document.visibilityState === "visible") refresh(); }, REFRESH_MS);
}
