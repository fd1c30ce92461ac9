// The shift's camera and equipment check (SOP step 3: every camera and every item in good
// condition): each camera's state and stream figures from the API, each item's probe, and the
// officer's tick, problem and remark per row; saved as a record of the open shift (the gateway
// adds what it saw of each camera at that moment) with its PDF, or printed as before.
// A camera that goes down turns its row red at once (camera.offline over the event stream).
import { getJSON, sendJSON } from "./api.js";
import { isDown, PushedStates } from "./camerastate.js";
import { failureNote, storedNote } from "./deskrecord.js";
import { EquipmentCheck } from "./equipment.js";
import { EventStream } from "./eventstream.js";
import { t } from "./i18n.js";
import { describe } from "./livetile.js";
import { el, start } from "./shell.js";
import { dateTime } from "./timefmt.js";
import { Verdict } from "./verdict.js";

const REFRESH_MS = 5000;
const GOOD = new Set(["online"]);
const NOTES_MAX = 20_000; // desk.notes_max_chars' default

const who = await start("checks", "operator");
if (who) {
  const body = document.getElementById("checks-body");
  const summary = document.getElementById("checks-summary");
  const stamp = document.getElementById("checks-stamp");
  const rows = new Map();
  const verdicts = new Map(); // camera id -> Verdict, kept when the rows are rebuilt
  const equipment = new EquipmentCheck(document.getElementById("equipment-body"), document.getElementById("equipment-status"));
  const notes = document.getElementById("check-notes");
  const saveButton = document.getElementById("check-save");
  const result = document.getElementById("check-result");
  const failure = document.getElementById("check-error");
  notes.maxLength = NOTES_MAX;
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
        verdict: verdicts.get(cam.id) || new Verdict(cam.name || cam.id),
        state: el("td"), since: el("td"), figures: el("td", { class: "note" }), name: el("th", { scope: "row" }),
      };
      verdicts.set(cam.id, r.verdict);
      r.verdict.label(cam.name || cam.id);
      r.node = el("tr", { dataset: { camera: cam.id } }, r.name, r.state, r.since, r.figures, ...r.verdict.cells());
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

  async function save() {
    result.replaceChildren();
    failure.replaceChildren();
    const body = {
      cameras: cameras.flatMap((cam) => {
        const entry = verdicts.get(cam.id)?.entry();
        return entry ? [{ camera: cam.id, ...entry }] : [];
      }),
      equipment: equipment.entries(),
      notes: notes.value.trim(),
    };
    saveButton.disabled = true;
    try {
      const check = await sendJSON("POST", "/api/v1/checks", body);
      result.replaceChildren(storedNote("check.saved", {}, check.at, check.sha256,
        `/api/v1/checks/${encodeURIComponent(check.id)}/pdf`, `pemeriksaan-${check.id.slice(0, 8)}.pdf`));
      document.body.dataset.check = check.id;
    } catch (err) {
      failure.replaceChildren(failureNote(err));
    }
    saveButton.disabled = false;
  }

  document.getElementById("checks-print").addEventListener("click", () => { draw(); window.print(); });
  saveButton.addEventListener("click", save);
  document.addEventListener("pantau:lang", () => { rows.clear(); draw(); equipment.draw(); });
  const stream = new EventStream("kinds=camera.offline,camera.online");
  stream.on("alert", (alert) => {
    if (pushed.take(alert) === null) return;
    cameras = polled.map((c) => pushed.reconcile(c));
    draw();
  });
  stream.start();
  await Promise.all([refresh(), equipment.load()]);
  setInterval(() => { if (document.visibilityState === "visible") refresh(); }, REFRESH_MS);
}
