// What the desk pages (check, patrol, shift) show for a stored record: when, its SHA-256 and its
// PDF; or why it was not stored, with the way to the shift page when no shift is open (409).
import { ApiError } from "./api.js";
import { t } from "./i18n.js";
import { pdfLink } from "./pdf.js";
import { el } from "./shell.js";
import { dateTime } from "./timefmt.js";

export const SHIFT_PAGE = "/static/shift.html";

export function digest(sha256) {
  return el("code", { class: "sha", title: "SHA-256" }, sha256 || "");
}

// `key` (and `vars`): the line above the details ("Check stored"); `path`: the record's PDF
// (without query). Relabelled when the language changes, while it is on the page.
// asStored: the PDF link is the stored one (an accepted handover's, in the room's language).
export function storedNote(key, vars, at, sha256, path, name, { asStored = false } = {}) {
  const node = el("div", { class: "stored ok", dataset: { sha256: sha256 || "" } });
  const draw = () => node.replaceChildren(
    el("p", {}, el("strong", {}, t(key, vars)), " ", dateTime(at)),
    el("p", {}, "SHA-256: ", digest(sha256)),
    el("p", {}, asStored ? pdfLink(path, name, t("desk.pdfAccepted"), { asStored }) : pdfLink(path, name)));
  const relabel = () => { if (node.isConnected) draw(); else document.removeEventListener("pantau:lang", relabel); };
  document.addEventListener("pantau:lang", relabel);
  draw();
  return node;
}

// The error of a failed save, for a role=alert region. 409: nobody saves without an open shift.
// newTab: the page holds unsaved work (a patrol), so the shift page opens beside it.
export function failureNote(err, { newTab = false } = {}) {
  if (err instanceof ApiError && err.status === 409) {
    return el("p", { class: "error" }, t("desk.signOnFirst"), " ",
      el("a", { href: SHIFT_PAGE, class: "to-shift", target: newTab ? "_blank" : null, rel: newTab ? "noopener" : null },
        t("desk.toShift")),
      err.detail ? el("span", { class: "note" }, ` (${err.detail})`) : null);
  }
  return el("p", { class: "error" }, t("desk.notSaved", { detail: err.message }));
}
