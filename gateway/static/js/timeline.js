// A day of one camera's recordings as a bar: sealed segments in green, recorded gaps hatched red,
// nothing (no recording, future) left empty. Zoom (24 h down to 10 min) and pan; click or keyboard
// (arrows move a cursor by 1 min, Shift by 10 min, Enter plays) to pick a time.
// Layers (events, thumbnails, bookmarks...) add their own marks: `addLayer({ nodes(view) })`, where
// view = { from, to, pct(ms), width([a, b]) } and nodes() returns elements drawn over the bar;
// `onHover(date | null, clientX)` follows the pointer over the bar; `onView([from, to])` tells
// when the shown span changes (zoom, pan, a new day).
import { t } from "./i18n.js";
import { el } from "./shell.js";
import { clock, dateTime } from "./timefmt.js";

const MINUTE = 60000;
export const ZOOMS = [24 * 60, 6 * 60, 60, 10]; // minutes shown
const TICK_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 180].map((m) => m * MINUTE);

// Merges touching segments so a day of 60 s segments draws as a few blocks: [[startMs, endMs], ...].
export function spans(items, from, to, slackMs = 2000) {
  const out = [];
  const sorted = items
    .map((s) => [Math.max(Date.parse(s.start), from), Math.min(s.end ? Date.parse(s.end) : to, to)])
    .filter(([a, b]) => b > a)
    .sort((x, y) => x[0] - y[0]);
  for (const [a, b] of sorted) {
    const last = out[out.length - 1];
    if (last && a <= last[1] + slackMs) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

// Tick times for a view: about eight, on round local minutes.
export function ticks(from, to) {
  const step = TICK_STEPS.find((s) => (to - from) / s <= 8) || TICK_STEPS[TICK_STEPS.length - 1];
  const first = new Date(from);
  first.setSeconds(0, 0);
  const out = [];
  for (let at = first.getTime(); at <= to; at += MINUTE) {
    const d = new Date(at);
    if (at >= from && (d.getHours() * 60 + d.getMinutes()) % (step / MINUTE) === 0) out.push(at);
  }
  return out;
}

export class Timeline {
  constructor({ onPick, onHover = () => {}, onView = () => {} }) {
    this.onPick = onPick;
    this.onHover = onHover;
    this.onView = onView;
    this.layers = [];
    this.shown = null;  // the view last told to onView
    this.from = 0;
    this.to = 1;
    this.view = [0, 1];
    this.cursor = null;
    this.bar = el("div", { class: "timeline", tabindex: "0", role: "slider" });
    this.bar.addEventListener("click", (event) => {
      const at = this.timeAt(event.clientX);
      this.setCursor(at);
      this.onPick(new Date(at));
    });
    this.bar.addEventListener("mousemove", (event) => {
      this.onHover(new Date(this.timeAt(event.clientX)), event.clientX);
    });
    this.bar.addEventListener("mouseleave", () => this.onHover(null, 0));
    this.bar.addEventListener("keydown", (event) => {
      const minute = MINUTE * (event.shiftKey ? 10 : 1);
      const step = { ArrowRight: minute, ArrowLeft: -minute, Home: -Infinity, End: Infinity }[event.key];
      if (step !== undefined) {
        event.preventDefault();
        const base = this.cursor ?? this.view[0];
        this.setCursor(Math.min(Math.max(base + step, this.from), this.to - 1000));
      } else if (event.key === "Enter" && this.cursor !== null) {
        event.preventDefault();
        this.onPick(new Date(this.cursor));
      }
    });
    this.zoom = el("select", { dataset: { i18nAttr: "aria-label:rec.zoom;title:rec.zoom" } },
      ...ZOOMS.map((m) => el("option", { value: String(m) })));
    this.zoom.addEventListener("change", () => this.zoomTo(Number(this.zoom.value)));
    this.earlier = el("button", { type: "button", onclick: () => this.pan(-0.5) });
    this.later = el("button", { type: "button", onclick: () => this.pan(0.5) });
    this.range = el("span", { class: "note" });
    this.zoomLabel = el("span");
    this.element = el("div", { class: "timeline-wrap" },
      el("div", { class: "toolbar" }, el("label", {}, this.zoomLabel, this.zoom),
        this.earlier, this.later, this.range),
      this.bar);
  }

  // The time (ms) under a pointer at `clientX`.
  timeAt(clientX) {
    const box = this.bar.getBoundingClientRect();
    const [a, b] = this.view;
    return a + ((clientX - box.left) / box.width) * (b - a);
  }

  addLayer(layer) {
    this.layers.push(layer);
    this.draw();
  }

  setCursor(at) {
    this.cursor = at;
    // Keep the cursor in view when the keyboard moves it past an edge.
    const [a, b] = this.view;
    if (at < a || at > b) this.center(at, b - a);
    this.draw();
  }

  show(from, to, listing) {
    Object.assign(this, { from: from.getTime(), to: to.getTime(), listing });
    if (this.view[1] - this.view[0] >= this.to - this.from || this.view[0] < this.from || this.view[1] > this.to) {
      this.view = [this.from, this.to];
      this.zoom.value = String(ZOOMS[0]);
    }
    this.draw();
  }

  center(at, width) {
    const span = Math.min(width, this.to - this.from);
    const start = Math.min(Math.max(at - span / 2, this.from), this.to - span);
    this.view = [start, start + span];
  }

  zoomTo(minutes) {
    const [a, b] = this.view;
    const now = Date.now();
    const focus = this.cursor ?? (now > this.from && now < this.to ? now : (a + b) / 2);
    this.center(focus, minutes * MINUTE);
    this.draw();
  }

  pan(fraction) {
    const [a, b] = this.view;
    this.center((a + b) / 2 + fraction * (b - a), b - a);
    this.draw();
  }

  draw() {
    this.bar.setAttribute("aria-label", t("rec.timelineLabel"));
    this.zoomLabel.textContent = t("rec.zoom");
    [...this.zoom.options].forEach((o) => { o.textContent = t(`rec.zoom${o.value}`); });
    this.earlier.textContent = t("rec.earlier");
    this.later.textContent = t("rec.later");
    const [from, to] = this.view;
    this.earlier.disabled = from <= this.from;
    this.later.disabled = to >= this.to;
    this.range.textContent = `${clock(from)} – ${clock(to)}`;
    this.bar.setAttribute("aria-valuemin", "0");
    this.bar.setAttribute("aria-valuemax", String(Math.round((this.to - this.from) / MINUTE)));
    if (this.cursor !== null) {
      this.bar.setAttribute("aria-valuenow", String(Math.round((this.cursor - this.from) / MINUTE)));
      this.bar.setAttribute("aria-valuetext", dateTime(this.cursor));
    }
    if (!this.listing) return;
    const pct = (ms) => `${((ms - from) / (to - from)) * 100}%`;
    const width = ([a, b]) => `${((b - a) / (to - from)) * 100}%`;
    const nodes = [];
    for (const span of spans(this.listing.segments, from, to)) {
      nodes.push(el("div", { class: "seg", style: `left:${pct(span[0])};width:${width(span)}`,
        title: t("rec.segmentSpan", { start: clock(span[0]), end: clock(span[1]) }) }));
    }
    for (const gap of this.listing.gaps) {
      const span = spans([gap], from, Math.min(to, Date.now()))[0];
      if (!span) continue;
      nodes.push(el("div", { class: "gap", style: `left:${pct(span[0])};width:${width(span)}`,
        title: t("rec.gapSpan", { start: clock(span[0]), end: clock(span[1]), reason: gap.reason || "" }) }));
    }
    for (const at of ticks(from, to)) {
      nodes.push(el("span", { class: "tick", style: `left:${pct(at)}`, "aria-hidden": "true" },
        clock(at).slice(0, 5)));
    }
    const now = Date.now();
    if (now > from && now < to) nodes.push(el("div", { class: "now", style: `left:${pct(now)}`, title: t("rec.now") }));
    for (const layer of this.layers) nodes.push(...layer.nodes({ from, to, pct, width }));
    if (this.cursor !== null && this.cursor >= from && this.cursor <= to) {
      nodes.push(el("div", { class: "cursor", style: `left:${pct(this.cursor)}` }));
    }
    this.bar.replaceChildren(...nodes);
    if (!this.shown || this.shown[0] !== from || this.shown[1] !== to) {
      this.shown = [from, to];
      this.onView([from, to]);
    }
  }
}
