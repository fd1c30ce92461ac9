// The wall's notification tray: the alerts this user may receive (the gateway already keeps out
// cameras the user may not see and gateway alerts the role is not given), first the recent ones
// from GET /api/v1/alerts, then live from the page's event stream; newest first, under a bell
// with the number not yet seen. What was seen and the two choices (hide info alerts, a beep for
// critical ones) are kept per user in this browser's localStorage; nothing goes to the gateway.
import { getJSON } from "./api.js";
import { Beeper } from "./beep.js";
import { apply, lang, t } from "./i18n.js";
import { el } from "./shell.js";
import { clock, dateTime } from "./timefmt.js";

const SEED = 50; // alerts listed at page load
const KEEP = 200; // alerts kept on the page
const SEVERITY = { info: "alerts.info", warning: "alerts.warning", critical: "alerts.critical" };
const RANK = { info: 0, warning: 1, critical: 2 };
const SVG = "http://www.w3.org/2000/svg";

// The summary in the page's language (the gateway writes both).
export function summaryOf(alert, language = lang()) {
  const summary = alert.summary || {};
  return (language === "id" ? summary.id : summary.en) || summary.en || summary.id || alert.kind;
}

export function severityOf(alert) {
  return alert.severity in SEVERITY ? alert.severity : "info";
}

// What one user has seen and chose: every alert up to seq `upTo`, and single ones after it.
export class SeenStore {
  constructor(user, storage = localStorage) {
    this.key = `pantau.alerts.${user}`;
    this.storage = storage;
    let saved = {};
    try { saved = JSON.parse(storage.getItem(this.key)) || {}; } catch { /* start afresh */ }
    this.upTo = Number.isSafeInteger(saved.upTo) ? saved.upTo : 0;
    this.single = new Set(Array.isArray(saved.single) ? saved.single.filter(Number.isSafeInteger) : []);
    this.hideInfo = saved.hideInfo === true;
    this.sound = saved.sound === true;
  }

  has(seq) { return seq <= this.upTo || this.single.has(seq); }

  mark(seq) {
    if (this.has(seq)) return;
    this.single.add(seq);
    this.save();
  }

  markAll(seq) {
    this.upTo = Math.max(this.upTo, seq);
    this.single = new Set([...this.single].filter((s) => s > this.upTo));
    this.save();
  }

  // The gateway's last seq: lower than what was seen means its outbox started again (a new
  // database), and the old numbers would hide new alerts.
  check(lastSeq) {
    if (!Number.isSafeInteger(lastSeq) || (lastSeq >= this.upTo && [...this.single].every((s) => s <= lastSeq))) return;
    this.upTo = 0;
    this.single.clear();
    this.save();
  }

  save() {
    this.storage.setItem(this.key, JSON.stringify({
      upTo: this.upTo, single: [...this.single].sort((a, b) => a - b).slice(-KEEP),
      hideInfo: this.hideInfo, sound: this.sound,
    }));
  }
}

function bellIcon() {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", "M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22zm7-6V11a7 7 0 0 0-5.5-6.84V3.5a1.5 1.5 0 0 0-3 0v.66A7 7 0 0 0 5 11v5l-2 2v1h18v-1z");
  svg.append(path);
  return svg;
}

function today(date) {
  return date.toDateString() === new Date().toDateString();
}

export class AlertTray {
  // stream: the page's EventStream (not yet started); who: the signed-in user; host: where the bell goes.
  constructor(stream, who, host) {
    this.store = new SeenStore(who.username);
    this.alerts = new Map(); // seq -> alert
    this.names = new Map();
    this.namesKey = "";
    this.beeper = new Beeper();
    this.count = el("span", { class: "count", hidden: true });
    this.bell = el("button", { type: "button", id: "alerts-bell", class: "bell", "aria-expanded": "false",
      "aria-controls": "alerts-panel", onclick: () => (this.panel.hidden ? this.open() : this.close()) },
    bellIcon(), this.count);
    this.bell.tray = this;
    this.stream = stream;
    this.state = el("span", { id: "alerts-state", class: "note" });
    this.markAllButton = el("button", { type: "button", id: "alerts-mark-all", dataset: { i18n: "alerts.markAll" },
      onclick: () => this.markAll() });
    this.hideInfo = el("input", { type: "checkbox", id: "alerts-hide-info", checked: this.store.hideInfo,
      onchange: () => { this.store.hideInfo = this.hideInfo.checked; this.store.save(); this.render(); } });
    this.sound = el("input", { type: "checkbox", id: "alerts-sound", checked: this.store.sound,
      onchange: () => {
        this.store.sound = this.sound.checked;
        this.store.save();
        if (this.sound.checked) this.beeper.play(); // this click lets the page make sound; and what it sounds like
      } });
    this.hiddenNote = el("p", { id: "alerts-hidden", class: "note" });
    this.list = el("ol", { id: "alerts-list", class: "alert-list" });
    this.title = el("h2", { id: "alerts-title", tabindex: "-1", dataset: { i18n: "alerts.title" } });
    this.panel = el("section", { id: "alerts-panel", class: "tray", role: "dialog", "aria-labelledby": "alerts-title",
      hidden: true },
    el("div", { class: "tray-head" }, this.title, this.markAllButton,
      el("button", { type: "button", class: "close", dataset: { i18nAttr: "aria-label:alerts.close;title:alerts.close" },
        onclick: () => this.close() }, "×")),
    this.state,
    el("div", { class: "tray-options" },
      el("label", {}, this.hideInfo, el("span", { dataset: { i18n: "alerts.hideInfo" } })),
      el("label", {}, this.sound, el("span", { dataset: { i18n: "alerts.sound" } }))),
    this.list, this.hiddenNote);
    // New alerts read out (politely: the tiles announce their own state changes too).
    this.live = el("div", { id: "alerts-live", class: "visually-hidden", "aria-live": "polite" });
    host.prepend(this.bell);
    document.getElementById("shell").append(this.panel, this.live);
    apply(this.panel);

    stream.before(() => this.seed(stream));
    stream.on("alert", (alert) => this.add(alert, true));
    stream.on("state", (connected) => {
      this.state.textContent = connected ? t("alerts.connected") : t("alerts.disconnected");
      this.state.className = connected ? "note" : "warn";
      this.connected = connected;
    });
    document.addEventListener("pantau:lang", () => {
      if (this.connected !== undefined) this.state.textContent = t(this.connected ? "alerts.connected" : "alerts.disconnected");
      this.render();
    });
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !this.panel.hidden) this.close();
    });
    document.addEventListener("click", (event) => {
      // The path as dispatched: a clicked "Seen" button is already gone from the panel by now.
      const inside = event.composedPath().some((node) => node === this.panel || node === this.bell);
      if (!this.panel.hidden && !inside) this.close(false);
    });
    // After a reload with the sound on, the browser lets the page sound after the next interaction.
    const unlock = () => { if (this.store.sound) this.beeper.unlock(); };
    document.addEventListener("pointerdown", unlock, { once: true });
    document.addEventListener("keydown", unlock, { once: true });
    this.render();
  }

  async seed(stream) {
    const { alerts = [], last_seq: lastSeq } = await getJSON(`/api/v1/alerts?limit=${SEED}`);
    this.store.check(lastSeq);
    for (const alert of alerts) this.add(alert, false);
    stream.seen(lastSeq);
  }

  // live: arrived over the stream (sounds and is read out), not from the list at page load.
  add(alert, live) {
    if (!alert || !Number.isSafeInteger(alert.seq) || this.alerts.has(alert.seq)) return;
    this.alerts.set(alert.seq, alert);
    if (this.alerts.size > KEEP) this.alerts.delete(Math.min(...this.alerts.keys()));
    const severity = severityOf(alert);
    if (live && !this.store.has(alert.seq) && !(severity === "info" && this.store.hideInfo)) {
      if (severity === "critical" && this.store.sound) this.beeper.beep();
      if (severity !== "info") this.live.textContent = `${t(SEVERITY[severity])}: ${summaryOf(alert)}`;
      this.bell.classList.remove("ring");
      void this.bell.offsetWidth; // restart the animation
      this.bell.classList.add("ring");
    }
    this.render();
  }

  // The wall's camera list, for names instead of ids.
  setCameras(cameras) {
    const key = cameras.map((c) => `${c.id}\t${c.name || c.id}`).join("\n");
    if (key === this.namesKey) return;
    this.namesKey = key;
    this.names = new Map(cameras.map((c) => [c.id, c.name || c.id]));
    this.render();
  }

  shown() {
    return [...this.alerts.values()]
      .filter((a) => !(this.store.hideInfo && severityOf(a) === "info"))
      .sort((a, b) => b.seq - a.seq);
  }

  render() {
    const shown = this.shown();
    const unseen = shown.filter((a) => !this.store.has(a.seq));
    const worst = unseen.reduce((w, a) => (RANK[severityOf(a)] > RANK[w] ? severityOf(a) : w), "info");
    this.count.textContent = unseen.length > 99 ? "99+" : String(unseen.length);
    this.count.hidden = unseen.length === 0;
    this.count.className = `count sev-${worst}`;
    const label = t("alerts.bell", { n: unseen.length });
    this.bell.setAttribute("aria-label", label);
    this.bell.title = label;
    this.markAllButton.disabled = unseen.length === 0;
    this.list.replaceChildren(...shown.map((a) => this.item(a)));
    const hidden = this.alerts.size - shown.length;
    this.hiddenNote.textContent = shown.length === 0 && hidden === 0 ? t("alerts.none")
      : hidden > 0 ? t("alerts.hidden", { n: hidden }) : "";
    this.hiddenNote.hidden = !this.hiddenNote.textContent;
  }

  item(alert) {
    const seen = this.store.has(alert.seq);
    const severity = severityOf(alert);
    const at = new Date(alert.at);
    const camera = alert.camera ? this.names.get(alert.camera) || alert.camera : t("alerts.gateway");
    return el("li", { class: `alert sev-${severity}${seen ? "" : " unseen"}`,
      dataset: { seq: String(alert.seq), kind: alert.kind, camera: alert.camera || "" } },
    el("div", { class: "alert-head" },
      el("span", { class: `sev sev-${severity}` }, t(SEVERITY[severity])),
      el("span", { class: "cam" }, camera),
      el("time", { datetime: alert.at, title: dateTime(at) }, today(at) ? clock(at) : dateTime(at)),
      seen ? null : el("button", { type: "button", class: "seen", "aria-label": t("alerts.markOneLabel", { text: summaryOf(alert) }),
        onclick: () => this.markOne(alert.seq) }, t("alerts.markOne"))),
    el("p", { class: "text" }, summaryOf(alert)));
  }

  markOne(seq) {
    this.store.mark(seq);
    this.render();
    this.title.focus(); // its button is gone
  }

  markAll() {
    const newest = Math.max(0, ...this.alerts.keys());
    this.store.markAll(newest);
    this.render();
  }

  open() {
    this.panel.hidden = false;
    this.bell.setAttribute("aria-expanded", "true");
    this.title.focus();
  }

  close(focusBell = true) {
    this.panel.hidden = true;
    this.bell.setAttribute("aria-expanded", "false");
    if (focusBell) this.bell.focus();
  }
}
