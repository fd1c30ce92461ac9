// The recordings page's marks: a range on the timeline (mark in "[" and out "]" at the cursor or
// the player's moment; Shift+click on the bar sets the end), drawn as a layer, and what it feeds:
// bookmarks (a moment or the range with a note: flags on the timeline, listed, each replays from
// itself), an evidence hold on the range (decided by the policy: an operator is refused, and the
// refusal is shown), the camera's holds with release, a snapshot of the player's moment, and the
// export dialog with the range.
import { getJSON, request, sendJSON } from "./api.js";
import { exportDialog } from "./exportdialog.js";
import { apply, t } from "./i18n.js";
import { el } from "./shell.js";
import { takeSnapshot } from "./snapshot.js";
import { clock, dateTime, span } from "./timefmt.js";

function typing(target) {
  return target instanceof HTMLElement && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
}

export class ReplayMarks {
  // timeline: the page's Timeline; host: the element to fill; camera(): the camera id; cameras(): [{id, name}];
  // player(): the Player or null; replay(Date): start replay there.
  constructor({ timeline, host, camera, cameras, player, replay }) {
    Object.assign(this, { timeline, host, camera, cameras, player, replay });
    this.range = [null, null];
    this.bookmarks = [];
    this.holds = null; // null: this role may not read holds
    this.bounds = null;
    this.message = el("p", { class: "note marks-message", role: "status", "aria-live": "polite" });
    this.rangeText = el("span", { class: "note marks-range" });
    const button = (key, id, onclick, extra = {}) => el("button", { type: "button", id, dataset: { i18n: key }, onclick, ...extra });
    this.toolbar = el("div", { class: "toolbar marks-toolbar", role: "toolbar", dataset: { i18nAttr: "aria-label:marks.toolbar" } },
      button("marks.in", "mark-in", () => this.mark(0), { dataset: { i18n: "marks.in", i18nAttr: "title:marks.inHint" } }),
      button("marks.out", "mark-out", () => this.mark(1), { dataset: { i18n: "marks.out", i18nAttr: "title:marks.outHint" } }),
      button("marks.clear", "mark-clear", () => this.setRange([null, null])),
      this.rangeText,
      button("marks.bookmark", "mark-bookmark", () => this.openForm(this.bookmarkForm)),
      button("marks.hold", "mark-hold", () => this.openForm(this.holdForm)),
      button("marks.snapshot", "mark-snapshot", () => this.snapshot()),
      button("marks.export", "mark-export", () => this.exportRange()));
    this.note = el("textarea", { id: "bookmark-note", rows: "2", maxlength: "2000", required: true });
    this.bookmarkForm = el("form", { class: "marks-form", hidden: true, onsubmit: (e) => { e.preventDefault(); this.placeBookmark(); } },
      el("label", {}, el("span", { dataset: { i18n: "marks.note" } }), this.note),
      el("button", { class: "primary", dataset: { i18n: "marks.saveBookmark" } }),
      el("button", { type: "button", dataset: { i18n: "marks.cancel" }, onclick: () => this.closeForms() }));
    this.reason = el("input", { id: "hold-reason", maxlength: "1024", required: true, size: "40" });
    this.holdForm = el("form", { class: "marks-form", hidden: true, onsubmit: (e) => { e.preventDefault(); this.placeHold(); } },
      el("label", {}, el("span", { dataset: { i18n: "marks.holdReason" } }), this.reason),
      el("button", { class: "primary", dataset: { i18n: "marks.placeHold" } }),
      el("button", { type: "button", dataset: { i18n: "marks.cancel" }, onclick: () => this.closeForms() }));
    this.snap = el("div", { class: "marks-snapshot" });
    this.bookmarkList = el("ul", { class: "bookmarks" });
    this.holdList = el("ul", { class: "holds" });
    this.holdSection = el("section", { class: "marks-holds", hidden: true },
      el("h3", { dataset: { i18n: "marks.holdsTitle" } }), this.holdList);
    host.replaceChildren(this.toolbar, this.bookmarkForm, this.holdForm, this.message, this.snap,
      el("section", { class: "marks-bookmarks" }, el("h3", { dataset: { i18n: "marks.bookmarksTitle" } }), this.bookmarkList),
      this.holdSection);
    timeline.addLayer({ nodes: (view) => this.nodes(view) });
    // Shift+click on the bar ends the range there (captured before the bar's own click replays).
    timeline.element.addEventListener("click", (event) => {
      if (!event.shiftKey || !timeline.bar.contains(event.target)) return;
      event.stopPropagation();
      event.preventDefault();
      const at = timeline.timeAt(event.clientX);
      const start = this.range[0] ?? this.moment();
      this.setRange(start !== null && start < at ? [start, at] : [at, this.range[1]]);
    }, true);
    document.addEventListener("keydown", (event) => {
      if (typing(event.target) || event.ctrlKey || event.metaKey || event.altKey) return;
      if (event.key === "[") { event.preventDefault(); this.mark(0); }
      if (event.key === "]") { event.preventDefault(); this.mark(1); }
    });
    document.addEventListener("pantau:lang", () => { apply(host); this.render(); });
    apply(host);
    this.render();
  }

  // The moment a mark takes: the timeline's cursor while the bar has the focus, else the player's.
  moment() {
    const cursor = this.timeline.cursor;
    if (document.activeElement === this.timeline.bar && cursor !== null) return cursor;
    const at = this.player()?.at;
    return at ? at.getTime() : cursor;
  }

  mark(side) {
    const at = this.moment();
    if (at === null || at === undefined) { this.say(t("marks.noMoment"), "error"); return; }
    const next = [...this.range];
    next[side] = Math.round(at);
    if (next[0] !== null && next[1] !== null && next[0] > next[1]) next.reverse();
    this.setRange(next);
  }

  setRange(range) {
    this.range = range;
    this.render();
    this.timeline.draw();
  }

  hasRange() { return this.range[0] !== null && this.range[1] !== null && this.range[1] > this.range[0]; }

  render() {
    const [a, b] = this.range;
    this.rangeText.textContent = a === null && b === null ? t("marks.noRange")
      : t("marks.rangeText", { start: a === null ? "…" : clock(a), end: b === null ? "…" : clock(b) });
    for (const id of ["mark-hold", "mark-export"]) {
      const node = this.toolbar.querySelector(`#${id}`);
      if (node) node.disabled = !this.hasRange();
    }
    this.toolbar.querySelector("#mark-clear").disabled = a === null && b === null;
    this.bookmarkList.replaceChildren(...(this.bookmarks.length ? this.bookmarks.map((b) => el("li", { dataset: { bookmark: b.id } },
      el("button", { type: "button", class: "link", onclick: () => this.replay(new Date(b.start)) },
        b.end ? span(b.start, b.end) : dateTime(b.start)),
      ` — ${b.note} (${b.author})`)) : [el("li", { class: "note" }, t("marks.noBookmarks"))]));
    this.holdSection.hidden = this.holds === null;
    this.holdList.replaceChildren(...(this.holds || []).map((h) => this.holdItem(h)));
    if (this.holds && !this.holds.length) this.holdList.append(el("li", { class: "note" }, t("marks.noHolds")));
  }

  holdItem(h) {
    const item = el("li", { dataset: { hold: String(h.id) } },
      `${span(h.start, h.end)} — ${h.reason} (${h.owner})`);
    if (h.released_at) {
      item.append(" ", el("span", { class: "note" }, t("marks.released", { who: h.released_by, reason: h.release_reason })));
      return item;
    }
    const why = el("input", { maxlength: "1024", required: true, size: "24", "aria-label": t("marks.releaseReason"), placeholder: t("marks.releaseReason") });
    const form = el("form", { class: "inline-form", hidden: true, onsubmit: async (e) => {
      e.preventDefault();
      try {
        await sendJSON("POST", `/api/v1/holds/${h.id}/release`, { reason: why.value });
        this.say(t("marks.holdReleased"));
        await this.load();
      } catch (err) { this.say(err.message, "error"); }
    } }, why, " ", el("button", { class: "primary" }, t("marks.release")));
    item.append(" ", el("button", { type: "button", class: "release-hold", onclick: () => { form.hidden = false; why.focus(); } }, t("marks.release")), form);
    return item;
  }

  nodes(view) {
    const out = [];
    const [a, b] = this.range;
    if (a !== null && b !== null) {
      out.push(el("div", { class: "mark-range", style: `left:${view.pct(a)};width:${view.width([a, b])}`,
        title: t("marks.rangeText", { start: clock(a), end: clock(b) }) }));
    } else if (a !== null || b !== null) {
      out.push(el("div", { class: "mark-edge", style: `left:${view.pct(a ?? b)}` }));
    }
    for (const bm of this.bookmarks) {
      const s = Date.parse(bm.start);
      const e = bm.end ? Date.parse(bm.end) : null;
      if ((e ?? s) < view.from || s > view.to) continue;
      if (e !== null) {
        out.push(el("div", { class: "bookmark-span", style: `left:${view.pct(Math.max(s, view.from))};width:${view.width([Math.max(s, view.from), Math.min(e, view.to)])}` }));
      }
      if (s >= view.from) out.push(el("div", { class: "bookmark-flag", style: `left:${view.pct(s)}`, title: `${clock(s)} ${bm.note}` }));
    }
    return out;
  }

  say(text, kind = "note") {
    this.message.className = `${kind} marks-message`;
    this.message.setAttribute("role", kind === "error" ? "alert" : "status");
    this.message.textContent = text;
  }

  openForm(form) {
    this.closeForms();
    form.hidden = false;
    form.querySelector("textarea, input")?.focus();
  }

  closeForms() {
    this.bookmarkForm.hidden = true;
    this.holdForm.hidden = true;
  }

  // The day shown: [from, to] Dates. Bookmarks of it, and the camera's holds when this role reads them.
  async load(bounds = this.bounds) {
    this.bounds = bounds;
    const camera = this.camera();
    if (!camera || !bounds) return;
    const q = new URLSearchParams({ camera, start: bounds[0].toISOString(), end: bounds[1].toISOString() });
    try {
      this.bookmarks = (await getJSON(`/api/v1/bookmarks?${q}`)).bookmarks;
    } catch (err) {
      this.bookmarks = [];
      this.say(err.message, "error");
    }
    const res = await request(`/api/v1/holds?camera=${encodeURIComponent(camera)}`);
    this.holds = res.ok ? (await res.json()).holds : null;
    this.render();
    this.timeline.draw();
  }

  async placeBookmark() {
    const at = this.moment();
    const [start, end] = this.hasRange() ? this.range : [at, null];
    if (start === null || start === undefined) { this.say(t("marks.noMoment"), "error"); return; }
    try {
      const made = await sendJSON("POST", "/api/v1/bookmarks", {
        camera: this.camera(), start: new Date(start).toISOString(), end: end === null ? null : new Date(end).toISOString(),
        note: this.note.value,
      });
      this.note.value = "";
      this.closeForms();
      this.say(t("marks.bookmarkPlaced", { at: dateTime(made.start) }));
      await this.load();
    } catch (err) {
      this.say(err.message, "error");
    }
  }

  async placeHold() {
    if (!this.hasRange()) { this.say(t("marks.needRange"), "error"); return; }
    try {
      await sendJSON("POST", "/api/v1/holds", { camera: this.camera(), start: new Date(this.range[0]).toISOString(),
        end: new Date(this.range[1]).toISOString(), reason: this.reason.value });
      this.reason.value = "";
      this.closeForms();
      this.say(t("marks.holdPlaced"));
      await this.load();
    } catch (err) {
      this.say(t("marks.holdRefused", { why: err.message }), "error");
    }
  }

  async snapshot() {
    const at = this.player()?.at ?? (this.timeline.cursor !== null ? new Date(this.timeline.cursor) : null);
    if (!at) { this.say(t("marks.noMoment"), "error"); return; }
    await takeSnapshot(this.camera(), at, this.snap);
  }

  exportRange() {
    if (!this.hasRange()) { this.say(t("marks.needRange"), "error"); return; }
    exportDialog({ cameras: this.cameras().map((c) => ({ id: c.id, name: c.name })), selected: [this.camera()],
      start: new Date(this.range[0]), end: new Date(this.range[1]) });
  }
}
