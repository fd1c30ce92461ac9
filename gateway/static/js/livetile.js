// One live tile: a camera's video over WHEP with its state from the API. The peer runs only
// while the camera is up and the tile is on screen in a visible tab; a failed peer is retried
// with capped backoff and jitter. A camera that is down turns the tile red with the reason; a
// stream the gateway will not play (its codec, transcoding off or busy) says why in the middle.
// The RTCPeerConnection is reachable as `element.pc`, the stream it plays as `element.dataset.stream`.
//
// Several nodes: a camera another node ingests is "remote" here, with that node's WHEP URL in
// `live_url`; the tile plays it from there (the bearer token is shared through the database). When
// the polled owner changes (a failover, a handover) the tile closes and reconnects to the new
// owner at once, without waiting for its retry backoff or a reload.
//
// A camera with a sub-stream plays it in a grid and its main stream full screen (and in a large
// tile). Switching opens the other stream's session beside the playing one, with its video under
// the playing video; only once that video has a decoded frame does it take the playing one's
// place (in one task, so the browser never paints a tile without a picture), and the old session
// is closed. If the other stream cannot play, the tile keeps the one it has and says why.
import { refused, token } from "./api.js";
import { isDown } from "./camerastate.js";
import { reportButton } from "./incidentdialog.js";
import { has, t } from "./i18n.js";
import { PtzControl } from "./ptz.js";
import { el } from "./shell.js";
import { snapshotButton } from "./snapshot.js";
import { Sound } from "./sound.js";
import { clock, seconds } from "./timefmt.js";
import { backoff, connect, hangUp } from "./whep.js";

const DISCONNECT_GRACE_MS = 4000; // "disconnected" often heals by itself within a few seconds
const OFF_SCREEN_GRACE_MS = 1500;
const SWITCH_TIMEOUT_MS = 10000; // the other stream's first frame; a camera's GOP is rarely over 4 s
const SWITCH_RETRY_MS = 30000; // a stream that could not play is tried again after this
const STALL_CHECKS = 4; // refreshes (about 3 s apart) without the video advancing before a restart
const UP = new Set(["online", "degraded"]);

// Whether the camera's video can be played now: up here, or ingested by another node that is known.
export function playable(camera) {
  return UP.has(camera.state) || (camera.state === "remote" && !!camera.live_url);
}
const ALARM_KINDS = ["tamper", "video_loss"];

function retryTime(at) { return { time: clock(at), in: seconds(at - Date.now()) }; }

// The badge and the line under it for a camera's state from the API (and, when a retry is
// planned, its time apart as `retry`).
export function describe(camera, now = Date.now()) {
  const retry = camera.next_retry_at ? Date.parse(camera.next_retry_at) : null;
  const reason = camera.reason || "";
  switch (camera.state) {
    case "online": return { badge: "online", text: "" };
    case "degraded":
      return { badge: "degraded", text: (camera.problems || []).map((p) => (has(`problem.${p}`) ? t(`problem.${p}`) : p)).join(", ") || reason };
    case "connecting":
      return camera.attempt > 0
        ? { badge: "reconnecting", text: t("tile.attempt", { n: camera.attempt }) }
        : { badge: "connecting", text: "" };
    case "offline":
      if (retry) {
        const when = { time: clock(retry), in: seconds(retry - now) };
        return { badge: "reconnecting", text: t("tile.nextRetry", { reason, ...when }), retry: when };
      }
      return { badge: "offline", text: reason };
    case "disabled": return { badge: "disabled", text: "" };
    case "remote":
      return camera.node ? { badge: "remote", text: t("tile.onNode", { node: camera.node.id }) }
        : { badge: "connecting", text: t("tile.betweenNodes") };
    default: return { badge: "offline", text: reason };
  }
}

// Why the gateway refused a stream's video, in the viewer's language: the problem body's reason
// code (webrtc/livevideo.py Refusal) and its facts; null for a refusal without a known reason.
export function refusalText(reason, members = {}) {
  const key = `live.${reason}`;
  if (!reason || !has(key)) return null;
  return t(key, { codec: members.codec ?? "?", limit: members.limit ?? "?" });
}

// One polite live region per page says when a camera changes state (the tiles' own countdown
// lines would flood a screen reader every second).
function announce(text) {
  let region = document.getElementById("announce");
  if (!region) {
    region = el("div", { id: "announce", class: "visually-hidden", "aria-live": "polite", role: "status" });
    document.body.append(region);
  }
  region.textContent = text;
}

function videoElement(className = "") {
  const video = el("video", { muted: true, autoplay: true, playsinline: true, ...(className ? { class: className } : {}) });
  video.muted = true;
  return video;
}

// Resolves once `video` has a decoded frame to show (HAVE_CURRENT_DATA and a size); rejects
// after `ms`.
function firstFrame(video, ms) {
  return new Promise((resolve, reject) => {
    const ready = () => video.readyState >= 2 && video.videoWidth > 0;
    if (ready()) { resolve(); return; }
    const events = ["loadeddata", "resize", "playing", "timeupdate"];
    const check = () => { if (ready()) { done(); resolve(); } };
    const timer = setTimeout(() => { done(); reject(new Error(t("tile.noFirstFrame"))); }, ms);
    function done() { clearTimeout(timer); for (const e of events) video.removeEventListener(e, check); }
    for (const e of events) video.addEventListener(e, check);
  });
}

export class LiveTile {
  // report: offer "Report" (an incident from this camera, now); operators and supervisors only.
  // snapshot: offer "Snapshot" (the gateway takes the camera's newest frame; a person, not a wall display).
  // gridStream: what a small tile of a camera with a sub-stream plays, "sub" (default) or "main".
  // onLost: called when the tile's session fails (the page re-reads the cameras: maybe another node has it now).
  constructor(camera, { large = false, ptz = false, report = false, snapshot = false, gridStream = "sub", onLost = null } = {}) {
    this.camera = camera;
    this.onLost = onLost;
    this.large = large;
    this.gridStream = gridStream;
    this.video = videoElement();
    this.badge = el("span", { class: "badge" });
    this.alarms = el("span", { class: "alarms" });
    this.status = el("p", { class: "status" });
    this.announced = null;
    this.name = el("span", { class: "name" });
    this.downReason = el("span", { class: "down-reason" });
    this.downNote = el("div", { class: "down-note", hidden: true },
      el("strong", {}, t("tile.down")), this.downReason);
    this.lastReason = "";
    // The gateway's refusal of this stream's video ({reason, members}) while it stands.
    this.refusal = null;
    this.videoWhy = el("span", { class: "video-why" });
    this.videoNote = el("div", { class: "video-note", hidden: true }, el("strong", {}, t("tile.noVideo")), this.videoWhy);
    this.element = el("div", { class: `tile${large ? " large" : ""}`, id: `cam-${camera.id}`, tabindex: "0",
      role: "group", dataset: { camera: camera.id } },
    this.video, this.downNote, this.videoNote, el("div", { class: "overlay" }, this.name, this.badge, this.alarms),
    this.status);
    this.element.tile = this;
    // PTZ controls (the wall): offered only when the camera has PTZ and the policy lets this user move it.
    this.ptz = ptz ? new PtzControl(this) : null;
    const overlay = this.element.querySelector(".overlay");
    if (report) overlay.append(reportButton(() => this.camera));
    if (snapshot) overlay.append(snapshotButton(() => this.camera));
    if (this.ptz) overlay.append(this.ptz.button);
    // Sound, muted at first; its button shows while the session sends sound.
    this.sound = new Sound(this.video);
    overlay.append(this.sound.button);
    this.element.pc = null;
    this.session = null;
    this.stream = null; // the stream `session` plays: "main" or "sub"
    this.switching = null; // the stream being switched to, while its first frame is awaited
    this.switchFailure = null; // {stream, why, at}: the last switch that failed
    this.onFullscreen = () => this.sync();
    document.addEventListener("fullscreenchange", this.onFullscreen);
    this.attempt = 0;
    this.retryTimer = null;
    this.retryAt = null;
    this.peerError = "";
    this.opening = false;
    this.inView = true;
    this.destroyed = false;
    this.activeAlarms = new Set();
    this.stall = { time: -1, count: 0 };
    this.element.addEventListener("dblclick", () => this.toggleFullscreen());
    this.element.addEventListener("keydown", (event) => {
      if (event.target !== this.element) return;
      if (event.key === "Enter" || event.key === "f") { event.preventDefault(); this.toggleFullscreen(); }
    });
    this.observer = new IntersectionObserver((entries) => {
      this.inView = entries.some((e) => e.isIntersecting);
      clearTimeout(this.offScreenTimer);
      // Off screen for a moment (a scroll, a re-layout) keeps the peer; longer closes it.
      if (this.inView) this.sync(); else this.offScreenTimer = setTimeout(() => this.sync(), OFF_SCREEN_GRACE_MS);
    });
    this.observer.observe(this.element);
    this.render();
  }

  get wanted() {
    return !this.destroyed && this.inView && document.visibilityState === "visible" && playable(this.camera);
  }

  // The stream this tile should play now: the main stream full screen, in a large tile, for a
  // camera without a sub-stream or while its sub-stream is down; else the grid's choice.
  get wantedStream() {
    const sub = this.camera.streams?.sub;
    // A remote camera's streams are parked here: whether its sub-stream is up is the owner's to say.
    if (!this.camera.substream || !sub || (sub.up === false && this.camera.state !== "remote")) return "main";
    if (this.large || document.fullscreenElement === this.element) return "main";
    return this.gridStream === "main" ? "main" : "sub";
  }

  setGridStream(stream) {
    this.gridStream = stream;
    this.sync();
  }

  // polled: false for a state pushed between polls (it is no refresh for the stall check).
  update(camera, { polled = true } = {}) {
    const moved = (camera.live_url ?? null) !== (this.camera.live_url ?? null);
    this.camera = camera;
    if (moved && camera.live_url) {
      // Another node ingests it now: reconnect there at once (the old session, if any, is dead or ending).
      this.close();
      this.clearRetry();
      this.attempt = 0;
    }
    this.ptz?.recheck();
    if (polled) this.checkStall();
    this.render();
    this.sync();
  }

  setAlarms(active) {
    this.activeAlarms = new Set([...active].filter((k) => ALARM_KINDS.includes(k)));
    this.render();
  }

  render() {
    const cam = this.camera;
    const { badge, text, retry } = describe(cam);
    this.name.textContent = cam.name || cam.id;
    this.element.setAttribute("aria-label", `${cam.name || cam.id}: ${t(`state.${badge}`)}`);
    this.badge.className = `badge state-${badge}`;
    this.badge.textContent = t(`state.${badge}`);
    // Rebuilt only when they change (or the language does): each new role=alert node is read out.
    const alarmKey = `${[...this.activeAlarms].sort().join(",")}|${t("alarm.tamper")}`;
    if (alarmKey !== this.alarmKey) {
      this.alarmKey = alarmKey;
      this.alarms.replaceChildren(...[...this.activeAlarms].map((kind) =>
        el("span", { class: "alarm", role: "alert" }, t(`alarm.${kind}`))));
    }
    this.element.classList.toggle("alarmed", this.activeAlarms.size > 0);
    // Down: red, with the reason (kept from the failure while a retry is connecting).
    const down = isDown(cam);
    if (down && cam.state === "offline" && cam.reason) this.lastReason = cam.reason;
    if (!down) this.lastReason = "";
    this.element.classList.toggle("down", down);
    this.downNote.hidden = !down;
    this.downNote.firstChild.textContent = t("tile.down");
    this.downReason.textContent = down ? cam.reason || this.lastReason : "";
    // Up, but its video refused: the reason in the middle of the tile, in the current language.
    const refusedWhy = !down && this.refusal ? refusalText(this.refusal.reason, this.refusal.members) : null;
    this.videoNote.hidden = !refusedWhy;
    this.videoNote.firstChild.textContent = t("tile.noVideo");
    this.videoWhy.textContent = refusedWhy || "";
    this.element.classList.toggle("refused", !!refusedWhy);
    this.element.dataset.refusal = refusedWhy ? this.refusal.reason : "";
    let line = text;
    const failure = this.switchFailure;
    if (playable(cam)) {
      if (failure && this.session && this.stream !== this.wantedStream && failure.stream === this.wantedStream) {
        // The other stream cannot play (the server's reason): this one goes on, and the tile says so.
        line = t(failure.stream === "main" ? "tile.mainUnavailable" : "tile.subUnavailable", { why: failure.why });
      } else if (this.retryAt) {
        line = refusedWhy ? t("tile.retryAt", retryTime(this.retryAt))
          : t("tile.videoRetry", { why: this.peerError, in: seconds(this.retryAt - Date.now()) });
      } else if (this.opening) {
        line = t("tile.videoConnecting");
      } else if (!this.session && (!this.inView || document.visibilityState !== "visible")) {
        line = t("tile.paused");
      }
    }
    // Down: the reason is in the middle of the tile; the line says what comes next.
    if (down) line = retry ? t("tile.retryAt", retry) : line === this.downReason.textContent ? "" : line;
    this.status.textContent = line;
    this.status.hidden = !line;
    if (this.announced !== null && this.announced !== badge) announce(`${cam.name || cam.id}: ${t(`state.${badge}`)}`);
    this.announced = badge;
    this.element.dataset.state = badge;
    this.element.dataset.peer = this.session ? this.session.pc.connectionState : "none";
    this.element.dataset.stream = this.session ? this.stream : "";
  }

  // Start or stop the peer to match what is wanted now.
  sync() {
    if (this.wanted) {
      if (!this.session && !this.opening && !this.retryTimer) this.open();
      else if (this.session && !this.switching && this.stream !== this.wantedStream) this.maybeSwitch();
    } else {
      this.close();
      this.clearRetry();
      if (!playable(this.camera)) this.attempt = 0;
    }
    this.render();
  }

  url(stream) {
    const path = this.camera.live_url || `/whep/live/${encodeURIComponent(this.camera.id)}`;
    return stream === "sub" ? `${path}?stream=sub` : path;
  }

  async open() {
    this.opening = true;
    this.render();
    const stream = this.wantedStream;
    try {
      const session = await connect(this.url(stream), token(), {
        video: this.video,
        audio: true,
        onPeer: (pc) => { this.element.pc = pc; },
      });
      this.opening = false;
      if (!this.wanted) { hangUp(session, token()); this.element.pc = null; this.render(); return; }
      this.session = session;
      this.stream = stream;
      this.refusal = null;
      this.sound.available(session.audio);
      this.watch(session.pc);
      if (this.stream !== this.wantedStream) this.sync(); // full screen began meanwhile
    } catch (err) {
      this.opening = false;
      this.element.pc = null;
      if (err.status === 401) refused(); // the page signs in again, or a display was revoked
      this.refusal = refusalText(err.reason) ? { reason: err.reason, members: err.members } : null;
      // A refusal that waiting cannot cure (policy, codec) is shown and retried slowly.
      const permanent = [403, 404, 422].includes(err.status);
      this.fail(err.message || t("tile.videoFailed"), permanent, err.retryAfterMs || 0);
    }
    this.render();
  }

  // A switch that failed is not tried again for a while (its reason stays on the tile).
  maybeSwitch() {
    const failure = this.switchFailure;
    if (failure && failure.stream === this.wantedStream && Date.now() - failure.at < SWITCH_RETRY_MS) return;
    this.switchTo(this.wantedStream);
  }

  // Play `stream` instead of the current one without a frame of black (see the top of this file).
  async switchTo(stream) {
    this.switching = stream;
    this.render();
    const incoming = videoElement("incoming");
    this.element.insertBefore(incoming, this.video);
    const old = this.session;
    let session = null;
    try {
      session = await connect(this.url(stream), token(), { video: incoming });
      await firstFrame(incoming, SWITCH_TIMEOUT_MS);
      // The tile was closed (and maybe opened again), or the wish changed, while this one started.
      if (!this.wanted || this.wantedStream !== stream || this.session !== old) throw new Error("superseded");
      const oldVideo = this.video;
      // One task: the decoded picture takes the old one's place before the browser paints again.
      incoming.classList.remove("incoming");
      oldVideo.remove();
      this.video = incoming;
      this.session = session;
      this.stream = stream;
      this.element.pc = session.pc;
      this.stall = { time: -1, count: 0 };
      this.switchFailure = null;
      this.watch(session.pc);
      hangUp(old, token());
    } catch (err) {
      incoming.srcObject = null;
      incoming.remove();
      if (session) hangUp(session, token());
      if (err.status === 401) refused();
      // The gateway's reason in the viewer's language where it gives a known one, else its words.
      const why = (refusalText(err.reason, err.members) || err.message || t("tile.videoFailed")).replace(/\.\s*$/, "");
      if (err.message !== "superseded") this.switchFailure = { stream, why, at: Date.now() };
    } finally {
      this.switching = null;
      this.render();
    }
    if (this.stream !== this.wantedStream && !this.switchFailure) this.sync(); // left full screen meanwhile
  }

  watch(pc) {
    let grace = null;
    pc.addEventListener("connectionstatechange", () => {
      if (this.session?.pc !== pc) return;
      clearTimeout(grace);
      if (pc.connectionState === "connected") {
        this.attempt = 0;
        this.peerError = "";
      } else if (pc.connectionState === "failed") {
        this.fail(t("tile.peerFailed"));
      } else if (pc.connectionState === "disconnected") {
        grace = setTimeout(() => {
          if (this.session?.pc === pc && pc.connectionState === "disconnected") this.fail(t("tile.peerLost"));
        }, DISCONNECT_GRACE_MS);
      }
      this.render();
    });
  }

  // A connected peer whose video stopped advancing while the camera is online is restarted.
  checkStall() {
    const pc = this.session?.pc;
    if (!pc || pc.connectionState !== "connected" || !["online", "remote"].includes(this.camera.state)) {
      this.stall = { time: -1, count: 0 };
      return;
    }
    const now = this.video.currentTime;
    this.stall = now === this.stall.time ? { time: now, count: this.stall.count + 1 } : { time: now, count: 0 };
    if (this.stall.count >= STALL_CHECKS) this.fail(t("tile.stalled"));
  }

  // slow: a refusal that waiting will not cure soon; atLeastMs: the server's Retry-After.
  fail(why, slow = false, atLeastMs = 0) {
    if (this.destroyed) return;
    this.close();
    this.onLost?.();
    this.attempt += 1;
    this.peerError = why;
    const delay = Math.max(atLeastMs, backoff(slow ? Math.max(this.attempt, 5) : this.attempt));
    this.clearRetry();
    this.retryAt = Date.now() + delay;
    this.retryTimer = setTimeout(() => { this.clearRetry(); this.sync(); }, delay);
    this.render();
  }

  clearRetry() {
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.retryAt = null;
  }

  close() {
    if (this.session) hangUp(this.session, token());
    this.session = null;
    this.sound.available(null);
    this.stream = null;
    if (!this.opening) this.element.pc = null;
    this.video.srcObject = null; // never leave a frozen last frame looking live
    this.stall = { time: -1, count: 0 };
  }

  toggleFullscreen() {
    if (document.fullscreenElement === this.element) document.exitFullscreen().catch(() => {});
    else this.element.requestFullscreen?.().catch(() => {});
  }

  destroy() {
    this.destroyed = true;
    document.removeEventListener("fullscreenchange", this.onFullscreen);
    this.ptz?.destroy();
    this.observer.disconnect();
    clearTimeout(this.offScreenTimer);
    this.clearRetry();
    this.close();
    this.element.remove();
  }
}
