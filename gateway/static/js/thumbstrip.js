// The thumbnail strip under the recordings timeline: keyframe pictures along the span the timeline
// shows, about one per 80 px, asked again (debounced) when the view or the camera changes; hovering
// the bar shows the strip's nearest picture larger, with its time, without another request. Each
// picture is a button (Tab, Enter) that replays from its time. The pictures come as data URIs: an
// <img> cannot send the bearer header. Each request is one `thumbnails` entry in the access log, so
// the strip asks only when what it shows changes.
import { getJSON } from "./api.js";
import { t } from "./i18n.js";
import { el } from "./shell.js";
import { clock, dateTime } from "./timefmt.js";

const PX_PER_THUMB = 80;
const MAX_COUNT = 120;
const DEBOUNCE_MS = 350;

export class ThumbStrip {
  constructor({ onPick }) {
    this.onPick = onPick;
    this.camera = null;
    this.view = null;       // [from, to] ms, as the timeline shows it
    this.asked = "";        // the last request's query: the same view is not asked twice
    this.serial = 0;        // answers to older requests are dropped
    this.items = [];        // [{ at: ms, src }]
    this.watermark = null;
    this.timer = null;
    this.recordedUntil = 0;
    this.strip = el("div", { class: "thumbstrip", role: "group" });
    this.note = el("p", { class: "note", "aria-live": "polite" });
    this.preview = el("figure", { class: "thumb-preview", hidden: true, "aria-hidden": "true" },
      el("img", { alt: "" }), el("figcaption"));
    this.element = el("div", { class: "thumbs" }, this.strip, this.note, this.preview);
    document.addEventListener("pantau:lang", () => this.render());
  }

  // Hooks into a Timeline: its view changes and its pointer (what was there before is kept).
  attach(timeline) {
    const view = timeline.onView;
    timeline.onView = (span) => { view(span); this.show(this.camera, span); };
    const hover = timeline.onHover;
    timeline.onHover = (at, clientX) => { hover(at, clientX); this.hover(at, clientX, timeline.bar); };
    return this;
  }

  // `recordedUntil` (ms): the end of the newest sealed segment the page knows of; a strip of today
  // asks again once that fills another picture's slot (not at every refresh: each request is logged).
  show(camera, view = this.view, recordedUntil = this.recordedUntil) {
    this.camera = camera;
    this.view = view;
    this.recordedUntil = recordedUntil ?? 0;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.load(), DEBOUNCE_MS);
  }

  async load() {
    if (!this.camera || !this.view) return;
    const [from, to] = this.view;
    const end = Math.min(to, Date.now());  // nothing is recorded after now
    const width = this.strip.getBoundingClientRect().width || 800;
    const slot = (to - from) / Math.min(MAX_COUNT, Math.max(1, Math.round(width / PX_PER_THUMB)));
    const count = Math.min(MAX_COUNT, Math.max(1, Math.round((end - from) / slot)));
    if (end <= from) { this.items = []; this.render(); return; }
    // Asked again for another camera or view, or once newly sealed recordings fill another slot
    // (today's growing end alone does not ask: each request is an access-log entry).
    const filled = Math.floor((Math.min(this.recordedUntil, end) - from) / slot);
    const key = `${this.camera} ${from} ${to} ${count} ${filled}`;
    if (key === this.asked) return;
    this.asked = key;
    const q = new URLSearchParams({ camera: this.camera, start: new Date(from).toISOString(),
      end: new Date(end).toISOString(), count: String(count) });
    const serial = ++this.serial;
    this.note.textContent = t("thumbs.loading");
    try {
      const body = await getJSON(`/api/v1/recordings/thumbnails?${q}`);
      if (serial !== this.serial) return;
      this.items = body.thumbnails.map((th) => ({ at: Date.parse(th.at), src: th.jpeg }));
      this.watermark = body.watermark;
      this.note.textContent = this.items.length ? "" : t("thumbs.none");
    } catch (err) {
      if (serial !== this.serial) return;
      this.items = [];
      this.asked = "";
      this.note.textContent = t("thumbs.failed", { reason: err.message });
    }
    this.render();
  }

  render() {
    this.strip.setAttribute("aria-label", t("thumbs.label"));
    if (!this.view) return;
    const [from, to] = this.view;
    this.strip.replaceChildren(...this.items.map((item) => {
      const time = dateTime(item.at);
      return el("button", {
        type: "button", class: "thumb", style: `left:${((item.at - from) / (to - from)) * 100}%`,
        title: t("thumbs.play", { time }), "aria-label": t("thumbs.play", { time }),
        onclick: () => this.onPick(new Date(item.at)),
      }, el("img", { src: item.src, alt: t("thumbs.alt", { time }) }),
      this.watermark ? el("span", { class: "mark" }, this.watermark) : null);
    }));
  }

  // The picture nearest the pointer (within a picture's width of it), over the bar.
  hover(at, clientX, bar) {
    if (!at || !this.items.length || !this.view) { this.preview.hidden = true; return; }
    const ms = at.getTime();
    let best = null;
    for (const item of this.items) if (!best || Math.abs(item.at - ms) < Math.abs(best.at - ms)) best = item;
    const [from, to] = this.view;
    const box = bar.getBoundingClientRect();
    const reach = ((to - from) / box.width) * PX_PER_THUMB;
    if (Math.abs(best.at - ms) > reach) { this.preview.hidden = true; return; }
    const [img, caption] = this.preview.children;
    img.src = best.src;
    caption.textContent = this.watermark ? `${clock(best.at)} · ${this.watermark}` : clock(best.at);
    this.preview.hidden = false;
    const width = this.preview.offsetWidth || 240;
    const left = Math.min(Math.max(clientX - width / 2, 4), window.innerWidth - width - 4);
    this.preview.style.left = `${left}px`;
    const above = box.top - (this.preview.offsetHeight || 150) - 8;
    this.preview.style.top = `${above >= 0 ? above : box.bottom + 8}px`;
  }
}
