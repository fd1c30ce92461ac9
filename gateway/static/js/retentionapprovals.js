// Shorter camera retentions waiting for a second person (PATCH /api/v1/cameras/{id} asked them):
// a supervisor approves or rejects each with a note. The server's policy decides. The one who asked
// sees their own change with a button to withdraw it instead (they may not decide it).
import { getJSON, sendJSON } from "./api.js";
import { t } from "./i18n.js";
import { el } from "./shell.js";
import { dateTime } from "./timefmt.js";

function card(change, refresh, me) {
  const note = el("textarea", { rows: "2", maxlength: "1000", "aria-label": t("ret.note") });
  const out = el("p", { role: "status" });
  const act = async (verdict) => {
    out.className = ""; out.textContent = "";
    try {
      await sendJSON("POST", `/api/v1/retention-changes/${encodeURIComponent(change.id)}/${verdict}`, { note: note.value });
      await refresh();
    } catch (err) {
      out.className = "error";
      out.textContent = err.message;
    }
  };
  return el("div", { class: "card retention-change", dataset: { change: change.id } },
    el("p", {}, t("ret.change", { camera: change.camera, from: change.from_days, to: change.to_days,
      by: change.requested_by, at: dateTime(change.requested_at) })),
    note,
    ...(change.requested_by === me
      ? [el("button", { type: "button", class: "withdraw", onclick: () => act("withdrawal") }, t("ret.withdraw"))]
      : [el("button", { type: "button", class: "approve", onclick: () => act("approval") }, t("ret.approve")),
        el("button", { type: "button", class: "reject", onclick: () => act("rejection") }, t("ret.reject"))]),
    out);
}

// Fill `node` with the pending shortenings; `refresh` redraws the page after a verdict; `me` is the
// signed-in user's name.
export async function showRetentionChanges(node, refresh, me) {
  const { changes } = await getJSON("/api/v1/retention-changes?state=pending");
  node.replaceChildren(...(changes.length ? changes.map((c) => card(c, refresh, me))
    : [el("p", { class: "note" }, t("ret.none"))]));
}
