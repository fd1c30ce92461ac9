// A snapshot taken by the gateway (POST /api/v1/cameras/{id}/snapshots): from the live stream, or
// from the recording at a moment (a paused replay). The JPEG is downloaded at once (fetched with the
// session: a link carries no bearer), shown small with its SHA-256, and can be attached to an open
// case. A refusal (this role may not replay that far back) is shown in the gateway's words.
import { OPEN_STATES } from "./casewords.js";
import { getJSON, problem, request, sendJSON } from "./api.js";
import { t } from "./i18n.js";
import { el } from "./shell.js";
import { dateTime } from "./timefmt.js";

function download(url, name) {
  const a = el("a", { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
}

async function attachControls(shot, say) {
  let cases = [];
  try {
    cases = (await getJSON("/api/v1/cases?state=open")).cases || [];
  } catch {
    return null;  // a role that reads no cases attaches none
  }
  const open = cases.filter((c) => OPEN_STATES.has(c.state));
  if (!open.length) return el("span", { class: "note" }, t("snap.noCases"));
  const select = el("select", { class: "snap-case", dataset: { i18nAttr: "aria-label:snap.case" } },
    ...open.map((c) => el("option", { value: c.id }, `${c.number || c.id} · ${c.title || ""}`)));
  select.setAttribute("aria-label", t("snap.case"));
  const button = el("button", { type: "button", class: "snap-attach", onclick: async () => {
    button.disabled = true;
    try {
      await sendJSON("POST", `/api/v1/cases/${encodeURIComponent(select.value)}/snapshots`, { snapshot_id: shot.id });
      say(t("snap.attached", { case: select.selectedOptions[0]?.textContent || select.value }));
    } catch (err) {
      button.disabled = false;
      say(err.message, "error");
    }
  } }, t("snap.attach"));
  return el("span", { class: "snap-attach-row" }, select, " ", button);
}

// camera: id; at: a Date (recorded) or null (live); into: the element the result replaces.
export async function takeSnapshot(camera, at, into) {
  const status = el("p", { class: "note", role: "status" }, t("snap.taking"));
  into.replaceChildren(status);
  const say = (text, kind = "note") => { status.className = kind; status.setAttribute("role", kind === "error" ? "alert" : "status"); status.textContent = text; };
  try {
    const shot = await sendJSON("POST", `/api/v1/cameras/${encodeURIComponent(camera)}/snapshots`,
      at ? { at: at.toISOString() } : {});
    const res = await request(`/api/v1/snapshots/${encodeURIComponent(shot.id)}`);
    if (!res.ok) throw await problem(res);
    const url = URL.createObjectURL(await res.blob());
    download(url, `${camera}-${shot.at.replace(/[:]/g, "-")}.jpg`);
    const img = el("img", { src: url, class: "snap-image", alt: t("snap.alt", { camera, at: dateTime(shot.at) }) });
    say(t(shot.source === "live" ? "snap.takenLive" : "snap.takenAt", { at: dateTime(shot.at) }));
    const attach = await attachControls(shot, say);
    into.replaceChildren(el("div", { class: "snapshot", dataset: { snapshot: shot.id } },
      img, status, el("p", { class: "note" }, `SHA-256 ${shot.sha256}`),
      el("p", {}, el("button", { type: "button", onclick: () => download(url, `${shot.id}.jpg`) }, t("snap.download")),
        " ", attach)));
    return shot;
  } catch (err) {
    say(err.message, "error");
    return null;
  }
}

let dialog = null; // one snapshot dialog at a time

// "Snapshot" on a live tile: the gateway takes the camera's newest frame; shown in a dialog.
export function snapshotButton(getCamera) {
  return el("button", { type: "button", class: "snapshot-button", dataset: { i18n: "marks.snapshot" },
    onclick: async (event) => {
      event.stopPropagation();
      dialog?.close();
      dialog?.remove();
      const camera = getCamera();
      const body = el("div", { class: "snapshot-body" });
      dialog = el("dialog", { id: "snapshot-dialog", class: "dialog", "aria-label": t("marks.snapshot") },
        el("h2", {}, `${t("marks.snapshot")} · ${camera.name || camera.id}`), body,
        el("form", { method: "dialog" }, el("button", {}, t("snap.close"))));
      document.body.append(dialog);
      dialog.addEventListener("close", () => dialog?.remove(), { once: true });
      dialog.showModal();
      await takeSnapshot(camera.id, null, body);
    } }, t("marks.snapshot"));
}
