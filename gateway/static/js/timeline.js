// A day of one camera's recordings as a bar: sealed segments in green, recorded gaps hatched red,
// nothing (no recording, future) left empty. Click or keyboard (arrows move a cursor by 1 min,
// Shift by 10 min, Enter plays) to pick a time.
import { t } from "./i18n.js";
import { el } from "./shell.js";
import { clock, dateTime } from "./timefmt.js";

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

export class Timeline {
  constructor({ onPick }) {
    this.onPick = onPick;
    this.from = 0;
    this.to = 1;
    this.cursor = null;
    this.bar = el("div", { class: "timeline", tabindex: "0", role: "slider", "aria-valuemin": "0", "aria-valuemax": "1440" });
    this.bar.addEventListener("click", (event) => {
      const box = this.bar.getBoundingClientRect();
      const at = this.from + ((event.clientX - box.left) / box.width) * (this.to - this.from);
      this.setCursor(at);
      this.onPick(new Date(at));
    });
    this.bar.addEventListener("keydown", (event) => {
      const minute = 60000 * (event.shiftKey ? 10 : 1);
      const step = { ArrowRight: minute, ArrowLeft: -minute, Home: -Infinity, End: Infinity }[event.key];
      if (step !== undefined) {
        event.preventDefault();
        const base = this.cursor ?? this.from;
        this.setCursor(Math.min(Math.max(base + step, this.from), this.to - 1000));
      } else if (event.key === "Enter" && this.cursor !== null) {
        event.preventDefault();
        this.onPick(new Date(this.cursor));
      }
    });
    this.element = el("div", { class: "timeline-wrap" }, this.bar);
  }

  setCursor(at) {
    this.cursor = at;
    this.bar.setAttribute("aria-valuenow", String(Math.round((at - this.from) / 60000)));
    this.bar.setAttribute("aria-valuetext", dateTime(at));
    this.draw();
  }

  show(from, to, listing) {
    Object.assign(this, { from: from.getTime(), to: to.getTime(), listing });
    this.bar.setAttribute("aria-label", t("rec.timelineLabel"));
    this.draw();
  }

  draw() {
    if (!this.listing) return;
    const { from, to } = this;
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
    for (let h = 0; h <= 24; h += 3) {
      const at = from + (h * (to - from)) / 24;
      nodes.push(el("span", { class: "tick", style: `left:${pct(at)}`, "aria-hidden": "true" }, `${String(h).padStart(2, "0")}:00`));
    }
    const now = Date.now();
    if (now > from && now < to) nodes.push(el("div", { class: "now", style: `left:${pct(now)}`, title: t("rec.now") }));
    if (this.cursor !== null) nodes.push(el("div", { class: "cursor", style: `left:${pct(this.cursor)}` }));
    this.bar.replaceChildren(...nodes);
  }
}
