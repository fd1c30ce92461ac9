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
