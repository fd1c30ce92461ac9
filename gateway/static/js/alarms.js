// Camera alarms (tamper, motion, video loss): the `camera-event`s of the page's event stream
// (eventstream.js), JSON {camera, kind, active, at, topic}, over the recent list at the start.
import { token } from "./api.js";

export function normalKind(kind) {
  return String(kind || "").toLowerCase().replace(/[\s-]+/g, "_");
}

// Follows `stream` (an EventStream, not yet started); onChange(camera, Set of active kinds) on
// every change.
export function followAlarms(stream, onChange) {
  const active = new Map();

  function apply(event) {
    if (!event || typeof event.camera !== "string") return;
    const kinds = active.get(event.camera) || new Set();
    const kind = normalKind(event.kind);
    if (event.active) kinds.add(kind); else kinds.delete(kind);
    active.set(event.camera, kinds);
    onChange(event.camera, kinds);
  }

  // The stream sends changes only: alarms already active come from the recent list (newest first).
  stream.before(async () => {
    const res = await fetch("/api/v1/events?limit=500", { headers: { Authorization: `Bearer ${token()}` } });
    if (!res.ok) return;
    const { events = [] } = await res.json();
    const seen = new Set();
    for (const event of [...events].filter((e) => {
      const key = `${e.camera}\n${normalKind(e.kind)}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    }).reverse()) apply(event);
  });
  stream.on("camera-event", apply);
}
