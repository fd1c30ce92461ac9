// Replay together: 2-9 cameras in a grid, one WHEP playback each, all in one playback group
// (`?group=`, a random id), so the gateway paces them by one clock. One control bar drives them:
// its commands go on the first member's "control" channel and the gateway applies them to every
// member. Each tile shows its camera, the moment it shows and its drift from the group's clock.
// Keyboard on the bar and tiles: Space pauses or plays, Left/Right move 10 s.
import { apply, t } from "./i18n.js";
import { RATES } from "./player.js";
import { el } from "./shell.js";
import { clock, dateTime, fromLocalInput, toLocalInput } from "./timefmt.js";
import { connect, hangUp } from "./whep.js";

export const MIN_CAMERAS = 2;
export const MAX_CAMERAS = 9;
const STEP_MS = 10000;
const SPEEDS = RATES.filter((r) => r <= 4); // 0.5, 1, 2, 4

// 128 random bits, URL-safe: the group id the gateway wants (8-64 of A-Za-z0-9_-).
export function groupId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

class Tile {
  constructor(camera, name) {
    this.camera = camera;
    this.session = null;
    this.at = null;     // the moment of the last frame this member sent, as last reported
    this.clock = null;  // where the group's clock was when it said so
    this.received = 0;  // performance.now() of that report
    this.rate = 0;      // 0 while paused
    this.video = el("video", { muted: true, autoplay: true, playsinline: true });
    this.video.muted = true;
    this.position = el("span", { class: "position" });
    this.drift = el("span", { class: "drift" });
    this.element = el("figure", { class: "sync-tile", dataset: { camera } }, this.video,
      el("figcaption", {}, el("strong", {}, name), this.position, this.drift));
  }

  // Where the tile is now: its last report carried forward (each member reports about once a
  // second, each at its own moment), so tiles in step read the same.
  now() {
    return this.at ? new Date(this.at.getTime() + this.rate * (performance.now() - this.received)) : null;
  }

  show() {
    const at = this.now();
    // Tenths: tiles a frame apart would otherwise read a second apart at a second's turn.
    this.position.textContent = at ? `${clock(at)}.${Math.floor(at.getMilliseconds() / 100)}` : t("sync.waiting");
    const drift = this.at && this.clock ? Math.round(this.at - this.clock) : null;
    this.drift.textContent = drift === null ? "" : t("sync.drift", { ms: drift > 0 ? `+${drift}` : String(drift) });
    this.element.classList.toggle("late", drift !== null && Math.abs(drift) > 200);
  }
}

export class SyncReplay {
  // cameras: [{id, name}]; bearer(): the token; span(): [start, end] Dates of the replayable day
  // (null before one is shown); from(): the moment to start at.
  constructor({ cameras, bearer, span, from }) {
    Object.assign(this, { bearer, span, from });
    this.tiles = [];
    this.paused = false;
    this.rate = 1;
    this.boxes = cameras.map((c) => el("input", { type: "checkbox", value: c.id, dataset: { name: c.name || c.id } }));
    this.boxes.forEach((box) => box.addEventListener("change", () => this.render()));
    this.startButton = el("button", { type: "button", class: "primary", dataset: { i18n: "sync.start" },
      onclick: () => this.open() });
    this.stopButton = el("button", { type: "button", dataset: { i18n: "sync.stop" }, onclick: () => this.stop() });
    this.playButton = el("button", { type: "button", class: "primary", onclick: () => this.toggle() });
    this.speed = el("select", { dataset: { i18nAttr: "aria-label:player.speed;title:player.speed" } },
      ...SPEEDS.map((r) => el("option", { value: String(r) }, `${r}×`)));
    this.speed.value = "1";
    this.speed.addEventListener("change", () => this.send({ op: "speed", rate: Number(this.speed.value) }));
    this.timeInput = el("input", { type: "datetime-local", step: "1", dataset: { i18nAttr: "aria-label:sync.time" } });
    this.timeInput.addEventListener("keydown", (event) => {
      if (event.key === "Enter") { event.preventDefault(); this.seekField(); }
      event.stopPropagation(); // typing a time is not a shortcut
    });
    this.goButton = el("button", { type: "button", dataset: { i18n: "sync.goto" }, onclick: () => this.seekField() });
    this.status = el("p", { class: "note", role: "status", "aria-live": "polite" });
    // Focusable, so the shortcuts work with the pictures in focus.
    this.grid = el("div", { class: "sync-grid", tabindex: "0", dataset: { i18nAttr: "aria-label:sync.title" } });
    this.bar = el("div", { class: "controls sync-bar", hidden: true }, this.playButton, this.stopButton,
      el("label", {}, el("span", { dataset: { i18n: "player.speed" } }), this.speed),
      el("label", {}, el("span", { dataset: { i18n: "sync.time" } }), this.timeInput), this.goButton);
    this.element = el("details", { class: "sync-replay" },
      el("summary", { dataset: { i18n: "sync.title" } }),
      el("fieldset", {}, el("legend", { dataset: { i18n: "sync.pick" } }),
        ...this.boxes.map((box) => el("label", { class: "check" }, box, ` ${box.dataset.name}`))),
      el("div", { class: "toolbar" }, this.startButton),
      el("p", { class: "note", dataset: { i18n: "sync.keys" } }),
      this.bar, this.status, this.grid);
    this.element.addEventListener("keydown", (event) => this.key(event));
    this.element.syncReplay = this; // for tests and the console
    this.render();
  }

  get active() { return this.tiles.length > 0; }

  picked() { return this.boxes.filter((b) => b.checked); }

  render() {
    const n = this.picked().length;
    this.startButton.disabled = n < MIN_CAMERAS || n > MAX_CAMERAS;
    if (!this.active) this.say(t("sync.count", { n, min: MIN_CAMERAS, max: MAX_CAMERAS }));
    this.bar.hidden = !this.active;
    this.playButton.textContent = t(this.paused ? "player.resume" : "player.pause");
    this.tiles.forEach((tile) => tile.show());
    apply(this.element);
  }

  say(text, kind = "note") {
    this.status.className = kind;
    this.status.textContent = text;
  }

  // One session per ticked camera, one after another (the first makes the group), all from `at`.
  async open(at = this.from()) {
    const span = this.span();
    if (!span || !at) return;
    this.stop();
    const [start, end] = span;
    const group = groupId();
    this.paused = false;
    this.rate = 1;
    this.speed.value = "1";
    this.tiles = this.picked().map((box) => new Tile(box.value, box.dataset.name));
    this.grid.className = `sync-grid n${this.tiles.length}`;
    this.grid.replaceChildren(...this.tiles.map((tile) => tile.element));
    this.say(t("player.connecting"));
    this.render();
    clearInterval(this.ticker);
    this.ticker = setInterval(() => this.tick(), 250);
    const query = new URLSearchParams({ start: start.toISOString(), end: end.toISOString(), group });
    const tiles = this.tiles;
    for (const tile of tiles) {
      try {
        tile.session = await connect(`/whep/playback/${encodeURIComponent(tile.camera)}?${query}`, this.bearer(),
          { video: tile.video, control: true });
      } catch (err) {
        this.say(t("sync.failed", { camera: tile.camera, detail: err.detail || err.message }), "error");
        continue;
      }
      if (this.tiles !== tiles) { hangUp(tile.session, this.bearer()); return; } // stopped meanwhile
      tile.session.channel.addEventListener("message", (event) => this.onEvent(tile, event.data));
      if (tile === tiles[0]) {
        tile.session.channel.addEventListener("open", () => {
          if (at > start) this.send({ op: "seek", to: at.toISOString() });
        });
      }
    }
    if (!this.status.classList.contains("error")) this.say("");
    this.element.open = true;
  }

  onEvent(tile, raw) {
    let msg;
    try { msg = JSON.parse(raw); } catch { return; }
    if (msg.event === "position" && msg.at) {
      tile.at = new Date(msg.at);
      tile.clock = msg.clock ? new Date(msg.clock) : null;
      tile.received = performance.now();
      tile.rate = msg.paused || msg.held ? 0 : Number(msg.rate) || 0;
      if (typeof msg.paused === "boolean") this.paused = msg.paused;
      if (typeof msg.rate === "number") {
        this.rate = msg.rate;
        if (document.activeElement !== this.speed) this.speed.value = String(msg.rate);
      }
      this.render();
      this.showSpread();
    } else if (msg.event === "error") {
      this.say(msg.detail || t("player.failed"), "error");
    } else if (msg.event === "closed") {
      this.say(t("player.closed", { reason: msg.reason || "" }), "error");
    } else if (msg.event === "end") {
      this.say(t("sync.end", { camera: tile.camera, at: dateTime(msg.at) }));
    }
  }

  // Tiles and the time field follow the clock between reports.
  tick() {
    this.tiles.forEach((tile) => tile.show());
    const at = this.lead()?.now();
    if (at && document.activeElement !== this.timeInput) this.timeInput.value = toLocalInput(at);
  }

  // How far apart the tiles are: the reports of the last two seconds, carried to one instant.
  showSpread() {
    const fresh = this.tiles.filter((tile) => tile.clock && tile.at);
    if (fresh.length < 2 || this.status.classList.contains("error")) return;
    const drifts = fresh.map((tile) => tile.at - tile.clock);
    this.say(t("sync.spread", { ms: Math.round(Math.max(...drifts) - Math.min(...drifts)), n: fresh.length }));
  }

  lead() { return this.tiles.find((tile) => tile.session?.channel?.readyState === "open"); }

  // Commands go on one member's channel; the gateway applies them to the whole group.
  send(op) {
    const channel = this.lead()?.session.channel;
    if (!channel) return false;
    channel.send(JSON.stringify(op));
    return true;
  }

  toggle() {
    if (!this.active) return;
    this.paused = !this.paused;
    this.send({ op: this.paused ? "pause" : "play" });
    this.render();
  }

  seek(at) {
    if (!this.active || !at) return;
    this.timeInput.value = toLocalInput(at);
    this.send({ op: "seek", to: at.toISOString() });
  }

  seekField() {
    const at = fromLocalInput(this.timeInput.value);
    if (at) this.seek(at);
  }

  now() {
    const lead = this.lead();
    return lead?.clock ?? lead?.at ?? null;
  }

  key(event) {
    // Controls keep their own keys (Space presses a button, arrows change a select).
    if (!this.active || ["INPUT", "SELECT", "TEXTAREA", "BUTTON", "SUMMARY"].includes(event.target.tagName)) return;
    if (event.key === " ") {
      event.preventDefault();
      this.toggle();
    } else if (event.key === "ArrowLeft" || event.key === "ArrowRight") {
      const now = this.now();
      if (!now) return;
      event.preventDefault();
      this.seek(new Date(now.getTime() + (event.key === "ArrowLeft" ? -STEP_MS : STEP_MS)));
    }
  }

  stop() {
    for (const tile of this.tiles) hangUp(tile.session, this.bearer());
    this.tiles = [];
    clearInterval(this.ticker);
    this.grid.replaceChildren();
    this.paused = false;
    this.render();
  }
}
