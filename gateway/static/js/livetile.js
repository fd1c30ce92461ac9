// One live tile: a camera's video over WHEP with its state from the API. The peer runs only
// while the camera is up and the tile is on screen in a visible tab; a failed peer is retried
// with capped backoff and jitter. A camera that is down turns the tile red with the reason.
// The RTCPeerConnection is reachable as `element.pc`.
import { refused, token } from "./api.js";
import { isDown } from "./camerastate.js";
import { reportButton } from "./incidentdialog.js";
import { has, t } from "./i18n.js";
import { PtzControl } from "./ptz.js";
import { el } from "./shell.js";
import { clock, seconds } from "./timefmt.js";
import { backoff, connect, hangUp } from "./whep.js";

const DISCONNECT_GRACE_MS = 4000; // "disconnected" often heals by itself within a few seconds
const OFF_SCREEN_GRACE_MS = 1500;
const STALL_CHECKS = 4; // refreshes (about 3 s apart) without the video advancing before a restart
const UP = new Set(["online", "degraded"]);
const ALARM_KINDS = ["tamper", "video_loss"];

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
    default: return { badge: "offline", text: reason };
  }
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

export class LiveTile {
  // report: offer "Report" (an incident from this camera, now); operators and supervisors only.
  constructor(camera, { large = false, ptz = false, report = false } = {}) {
    this.camera = camera;
    this.video = el("video", { muted: true, autoplay: true, playsinline: true });
    this.video.muted = true;
    this.badge = el("span", { class: "badge" });
    this.alarms = el("span", { class: "alarms" });
    this.status = el("p", { class: "status" });
    this.announced = null;
    this.name = el("span", { class: "name" });
    this.downReason = el("span", { class: "down-reason" });
    this.downNote = el("div", { class: "down-note", hidden: true },
      el("strong", {}, t("tile.down")), this.downReason);
    this.lastReason = "";
    this.element = el("div", { class: `tile${large ? " large" : ""}`, id: `cam-${camera.id}`, tabindex: "0",
      role: "group", dataset: { camera: camera.id } },
    this.video, this.downNote, el("div", { class: "overlay" }, this.name, this.badge, this.alarms), this.status);
    this.element.tile = this;
    // PTZ controls (the wall): offered only when the camera has PTZ and the policy lets this user move it.
    this.ptz = ptz ? new PtzControl(this) : null;
    const overlay = this.element.querySelector(".overlay");
    if (report) overlay.append(reportButton(() => this.camera));
    if (this.ptz) overlay.append(this.ptz.button);
    this.element.pc = null;
    this.session = null;
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
    return !this.destroyed && this.inView && document.visibilityState === "visible" && UP.has(this.camera.state);
  }

  // polled: false for a state pushed between polls (it is no refresh for the stall check).
  update(camera, { polled = true } = {}) {
    this.camera = camera;
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
    let line = text;
    if (UP.has(cam.state)) {
      if (this.retryAt) {
        line = t("tile.videoRetry", { why: this.peerError, in: seconds(this.retryAt - Date.now()) });
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
  }

  // Start or stop the peer to match what is wanted now.
  sync() {
    if (this.wanted) {
      if (!this.session && !this.opening && !this.retryTimer) this.open();
    } else {
      this.close();
      this.clearRetry();
      if (!UP.has(this.camera.state)) this.attempt = 0;
    }
    this.render();
  }

  async open() {
    this.opening = true;
    this.render();
    try {
      const session = await connect(`/whep/live/${encodeURIComponent(this.camera.id)}`, token(), {
        video: this.video,
        onPeer: (pc) => { this.element.pc = pc; },
      });
      this.opening = false;
      if (!this.wanted) { hangUp(session, token()); this.element.pc = null; this.render(); return; }
      this.session = session;
      this.watch(session.pc);
    } catch (err) {
      this.opening = false;
      this.element.pc = null;
      if (err.status === 401) refused(); // the page signs in again, or a display was revoked
      // A refusal that waiting cannot cure (policy, codec) is shown and retried slowly.
      const permanent = [403, 404, 422].includes(err.status);
      this.fail(err.message || t("tile.videoFailed"), permanent, err.retryAfterMs || 0);
    }
    this.render();
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
    if (!pc || pc.connectionState !== "connected" || this.camera.state !== "online") {
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
    this.ptz?.destroy();
    this.observer.disconnect();
    clearTimeout(this.offScreenTimer);
    this.clearRetry();
    this.close();
    this.element.remove();
  }
}
