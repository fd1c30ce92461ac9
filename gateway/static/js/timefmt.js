// Times: UTC (RFC 3339) on the wire, the browser's local time on screen.
import { locale } from "./i18n.js";

export function dateTime(value) {
  if (!value) return "";
  return new Intl.DateTimeFormat(locale(), { dateStyle: "medium", timeStyle: "medium" }).format(new Date(value));
}

export function clock(value) {
  if (!value) return "";
  return new Intl.DateTimeFormat(locale(), { hour: "2-digit", minute: "2-digit", second: "2-digit" })
    .format(new Date(value));
}

// Local midnight of a YYYY-MM-DD day and the next one, as Date objects.
export function dayBounds(day) {
  const [y, m, d] = day.split("-").map(Number);
  return [new Date(y, m - 1, d), new Date(y, m - 1, d + 1)];
}

export function todayISO(now = new Date()) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
}

// A datetime-local input's value (local wall time) and back.
export function toLocalInput(date) {
  const pad = (n) => String(n).padStart(2, "0");
  const d = new Date(date);
  return `${todayISO(d)}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function fromLocalInput(value) {
  return value ? new Date(value) : null;
}

export function seconds(ms) { return Math.max(0, Math.round(ms / 1000)); }

// A length of time as H:MM:SS (or M:SS under an hour): the same in both languages.
export function hms(totalSeconds) {
  const s = Math.max(0, Math.round(Number(totalSeconds) || 0));
  const pad = (n) => String(n).padStart(2, "0");
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}

// "start – end" in local time; an open end says so.
export function span(start, end, openText = "…") {
  return `${dateTime(start)} – ${end ? dateTime(end) : openText}`;
}
