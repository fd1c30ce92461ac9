// Signed links for a span of recording: a URL of /get that a player without a sign-in (VLC, a
// browser tab, a <video> element elsewhere) opens for a while (POST /api/v1/links; the gateway
// decides as the operator who made it, again when it is used, and logs both).
import { sendJSON } from "./api.js";
import { t } from "./i18n.js";

// A time-limited link (not one-time): a player may open it more than once while it lasts.
export async function spanLink(camera, start, seconds) {
  const q = new URLSearchParams({ path: camera, start: start.toISOString(), duration: String(seconds) });
  return sendJSON("POST", "/api/v1/links", { url: `/get?${q}` });
}

// Put `text` on the clipboard; false where the browser refuses (an http:// page is no secure
// context), and the caller leaves it selected for Ctrl+C instead.
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false;
  }
}

export function linkNote(made, copied) {
  const until = new Date(made.expires_at).toLocaleTimeString();
  return copied ? t("link.copied", { until }) : t("link.made", { until });
}
