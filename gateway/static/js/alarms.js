// Camera alarms (tamper, motion, video loss) from GET /api/v1/events/stream, server-sent events
// with JSON {camera, kind, active, at, topic}. EventSource cannot send a bearer header, so the
// stream is read with fetch. A gateway without the route (404) is left alone.
import { token } from "./api.js";
import { backoff } from "./whep.js";

const PATH = "/api/v1/events/stream";

export function normalKind(kind) {
  return String(kind || "").toLowerCase().replace(/[\s-]+/g, "_");
}

// Parses SSE text; calls onData(dataString) per event; returns the unparsed rest.
export function parseSSE(buffer, onData) {
  const blocks = buffer.split(/\r?\n\r?\n/);
  const rest = blocks.pop();
  for (const block of blocks) {
    const data = block.split(/\r?\n/).filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart());
    if (data.length) onData(data.join("\n"));
  }
  return rest;
}

// Follows the stream; onChange(camera, Set of active kinds) on every change. Returns a stop function.
export function followAlarms(onChange) {
  const active = new Map();
  const controller = new AbortController();
  let attempt = 0;
  let stopped = false;

  function apply(event) {
    if (!event || typeof event.camera !== "string") return;
    const kinds = active.get(event.camera) || new Set();
    const kind = normalKind(event.kind);
    if (event.active) kinds.add(kind); else kinds.delete(kind);
    active.set(event.camera, kinds);
    onChange(event.camera, kinds);
  }

  // The stream sends changes only: alarms already active come from the recent list (newest first).
  async function seed() {
    const res = await fetch("/api/v1/events?limit=500", { headers: { Authorization: `Bearer ${token()}` } });
    if (!res.ok) return res.status !== 404;
    const { events = [] } = await res.json();
    const seen = new Set();
    for (const event of [...events].filter((e) => {
      const key = `${e.camera}\n${normalKind(e.kind)}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    }).reverse()) apply(event);
    return true;
  }

  async function run() {
    try { if (!(await seed())) return; } catch { /* the stream may still work */ }
    while (!stopped) {
      try {
        const res = await fetch(PATH, {
          headers: { Authorization: `Bearer ${token()}`, Accept: "text/event-stream" }, signal: controller.signal,
        });
        if (res.status === 404 || res.status === 405) return; // no alarm stream on this gateway
        if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
        attempt = 0;
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer = parseSSE(buffer + value, (data) => {
            try { apply(JSON.parse(data)); } catch { /* not an alarm */ }
          });
        }
      } catch (err) {
        if (stopped) return;
      }
      attempt += 1;
      await new Promise((resolve) => setTimeout(resolve, backoff(attempt, 2000, 60000)));
    }
  }

  run();
  return () => { stopped = true; controller.abort(); };
}
