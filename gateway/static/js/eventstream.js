// The gateway's live stream, GET /api/v1/events/stream (server-sent events) with three event types:
// `camera-event` (ONVIF alarms, {camera, kind, active, at, topic, initial}), `alert` (an alert with its
// seq as the event id) and `export` (an export job's JSON as it changes, jobs the caller may read). EventSource cannot send a bearer header, so the stream is read with fetch;
// for the same reason the browser does not resend the last id by itself, so every reconnect sends
// the last alert seq as Last-Event-ID and the gateway replays what was missed from its outbox.
// A gateway without the route (404) is left alone.
import { refused, token } from "./api.js";
import { backoff } from "./whep.js";

const PATH = "/api/v1/events/stream";
// The gateway writes a keepalive every 15 s: this long without a byte means the connection died
// without closing (a NAT or proxy dropped it), and it is replaced.
const QUIET_MS = 45000;

// Parses SSE text (the event-stream format: `field: value` lines, a blank line ends an event,
// `:` starts a comment); calls onEvent({event, data, id}) for each event with data (`event`
// defaults to "message", `id` to null) and returns the unparsed rest.
export function parseSSE(buffer, onEvent) {
  const blocks = buffer.split(/\r?\n\r?\n/);
  const rest = blocks.pop();
  for (const block of blocks) {
    let event = "message";
    let id = null;
    const data = [];
    for (const line of block.split(/\r?\n/)) {
      if (!line || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") event = value || "message";
      else if (field === "data") data.push(value);
      else if (field === "id" && !value.includes("\0")) id = value;
    }
    if (data.length) onEvent({ event, data: data.join("\n"), id });
  }
  return rest;
}

// One connection per page, shared by whoever listens: on(type, handler) for "camera-event",
// "alert", "export" (handlers get the parsed JSON) and "state" (true while connected). Work registered with
// before() (seeding from the lists) runs before the first connect, so no change falls between a
// list and the stream.
export class EventStream {
  constructor(query = "") {
    this.path = query ? `${PATH}?${query}` : PATH;
    this.handlers = new Map();
    this.seeds = [];
    this.connection = null; // the current request's AbortController
    this.wake = null; // ends the wait before the next attempt
    this.heardAt = 0;
    this.stopped = false;
    this.suspended = false; // the page is hidden in the back-forward cache
    this.connected = false;
    // The last alert seq received (or the list's last_seq): sent as Last-Event-ID.
    this.lastAlertSeq = null;
  }

  on(type, handler) {
    if (!this.handlers.has(type)) this.handlers.set(type, []);
    this.handlers.get(type).push(handler);
    return this;
  }

  before(seed) {
    this.seeds.push(seed);
    return this;
  }

  // An alert seq already known (from GET /api/v1/alerts): the stream resumes after the highest.
  seen(seq) {
    if (Number.isSafeInteger(seq) && seq >= 0) this.lastAlertSeq = Math.max(this.lastAlertSeq ?? 0, seq);
  }

  // A listener's mistake is reported, not allowed to drop the connection.
  emit(type, value) {
    for (const handler of this.handlers.get(type) || []) {
      try { handler(value); } catch (err) { reportError(err); }
    }
  }

  dispatch({ event, data, id }) {
    let body;
    try { body = JSON.parse(data); } catch { return; } // not ours
    if (event === "alert" && id !== null && /^\d+$/.test(id)) this.seen(Number(id));
    if (event === "alert" || event === "camera-event" || event === "export") this.emit(event, body);
  }

  setConnected(connected) {
    if (connected === this.connected) return;
    this.connected = connected;
    this.emit("state", connected);
  }

  start() {
    this.run();
    const watchdog = setInterval(() => {
      if (this.connected && Date.now() - this.heardAt > QUIET_MS) this.drop();
    }, 5000);
    // Back on the network: try now rather than at the end of the backoff.
    const online = () => this.wake?.();
    window.addEventListener("online", online);
    // A page left for another may stay in the back-forward cache with its requests open, and the
    // browser allows six connections to the gateway: a left page lets go of its stream, and takes
    // it up again (resuming after the last alert) if it is shown again.
    const hide = () => { this.suspended = true; this.drop(); };
    const show = () => { if (!this.suspended) return; this.suspended = false; this.wake?.(); };
    window.addEventListener("pagehide", hide);
    window.addEventListener("pageshow", show);
    this.stopTimers = () => {
      clearInterval(watchdog);
      window.removeEventListener("online", online);
      window.removeEventListener("pagehide", hide);
      window.removeEventListener("pageshow", show);
    };
    return () => this.stop();
  }

  // Ends the current connection; the stream reconnects (sending Last-Event-ID).
  drop() {
    this.connection?.abort();
  }

  stop() {
    this.stopped = true;
    this.stopTimers?.();
    this.drop();
    this.wake?.();
  }

  async run() {
    await Promise.allSettled(this.seeds.map((seed) => seed()));
    let attempt = 0;
    while (!this.stopped) {
      if (this.suspended) {
        await new Promise((resolve) => { this.wake = resolve; });
        this.wake = null;
        continue;
      }
      const connection = new AbortController();
      this.connection = connection;
      try {
        const headers = { Authorization: `Bearer ${token()}`, Accept: "text/event-stream" };
        if (this.lastAlertSeq !== null) headers["Last-Event-ID"] = String(this.lastAlertSeq);
        const res = await fetch(this.path, { headers, cache: "no-store", signal: connection.signal });
        if (res.status === 404 || res.status === 405) return; // no event stream on this gateway
        if (res.status === 401) { refused(); return; } // signed out, expired, or a revoked display
        if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
        attempt = 0;
        this.heardAt = Date.now();
        this.setConnected(true);
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          this.heardAt = Date.now();
          buffer = parseSSE(buffer + value, (event) => this.dispatch(event));
        }
      } catch {
        // refused, cut, or dropped: try again below
      }
      if (this.stopped) return;
      this.setConnected(false);
      if (this.suspended) continue;
      attempt += 1;
      await new Promise((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, backoff(attempt, 2000, 60000));
      });
      this.wake = null;
    }
  }
}
