// The pictures the gateway kept of an incident's cameras when it was raised (snapshot_taken in the
// timeline): each shown on request, fetched with the session (an <img src> carries no bearer
// token), with its SHA-256 as the timeline recorded it.
import { problem, request } from "./api.js";
import { t } from "./i18n.js";
import { el } from "./shell.js";
import { digest } from "./deskrecord.js";

// c: the case; names: camera id -> name. Null when no picture was kept.
export function casePictures(c, names) {
  const taken = (c.timeline || []).filter((e) => e.kind === "snapshot_taken")
    .flatMap((e) => e.content?.snapshots || []);
  if (!taken.length) return null;
  return el("ul", { class: "case-pictures" }, ...taken.map((shot) => {
    const holder = el("div", { class: "case-picture" });
    const error = el("span", { class: "error", role: "alert" });
    const button = el("button", { type: "button", class: "show-picture", dataset: { camera: shot.camera },
      onclick: async () => {
        button.disabled = true;
        error.textContent = "";
        try {
          // A snapshot attached later (from a live tile or a replay) is read as the snapshot it is.
          const res = await request(shot.snapshot_id
            ? `/api/v1/snapshots/${encodeURIComponent(shot.snapshot_id)}`
            : `/api/v1/cases/${encodeURIComponent(c.id)}/snapshots/${encodeURIComponent(shot.camera)}.jpg`);
          if (!res.ok) throw await problem(res);
          const url = URL.createObjectURL(await res.blob());
          const img = el("img", { src: url, alt: t("cases.pictureOf", { camera: names.get(shot.camera) || shot.camera }) });
          img.addEventListener("load", () => URL.revokeObjectURL(url), { once: true });
          holder.replaceChildren(img);
          button.hidden = true;
        } catch (err) {
          button.disabled = false;
          error.textContent = err.message;
        }
      } }, t("cases.showPicture"));
    return el("li", { dataset: { camera: shot.camera, snapshot: shot.snapshot_id } },
      `${names.get(shot.camera) || shot.camera} · SHA-256 `, digest(shot.sha256), " ", button, error, holder);
  }));
}
