// Operators: a camera's recordings for one day (segments and gaps) and internal replay from any
// point, with the operator's own session token (policy decides how far back); an incident seen in
// the replay is reported from here with the camera and the player's moment.
import { getJSON, token } from "./api.js";
import { CASE_ROLES } from "./casewords.js";
import { apply, t } from "./i18n.js";
import { reportIncident } from "./incidentdialog.js";
import { Player } from "./player.js";
import { el, start } from "./shell.js";
import { clock, dateTime, dayBounds, fromLocalInput, todayISO, toLocalInput } from "./timefmt.js";
import { Timeline } from "./timeline.js";

const who = await start("recordings", "operator");
if (who) {
  const form = document.getElementById("rec-form");
  const cameraSelect = document.getElementById("rec-camera");
  const dayInput = document.getElementById("rec-day");
  const fromInput = document.getElementById("rec-from");
  const summary = document.getElementById("rec-summary");
  const gapList = document.getElementById("rec-gaps");
  const stage = document.getElementById("replay");
  const timeline = new Timeline({ onPick: (at) => replay(at) });
  document.getElementById("timeline").replaceWith(timeline.element);
  let player = null;
  let bounds = null;
  let cameras = [];

  dayInput.value = todayISO();
  const params = new URLSearchParams(location.hash.slice(1));
  try {
    ({ cameras } = await getJSON("/api/v1/cameras"));
  } catch (err) {
    summary.className = "error";
    summary.textContent = err.message;
  }
  cameraSelect.replaceChildren(...cameras.map((c) => el("option", { value: c.id }, c.name || c.id)));
  if (params.get("camera")) cameraSelect.value = params.get("camera");

  function name(id) { const c = cameras.find((x) => x.id === id); return c ? c.name || c.id : id; }

  async function load() {
    const camera = cameraSelect.value;
    if (!camera || !dayInput.value) return;
    bounds = dayBounds(dayInput.value);
    history.replaceState(null, "", `#camera=${encodeURIComponent(camera)}&day=${dayInput.value}`);
    summary.textContent = t("rec.loading");
    try {
      const q = new URLSearchParams({ camera, start: bounds[0].toISOString(), end: bounds[1].toISOString() });
      const listing = await getJSON(`/api/v1/recordings?${q}`);
      timeline.show(bounds[0], bounds[1], listing);
      const bytes = listing.segments.reduce((n, s) => n + (s.bytes || 0), 0);
      summary.textContent = t("rec.summary", {
        segments: listing.segments.length, gaps: listing.gaps.length, mb: (bytes / 1e6).toFixed(1),
      });
      gapList.replaceChildren(...listing.gaps.map((g) => el("li", {},
        t("rec.gapSpan", { start: dateTime(g.start), end: g.end ? clock(g.end) : t("rec.ongoing"), reason: g.reason || "" }))));
      if (!fromInput.value) fromInput.value = toLocalInput(listing.segments[0]?.start ?? bounds[0]);
    } catch (err) {
      summary.textContent = err.message;
    }
  }

  function replay(at) {
    if (!bounds) return;
    player?.stop();
    const end = new Date(Math.min(bounds[1].getTime(), Date.now()));
    if (at >= end) { summary.textContent = t("rec.future"); return; }
    fromInput.value = toLocalInput(at);
    player = new Player({
      camera: cameraSelect.value, label: name(cameraSelect.value), start: bounds[0], end, bearer: token,
    });
    player.at = at;
    stage.replaceChildren(player.element);
    player.open(at);
  }

  form.addEventListener("submit", (event) => { event.preventDefault(); load(); });
  document.getElementById("rec-play").addEventListener("click", () => {
    const at = fromInput.value ? fromLocalInput(fromInput.value) : bounds?.[0];
    if (at) replay(at);
  });
  // An incident seen in a recording: reported with this camera at the player's moment.
  const reportButton = document.getElementById("rec-report");
  reportButton.hidden = !CASE_ROLES.has(who.role);
  reportButton.addEventListener("click", () => {
    if (!cameraSelect.value) return;
    const at = player?.at ?? fromLocalInput(fromInput.value) ?? new Date();
    reportIncident({ id: cameraSelect.value, name: name(cameraSelect.value) }, at, { live: false });
  });
  if (params.get("day")) dayInput.value = params.get("day");
  document.addEventListener("pantau:lang", () => { timeline.draw(); player?.render(); apply(stage); load(); });
  window.addEventListener("pagehide", () => player?.stop());
  await load();
  // Today's timeline grows while the camera records.
  setInterval(() => {
    if (document.visibilityState === "visible" && dayInput.value === todayISO()) load();
  }, 30000);
}
