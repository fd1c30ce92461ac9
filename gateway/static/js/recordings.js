// Operators: a camera's recordings for one day (segments and gaps) and internal replay from any
// point, with the operator's own session token (policy decides how far back); an incident seen in
// the replay is reported from here with the camera and the player's moment, and evidence is
// exported from here (this camera ticked, others to add, from the replay's moment on).
import { getJSON, token } from "./api.js";
import { CASE_ROLES } from "./casewords.js";
import { EventList } from "./eventlist.js";
import { exportDialog } from "./exportdialog.js";
import { apply, t } from "./i18n.js";
import { reportIncident } from "./incidentdialog.js";
import { copyText, linkNote, spanLink } from "./linkshare.js";
import { Player } from "./player.js";
import { ReplayMarks } from "./replaymarks.js";
import { el, start } from "./shell.js";
import { SyncReplay } from "./syncreplay.js";
import { clock, dateTime, dayBounds, fromLocalInput, todayISO, toLocalInput } from "./timefmt.js";
import { ThumbStrip } from "./thumbstrip.js";
import { Timeline } from "./timeline.js";

const EXPORT_SPAN_MS = 5 * 60000;

const who = await start("recordings", "operator");
if (who) {
  const form = document.getElementById("rec-form");
  const cameraSelect = document.getElementById("rec-camera");
  const dayInput = document.getElementById("rec-day");
  const fromInput = document.getElementById("rec-from");
  const summary = document.getElementById("rec-summary");
  const gapList = document.getElementById("rec-gaps");
  const stage = document.getElementById("replay");
  let eventList = null;  // the timeline tells its first view before the list exists
  let together = null;  // the cameras replayed together, made once the cameras are known
  // A click on the timeline seeks the cameras replayed together while they play, else replays one.
  const timeline = new Timeline({ onPick: (at) => (together?.active ? together.seek(at) : replay(at)),
    onView: (view) => eventList?.setView(view) });
  document.getElementById("timeline").replaceWith(timeline.element);
  const strip = new ThumbStrip({ onPick: (at) => { timeline.setCursor(at.getTime()); replay(at); } }).attach(timeline);
  document.getElementById("thumbs").replaceWith(strip.element);
  eventList = new EventList({ timeline, onPlay: (at) => replay(at) });
  document.getElementById("events").replaceChildren(eventList.element);
  let player = null;
  let bounds = null;
  let cameras = [];
  const marks = new ReplayMarks({ timeline, host: document.getElementById("marks"), camera: () => cameraSelect.value,
    cameras: () => cameras, player: () => player, replay: (at) => replay(at) });

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
  together = new SyncReplay({ cameras, bearer: token, from: () => fromLocalInput(fromInput.value) ?? bounds?.[0],
    span: () => bounds && [bounds[0], new Date(Math.min(bounds[1].getTime(), Date.now()))] });
  document.getElementById("together").replaceWith(together.element);

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
      strip.show(camera, timeline.view, Math.max(0, ...listing.segments.map((seg) => Date.parse(seg.end) || 0)));
      eventList.load([camera], bounds[0], bounds[1]);
      await marks.load(bounds);
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
  // Export: the selected camera from the replay's moment (or the "from" field), five minutes by
  // default; the dialog takes more cameras and another window.
  document.getElementById("rec-export").addEventListener("click", () => {
    const from = player?.at ?? fromLocalInput(fromInput.value) ?? bounds?.[0] ?? new Date(Date.now() - EXPORT_SPAN_MS);
    const end = new Date(Math.min(from.getTime() + EXPORT_SPAN_MS, Date.now()));
    exportDialog({ cameras: cameras.map((c) => ({ id: c.id, name: c.name })), selected: [cameraSelect.value],
      start: from, end: end > from ? end : new Date(from.getTime() + EXPORT_SPAN_MS) });
  });
  // A signed link to the span from "Replay from": copied for another player, or opened in a tab.
  const linkUrl = document.getElementById("link-url");
  const linkNoteEl = document.getElementById("link-note");
  async function shareSpan(open) {
    const at = fromInput.value ? fromLocalInput(fromInput.value) : null;
    if (!at || !cameraSelect.value) return;
    const tab = open ? window.open("", "_blank") : null;  // opened now: a later open() is a blocked pop-up
    try {
      const made = await spanLink(cameraSelect.value, at, Number(document.getElementById("link-span").value));
      linkUrl.value = made.url;
      linkUrl.hidden = false;
      if (tab) {
        tab.opener = null;
        tab.location = made.url;
        linkNoteEl.textContent = linkNote(made, false);
        return;
      }
      const copied = await copyText(made.url);
      if (!copied) linkUrl.select();
      linkNoteEl.textContent = linkNote(made, copied);
    } catch (err) {
      tab?.close();
      linkNoteEl.textContent = err.message;
    }
  }
  document.getElementById("link-copy").addEventListener("click", () => shareSpan(false));
  document.getElementById("link-open").addEventListener("click", () => shareSpan(true));
  if (params.get("day")) dayInput.value = params.get("day");
  document.addEventListener("pantau:lang", () => {
    timeline.draw(); eventList.render(); player?.render(); together.render(); apply(stage); load();
  });
  window.addEventListener("pagehide", () => { player?.stop(); together.stop(); });
  await load();
  // Today's timeline grows while the camera records.
  setInterval(() => {
    if (document.visibilityState === "visible" && dayInput.value === todayISO()) load();
  }, 30000);
}
