// A record's printed PDF (check, patrol, handover). A plain link would carry no bearer token, so
// the click fetches the file with the session and saves it; the href keeps the real address (for
// "copy link" and for tests). The language is the page's at the moment of the click.
import { problem, request } from "./api.js";
import { lang, t } from "./i18n.js";
import { el } from "./shell.js";

const KEEP_URL_MS = 60_000; // the object URL outlives the download's start

// language null: no choice, the room's (desk.language), in which an accepted handover's PDF is the
// very file stored at acceptance, byte for byte.
export function pdfPath(path, language = lang()) {
  return language === null ? path : `${path}?lang=${encodeURIComponent(language)}`;
}

// `path` without the query, e.g. /api/v1/checks/ID/pdf; `name`: the saved file's name;
// asStored: the room's language (see pdfPath), not the page's.
export function pdfLink(path, name, label = t("desk.pdf"), { asStored = false } = {}) {
  const pick = () => pdfPath(path, asStored ? null : lang());
  const error = el("span", { class: "error", role: "alert" });
  const link = el("a", { href: pick(), class: asStored ? "pdf stored-pdf" : "pdf", download: name, dataset: { pdf: path } }, label);
  link.addEventListener("click", async (event) => {
    event.preventDefault();
    error.textContent = "";
    link.href = pick();
    try {
      const res = await request(link.href);
      if (!res.ok) throw await problem(res);
      const url = URL.createObjectURL(await res.blob());
      el("a", { href: url, download: name }).click();
      setTimeout(() => URL.revokeObjectURL(url), KEEP_URL_MS);
    } catch (err) {
      error.textContent = err.message;
    }
  });
  return el("span", { class: "pdf-link" }, link, " ", error);
}
