// PTZ on a wall tile: a small "PTZ" button opens a panel over the picture with the camera's
// presets (go to, save the current position), home, and pan/tilt/zoom buttons that move while
// held. The button appears only when GET .../ptz answers 200: a camera without PTZ (409) or a
// role the policy refuses (403) gets no controls. Every continuous move carries a timeout_s, so
// a lost "stop" never leaves the camera moving; a longer hold renews the move before it runs out.
import { getJSON, sendJSON } from "./api.js";
import { t } from "./i18n.js";
import { el } from "./shell.js";

const SPEED = 0.5;
const HOLD_TIMEOUT_S = 2; // the camera stops by itself this long after the last move
const RENEW_MS = 1200; // a held button sends the move again before the timeout runs out
const REPROBE_MS = 30000; // a camera that failed to answer (502, 503) is asked again this much later
const probes = new Map(); // camera id -> {at, answer: Promise<capabilities | null>, final}

const MOVES = [
  { id: "up", key: "ptz.up", symbol: "▲", pan: 0, tilt: SPEED, zoom: 0 },
  { id: "left", key: "ptz.left", symbol: "◀", pan: -SPEED, tilt: 0, zoom: 0 },
  { id: "right", key: "ptz.right", symbol: "▶", pan: SPEED, tilt: 0, zoom: 0 },
  { id: "down", key: "ptz.down", symbol: "▼", pan: 0, tilt: -SPEED, zoom: 0 },
  { id: "zoom-in", key: "ptz.zoomIn", symbol: "+", pan: 0, tilt: 0, zoom: SPEED },
  { id: "zoom-out", key: "ptz.zoomOut", symbol: "−", pan: 0, tilt: 0, zoom: -SPEED },
];

function base(cameraId) { return `/api/v1/cameras/${encodeURIComponent(cameraId)}/ptz`; }

// The capabilities, or null when the camera has no PTZ, this user may not move it (both final
// for the page) or the camera did not answer (asked again after REPROBE_MS).
function probe(cameraId) {
  const known = probes.get(cameraId);
  if (known && (known.final || Date.now() - known.at < REPROBE_MS)) return known.answer;
  const entry = { at: Date.now(), final: true, answer: null };
  entry.answer = getJSON(base(cameraId)).catch((err) => {
    entry.final = [403, 404, 409].includes(err.status);
    return null;
  });
  probes.set(cameraId, entry);
  return entry.answer;
}

export class PtzControl {
  constructor(tile) {
    this.tile = tile;
    this.cameraId = tile.camera.id;
    this.base = base(this.cameraId);
    this.caps = null;
    this.held = null; // the move being held: {move, timer}
    this.queue = Promise.resolve(); // commands go out in order: a stop never overtakes its move
    this.button = el("button", { type: "button", class: "ptz-toggle", hidden: true, "aria-expanded": "false",
      dataset: { i18n: "ptz.button", i18nAttr: "title:ptz.open;aria-label:ptz.open" } });
    this.button.textContent = t("ptz.button");
    this.button.setAttribute("aria-label", t("ptz.open"));
    this.button.setAttribute("title", t("ptz.open"));
    this.button.addEventListener("click", (event) => { event.stopPropagation(); this.toggle(); });
    this.button.addEventListener("dblclick", (event) => event.stopPropagation());
    this.panel = null;
    this.stopNow = () => this.release();
    this.recheck();
  }

  // Ask for the capabilities (cached per page); called again on each camera refresh until known.
  recheck() {
    if (this.caps || this.destroyed || this.checking) return;
    this.checking = true;
    probe(this.cameraId).then((caps) => {
      this.checking = false;
      if (!caps || this.destroyed) return;
      this.caps = caps;
      this.button.hidden = false;
    });
  }

  // The panel, built on first use.
  build() {
    const label = (key) => ({ dataset: { i18n: key } });
    this.message = el("p", { class: "ptz-message", role: "status", "aria-live": "polite" });
    this.position = el("p", { class: "ptz-position note" });
    this.presetList = el("ul", { class: "ptz-presets" });
    this.presetName = el("input", { type: "text", maxlength: "64", class: "ptz-name",
      dataset: { i18nAttr: "placeholder:ptz.presetName;aria-label:ptz.presetName" } });
    const save = el("form", { class: "ptz-save" }, this.presetName,
      el("button", { type: "submit", ...label("ptz.save") }));
    save.addEventListener("submit", (event) => { event.preventDefault(); this.savePreset(); });
    const pad = el("div", { class: "ptz-pad" });
    for (const move of MOVES) {
      const button = el("button", { type: "button", class: `ptz-move ptz-${move.id}`,
        dataset: { move: move.id, i18nAttr: `aria-label:${move.key};title:${move.key}` } }, move.symbol);
      this.bindHold(button, move);
      pad.append(button);
    }
    const home = el("button", { type: "button", class: "ptz-home", ...label("ptz.home") });
    home.hidden = !this.caps?.home;
    home.addEventListener("click", () => this.command("home", () => sendJSON("POST", `${this.base}/home`)));
    pad.append(home);
    const close = el("button", { type: "button", class: "ptz-close", ...label("ptz.close") });
    close.addEventListener("click", () => this.toggle(false));
    this.panel = el("section", { class: "ptz-panel", role: "region", hidden: true,
      dataset: { i18nAttr: "aria-label:ptz.panel" } },
    el("div", { class: "ptz-head" }, el("strong", label("ptz.title")), close),
    pad, this.position,
    el("h3", label("ptz.presets")), this.presetList, save, this.message);
    // The panel is not the tile: its clicks and keys do not toggle full screen or move the focus.
    for (const kind of ["dblclick", "keydown"]) this.panel.addEventListener(kind, (event) => event.stopPropagation());
    this.panel.addEventListener("keydown", (event) => {
      if (event.key === "Escape") { this.toggle(false); this.button.focus(); }
    });
    this.relabel();
    this.tile.element.append(this.panel);
  }

  // Labels of what this module built (i18n.apply relabels the page on a language switch too).
  relabel() {
    if (!this.panel) return;
    for (const node of [this.panel, ...this.panel.querySelectorAll("[data-i18n], [data-i18n-attr]")]) {
      if (node.dataset.i18n) node.textContent = t(node.dataset.i18n);
      for (const pair of (node.dataset.i18nAttr || "").split(";")) {
        const [attr, key] = pair.split(":");
        if (attr && key) node.setAttribute(attr, t(key));
      }
    }
  }

  toggle(open = this.panel?.hidden ?? true) {
    if (!this.caps) return;
    if (!this.panel) this.build();
    this.panel.hidden = !open;
    this.button.setAttribute("aria-expanded", String(open));
    if (open) {
      this.say("");
      this.refresh();
      this.panel.querySelector(".ptz-move")?.focus();
    } else {
      this.release();
    }
  }

  get open() { return !!this.panel && !this.panel.hidden; }

  bindHold(button, move) {
    button.addEventListener("pointerdown", (event) => {
      if (event.button !== 0) return;
      event.preventDefault();
      button.focus();
      this.hold(move, button);
    });
    for (const kind of ["pointerup", "pointerleave", "pointercancel"]) button.addEventListener(kind, this.stopNow);
    button.addEventListener("keydown", (event) => {
      if (event.key !== "Enter" && event.key !== " ") return;
      event.preventDefault();
      if (!event.repeat) this.hold(move, button);
    });
    button.addEventListener("keyup", (event) => {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); this.release(); }
    });
    button.addEventListener("blur", this.stopNow);
  }

  // Start a continuous move (renewed while held, each with its own timeout).
  hold(move, button) {
    if (this.held?.move === move) return;
    this.release();
    const body = { mode: "continuous", pan: move.pan, tilt: move.tilt, zoom: move.zoom, timeout_s: this.timeout() };
    if (!(this.caps.modes || []).includes("continuous")) { this.say(t("ptz.noContinuous"), true); return; }
    const send = () => this.command("move", () => sendJSON("POST", `${this.base}/move`, body), false);
    this.say("");
    button.classList.add("held");
    this.held = { move, button, timer: setInterval(send, RENEW_MS) };
    window.addEventListener("blur", this.stopNow);
    document.addEventListener("visibilitychange", this.stopNow);
    send();
  }

  release() {
    if (!this.held) return;
    clearInterval(this.held.timer);
    this.held.button.classList.remove("held");
    this.held = null;
    window.removeEventListener("blur", this.stopNow);
    document.removeEventListener("visibilitychange", this.stopNow);
    this.command("stop", () => sendJSON("POST", `${this.base}/stop`));
  }

  // timeout_s within the camera's declared range.
  timeout() {
    const [low, high] = this.caps.timeout_s || [0, 0];
    let value = HOLD_TIMEOUT_S;
    if (high > 0) value = Math.min(value, high);
    if (low > 0) value = Math.max(value, low);
    return value;
  }

  // Run one command after the ones before it; show its failure in the panel.
  command(name, run, refresh = true) {
    this.queue = this.queue.then(() => { if (name !== "move") this.say(""); return run(); }).then(() => {
      if (refresh) this.refresh();
    }, (err) => this.failed(err));
    return this.queue;
  }

  failed(err) {
    if (this.held) { clearInterval(this.held.timer); this.held.button.classList.remove("held"); this.held = null; }
    this.say(err.status ? t("ptz.failed", { status: err.status, detail: err.message }) : err.message, true);
    if (err.status === 403) {
      // The policy refuses this user now: no controls for this camera any more.
      this.caps = null;
      probes.set(this.cameraId, { at: Date.now(), final: true, answer: Promise.resolve(null) });
      this.button.hidden = true;
      this.button.setAttribute("aria-expanded", "false");
      if (this.panel) this.panel.hidden = true;
      this.tile.element.focus();
    }
  }

  say(text, error = false) {
    if (!this.message) return;
    this.message.textContent = text;
    this.message.classList.toggle("error", error);
  }

  // Where the camera points, and its presets.
  async refresh() {
    if (!this.open) return;
    try {
      const [info, list] = await Promise.all([getJSON(this.base), getJSON(`${this.base}/presets`)]);
      const s = info.status || {};
      const fmt = (v) => (typeof v === "number" ? v.toFixed(2) : "–");
      this.position.textContent = t("ptz.position", { pan: fmt(s.pan), tilt: fmt(s.tilt), zoom: fmt(s.zoom) });
      this.drawPresets(list.presets || []);
    } catch (err) {
      this.failed(err);
    }
  }

  drawPresets(presets) {
    if (presets.length === 0) {
      this.presetList.replaceChildren(el("li", { class: "note", dataset: { i18n: "ptz.noPresets" } }, t("ptz.noPresets")));
      return;
    }
    this.presetList.replaceChildren(...presets.map((preset) => {
      const go = el("button", { type: "button", class: "ptz-goto", dataset: { token: preset.token, i18n: "ptz.goto" } },
        t("ptz.goto"));
      go.addEventListener("click", () => this.command("goto",
        () => sendJSON("POST", `${this.base}/presets/${encodeURIComponent(preset.token)}/goto`)));
      return el("li", { dataset: { token: preset.token } }, el("span", { class: "ptz-preset-name" }, preset.name || preset.token), go);
    }));
  }

  savePreset() {
    const name = this.presetName.value.trim();
    if (!name) { this.say(t("ptz.nameNeeded"), true); this.presetName.focus(); return; }
    this.command("save", async () => {
      await sendJSON("POST", `${this.base}/presets`, { name });
      this.presetName.value = "";
      this.say(t("ptz.saved", { name }));
    });
  }

  destroy() {
    this.destroyed = true;
    this.release();
  }
}
