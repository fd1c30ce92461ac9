// Playback of recordings over WHEP (POST /whep/playback/{camera}?start=&end=) with a data channel
// labelled "control": client sends {"op": pause|play|seek|speed}, the server reports position,
// gaps, the end and errors. Used by the operators' replay (session token) and by the external
// viewer (disposition token). The RTCPeerConnection is reachable as `element.pc`.
import { apply, t } from "./i18n.js";
import { el } from "./shell.js";
import { Sound } from "./sound.js";
import { dateTime } from "./timefmt.js";
import { connect, hangUp } from "./whep.js";

export const RATES = [0.5, 1, 2, 4, 8];

export class Player {
  // bearer: the token to present; start/end: Date of the window; onRefused(detail) on a 403, or a
  // 401 (a token the gateway did not sign).
  constructor({ camera, label, start, end, bearer, maxRate = 8, onRefused }) {
    Object.assign(this, { camera, start, end, bearer, onRefused });
    this.session = null;
    this.channel = null;
    this.paused = false;
    this.at = start;
    this.video = el("video", { muted: true, autoplay: true, playsinline: true });
    this.video.muted = true;
    this.sound = new Sound(this.video); // the recorded sound, muted at first; 1x only
    this.playButton = el("button", { type: "button", class: "primary", onclick: () => this.toggle() });
    this.stopButton = el("button", { type: "button", dataset: { i18n: "player.stop" }, onclick: () => this.stop() });
    this.speed = el("select", { dataset: { i18nAttr: "aria-label:player.speed;title:player.speed" } },
      ...RATES.filter((r) => r <= maxRate).map((r) => el("option", { value: String(r) }, `${r}×`)));
    this.speed.value = "1";
    this.speed.addEventListener("change", () => this.send({ op: "speed", rate: Number(this.speed.value) }));
    this.seekBar = el("input", { type: "range", min: "0", max: String(Math.max(1, (end - start) / 1000)), step: "1",
      value: "0", dataset: { i18nAttr: "aria-label:player.seek" } });
    this.seekBar.addEventListener("change", () => this.seek(new Date(start.getTime() + Number(this.seekBar.value) * 1000)));
    this.seekBar.addEventListener("input", () => { this.seeking = true; this.showPosition(new Date(start.getTime() + Number(this.seekBar.value) * 1000)); });
    this.position = el("span", { class: "position", "aria-live": "off" });
    this.message = el("p", { class: "message note", role: "status" });
    this.mark = el("div", { class: "watermark", "aria-hidden": "true", hidden: true });
    this.element = el("div", { class: "player", dataset: { camera } },
      el("h3", {}, label || camera),
      el("p", { class: "note" }, t("player.window", { start: dateTime(start), end: dateTime(end) })),
      el("div", { class: "screen" }, this.video, this.mark),
      el("div", { class: "controls" }, this.playButton, this.stopButton,
        el("label", {}, el("span", { dataset: { i18n: "player.speed" } }), this.speed), this.sound.button,
        this.seekBar, this.position),
      this.message);
    this.element.player = this;
    this.element.pc = null;
    this.render();
  }

  render() {
    this.playButton.textContent = t(!this.session || this.ended ? "player.play" : this.paused ? "player.resume" : "player.pause");
    this.stopButton.disabled = !this.session;
    this.speed.disabled = !this.session;
    apply(this.element);
    this.showPosition(this.at);
  }

  showPosition(at) {
    this.position.textContent = at ? dateTime(at) : "";
  }

  say(text, kind = "note") {
    this.message.className = `message ${kind}`;
    this.message.textContent = text;
  }

  async toggle() {
    if (!this.session) { await this.open(this.at && this.at < this.end ? this.at : this.start); return; }
    if (this.ended) { this.ended = false; this.paused = false; await this.seek(this.start); this.send({ op: "play" }); this.render(); return; }
    this.paused = !this.paused;
    this.send({ op: this.paused ? "pause" : "play" });
    this.render();
  }

  async open(from) {
    this.stop();
    this.say(t("player.connecting"));
    this.from = from; // the session's window starts here: seeking before it needs a new session
    const query = new URLSearchParams({ start: from.toISOString(), end: this.end.toISOString() });
    try {
      const session = await connect(`/whep/playback/${encodeURIComponent(this.camera)}?${query}`, this.bearer(), {
        video: this.video, control: true, audio: true, onPeer: (pc) => { this.element.pc = pc; },
      });
      this.session = session;
      this.sound.available(session.audio);
      this.channel = session.channel;
      this.paused = false;
      this.channel.addEventListener("message", (event) => this.onEvent(event.data));
      this.channel.addEventListener("open", () => {
        const rate = Number(this.speed.value);
        if (rate !== 1) this.send({ op: "speed", rate });
      });
      session.pc.addEventListener("connectionstatechange", () => {
        if (["failed", "closed"].includes(session.pc.connectionState) && this.session === session) {
          this.say(t("player.lost"), "error");
          this.stop(false);
        }
      });
      this.say("");
    } catch (err) {
      this.element.pc = null;
      if (err.status === 403 || err.status === 401) {
        this.say(t("player.refused", { detail: err.detail || err.message }), "error");
        this.onRefused?.(err.detail || err.message);
      } else {
        this.say(err.message, "error");
      }
    }
    this.render();
  }

  onEvent(raw) {
    let msg;
    try { msg = JSON.parse(raw); } catch { return; }
    if (msg.event === "position" && msg.at) {
      this.at = new Date(msg.at);
      this.reported = msg; // what the server last said: at, rate, paused
      if (typeof msg.paused === "boolean" && msg.paused !== this.paused && !this.ended) { this.paused = msg.paused; this.render(); }
      if (typeof msg.rate === "number" && document.activeElement !== this.speed) this.speed.value = String(msg.rate);
      if (typeof msg.rate === "number") this.sound.atRate(msg.rate);
      if (!this.seeking) {
        this.seekBar.value = String(Math.round((this.at - this.start) / 1000));
        this.showPosition(this.at);
      }
    } else if (msg.event === "gap") {
      this.say(t("player.gap", { start: dateTime(msg.start), end: dateTime(msg.end), reason: msg.reason || "" }), "warn");
    } else if (msg.event === "end") {
      // The session stays open: Play (or the bar) seeks back in without using another view.
      this.ended = true;
      this.paused = true;
      this.say(t("player.end", { at: dateTime(msg.at) }));
      this.render();
    } else if (msg.event === "error") {
      this.say(msg.detail || t("player.failed"), "error");
    } else if (msg.event === "watermark") {
      // The policy asks for the viewer's name over the picture (drawn here: the video is never transcoded).
      this.mark.textContent = msg.text || "";
      this.mark.hidden = !msg.text;
    } else if (msg.event === "closed") {
      this.say(t("player.closed", { reason: msg.reason || "" }), "error");
      this.stop(false);
    }
  }

  send(op) {
    if (this.channel?.readyState === "open") { this.channel.send(JSON.stringify(op)); return true; }
    return false;
  }

  // Seek within the session if the control channel is up, else start a new session there.
  async seek(to) {
    this.seeking = false;
    this.ended = false;
    this.at = to;
    this.showPosition(to);
    if (to < this.from || !this.send({ op: "seek", to: to.toISOString() })) await this.open(to);
  }

  stop(clearMessage = true) {
    if (this.session) hangUp(this.session, this.bearer());
    this.session = null;
    this.channel = null;
    this.element.pc = null;
    this.sound.available(null);
    this.video.srcObject = null;
    this.paused = false;
    this.ended = false;
    if (clearMessage) this.say("");
    this.render();
  }
}
