// The replay desk's events (GET /api/v1/review/events): markers on the timeline (a layer: colour
// and shape per kind family, the event as tooltip) and the list beside the replay, filtered by
// family, by a search and by the timeline's view. Clicking a marker or a list item (a button:
// Enter and Space work) replays from `preroll_s` (config review.preroll_s) before the event.
import { getJSON } from "./api.js";
import { t } from "./i18n.js";
import { el } from "./shell.js";
import { clock, dateTime } from "./timefmt.js";

const FAMILY_KEYS = {
  onvif: "ev.onvif", camera: "ev.camera", recording: "ev.recording", hold: "ev.hold", alert: "ev.alert", case: "ev.case",
};
const KIND_KEYS = {
  "onvif.motion": "ev.motion", "onvif.tamper": "ev.tamper", "onvif.video_loss": "ev.videoLoss",
  "onvif.digital_input": "ev.digitalInput", "camera.offline": "ev.offline", "camera.degraded": "ev.degraded",
  "camera.disabled": "ev.disabled", "recording.gap": "ev.gap",
};
// A marker narrower than this (a moment, or a short span in a wide view) is drawn this wide, centred.
const MIN_MARK_PCT = 0.6;

export function family(kind) { return kind.split(".")[0]; }

export function kindLabel(kind) { return t(KIND_KEYS[kind] || FAMILY_KEYS[family(kind)] || "ev.other"); }

export class EventList {
  // timeline: the page's Timeline; onPlay(Date): start replay there.
  constructor({ timeline, onPlay }) {
    Object.assign(this, { timeline, onPlay });
    this.events = [];
    this.preroll = 5;
    this.view = null;
    this.shown = new Set(Object.keys(FAMILY_KEYS));
    this.heading = el("h2");
    this.search = el("input", { type: "search", id: "ev-search", maxlength: "200" });
    this.search.addEventListener("input", () => this.changed());
    this.searchLabel = el("label", { for: "ev-search" });
    this.boxes = Object.keys(FAMILY_KEYS).map((name) => {
      const box = el("input", { type: "checkbox", value: name, checked: true });
      box.addEventListener("change", () => {
        if (box.checked) this.shown.add(name); else this.shown.delete(name);
        this.changed();
      });
      return el("label", { class: `ev-family ev-${name}` }, box, el("i", { "aria-hidden": "true" }), el("span"));
    });
    this.legend = el("legend");
    this.count = el("p", { class: "note", "aria-live": "polite" });
    this.note = el("p", { class: "note" });
    this.list = el("ul", { class: "ev-list" });
    this.element = el("div", { class: "ev-desk" }, this.heading,
      el("fieldset", { class: "ev-filters" }, this.legend, ...this.boxes),
      this.searchLabel, this.search, this.count, this.list, this.note);
    timeline.addLayer(this);
    this.render();
  }

  // The events of `cameras` (ids) in [from, to); the list follows the timeline's view within it.
  async load(cameras, from, to) {
    const q = new URLSearchParams({ start: from.toISOString(), end: to.toISOString(), limit: "5000" });
    for (const camera of cameras) q.append("camera", camera);
    try {
      const body = await getJSON(`/api/v1/review/events?${q}`);
      this.events = body.events.map((e) => ({ ...e, at: Date.parse(e.start), until: e.end ? Date.parse(e.end) : null }));
      this.preroll = body.preroll_s;
      this.truncated = body.truncated;
      this.error = null;
    } catch (err) {
      this.events = [];
      this.error = err.message;
    }
    this.changed();
  }

  // The timeline tells its view: the list shows what lies in it.
  setView(view) {
    this.view = view;
    this.render();
  }

  changed() {
    this.timeline.draw();
    this.render();
  }

  matching() {
    const text = this.search.value.trim().toLocaleLowerCase();
    return this.events.filter((e) => this.shown.has(family(e.kind)) && (!text
      || `${e.title} ${e.detail} ${kindLabel(e.kind)}`.toLocaleLowerCase().includes(text)));
  }

  play(event) {
    this.onPlay(new Date(event.at - this.preroll * 1000), event);
  }

  label(event) {
    const end = event.until ? `–${clock(event.until)}` : "";
    return `${kindLabel(event.kind)} · ${clock(event.at)}${end} · ${event.title}`;
  }

  // The timeline layer: one marker per matching event in view; spans as wide as they last.
  nodes({ from, to, pct, width }) {
    const nodes = [];
    for (const event of this.matching()) {
      const stop = event.until ?? event.at;
      if (stop < from || event.at > to) continue;
      const a = Math.max(event.at, from);
      const b = Math.min(stop, to);
      const wide = ((b - a) / (to - from)) * 100 >= MIN_MARK_PCT;
      const style = wide ? `left:${pct(a)};width:${width([a, b])}` : `left:${pct(a)}`;
      const mark = el("button", {
        type: "button", tabindex: "-1", class: `ev-mark ev-${family(event.kind)}${wide ? " span" : ""}`, style,
        title: `${this.label(event)}\n${event.detail}`, "aria-label": t("ev.playFrom", { event: this.label(event) }),
        dataset: { id: event.id },
      });
      mark.addEventListener("click", (e) => { e.stopPropagation(); this.play(event); });
      nodes.push(mark);
    }
    return nodes;
  }

  render() {
    this.heading.textContent = t("ev.title");
    this.legend.textContent = t("ev.kinds");
    this.searchLabel.textContent = t("ev.search");
    this.search.placeholder = t("ev.searchHint");
    this.boxes.forEach((box) => { box.querySelector("span").textContent = t(FAMILY_KEYS[box.querySelector("input").value]); });
    this.note.textContent = t("ev.preroll", { s: this.preroll });
    const matching = this.matching();
    const [from, to] = this.view ?? [-Infinity, Infinity];
    const inView = matching.filter((e) => (e.until ?? e.at) >= from && e.at <= to);
    if (this.error) {
      this.count.className = "error";
      this.count.textContent = this.error;
    } else {
      this.count.className = "note";
      this.count.textContent = t(this.truncated ? "ev.countMore" : "ev.count",
        { shown: inView.length, total: this.events.length });
    }
    this.list.replaceChildren(...inView.map((event) => el("li", {},
      el("button", {
        type: "button", class: `ev-item ev-${family(event.kind)}`, dataset: { id: event.id },
        title: dateTime(event.at), onclick: () => this.play(event),
      },
      el("i", { "aria-hidden": "true" }),
      el("span", { class: "ev-when" }, clock(event.at)),
      el("strong", {}, kindLabel(event.kind)),
      event.title !== kindLabel(event.kind) ? el("span", { class: "ev-what" }, event.title) : null,
      event.detail ? el("small", {}, event.detail) : null))));
    if (!inView.length && !this.error) this.list.append(el("li", { class: "note" }, t("ev.none")));
  }
}
