// Export jobs as the pages show them (the contract of /api/v1/exports): the state's words, the
// progress bar with its text, and the download. A download needs the caller's bearer, which a
// plain link cannot send: the page asks for a short-lived signed link (POST /api/v1/links) and the
// browser saves from it; a gateway without signed links gets the zip through fetch instead.
import { problem, request } from "./api.js";
import { t } from "./i18n.js";
import { el } from "./shell.js";
import { dateTime, hms } from "./timefmt.js";

export const STATES = ["queued", "running", "done", "failed", "cancelled", "expired"];
export const ACTIVE = new Set(["queued", "running"]);
const STATE_KEYS = {
  queued: "exp.queued", running: "exp.running", done: "exp.done", failed: "exp.failed",
  cancelled: "exp.cancelled", expired: "exp.expired",
};
const FORMAT_KEYS = { bundle: "exp.formatBundle", mp4: "exp.formatVideo" };
// A signed link lives this long: long enough to start the download, not to be passed around.
const LINK_TTL_S = 300;

export function stateText(state) { return STATE_KEYS[state] ? t(STATE_KEYS[state]) : state; }

export function formatText(format) { return FORMAT_KEYS[format] ? t(FORMAT_KEYS[format]) : format; }

export function megabytes(bytes) { return (Number(bytes || 0) / 1e6).toFixed(1); }

// 0..1 from the job's progress (the gateway's fraction, else segments, else bytes).
export function fraction(job) {
  const p = job.progress || {};
  if (job.state === "done") return 1;
  if (Number.isFinite(p.fraction)) return Math.min(1, Math.max(0, p.fraction));
  if (p.segments_total) return Math.min(1, (p.segments_done || 0) / p.segments_total);
  if (p.bytes_total) return Math.min(1, (p.bytes_done || 0) / p.bytes_total);
  return 0;
}

// What the bar says: percent, segments, megabytes and the time left while it runs.
export function progressText(job) {
  const p = job.progress || {};
  const parts = [`${Math.floor(fraction(job) * 100)} %`];
  if (p.segments_total) parts.push(t("exp.segments", { done: p.segments_done || 0, total: p.segments_total }));
  if (p.bytes_total) parts.push(t("exp.megabytes", { done: megabytes(p.bytes_done), total: megabytes(p.bytes_total) }));
  if (job.state === "running" && Number.isFinite(p.eta_s) && p.eta_s !== null) parts.push(t("exp.eta", { left: hms(p.eta_s) }));
  return parts.join(" · ");
}

// The bar and its text for `job`; update(job) redraws them in place (no focus or scroll lost).
export function progressBar(job) {
  const bar = el("progress", { max: "1", class: "exp-bar" });
  const text = el("span", { class: "exp-progress-text note" });
  const node = el("div", { class: "exp-progress" }, bar, text);
  node.update = (next) => {
    bar.value = fraction(next);
    bar.setAttribute("aria-label", t("exp.progress"));
    bar.setAttribute("aria-valuetext", progressText(next));
    text.textContent = progressText(next);
  };
  node.update(job);
  return node;
}

// The window as local times.
export function windowText(job) { return `${dateTime(job.start)} – ${dateTime(job.end)}`; }

// Saves what `url` (same origin) answers as `name`; the page stays where it is, even when the
// gateway refuses (the browser's downloads list says so).
function save(url, name) {
  const a = el("a", { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
}

// Downloads a done job's zip with `bearer` (a session's or a disposition token; undefined: the
// signed-in session). Throws ApiError with the gateway's words when it refuses.
export async function download(job, bearer = undefined) {
  const path = job.result?.download || `/api/v1/exports/${encodeURIComponent(job.id)}/download`;
  const res = await request("/api/v1/links", {
    method: "POST", token: bearer, json: { url: path, once: true, ttl_s: LINK_TTL_S },
  });
  const name = job.result?.name || `export-${job.id}.zip`;
  if (res.ok) {
    save((await res.json()).url, name);
    return;
  }
  if (res.status !== 404 && res.status !== 405) throw await problem(res);
  // No signed links on this gateway: fetch with the bearer and save what came.
  const zip = await request(path, { token: bearer });
  if (!zip.ok) throw await problem(zip);
  const blob = URL.createObjectURL(await zip.blob());
  save(blob, name);
  setTimeout(() => URL.revokeObjectURL(blob), 60000);
}
