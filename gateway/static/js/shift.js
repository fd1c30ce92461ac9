// The shift page (SOP steps 1, 2 and 10): sign on, see who else is on duty, countersign the
// handovers the last shift left, and at the end of one's own shift read the server's pre-filled
// handover, add notes and file it (which closes the shift); the records of recent shifts below.
import { getJSON, sendJSON } from "./api.js";
import { PendingHandovers } from "./acceptance.js";
import { DeskHistory } from "./deskhistory.js";
import { handoverContent, handoverMeta } from "./handoverview.js";
import { t } from "./i18n.js";
import { pdfLink } from "./pdf.js";
import { el, start } from "./shell.js";
import { dateTime } from "./timefmt.js";

const REFRESH_MS = 60_000; // the draft follows the day (outages, alerts) without reloading
const NOTES_MAX = 20_000; // desk.notes_max_chars' default; the server has the last word

const who = await start("shift", "operator");
if (who) {
  const status = document.getElementById("shift-status");
  const signOn = document.getElementById("sign-on");
  const shiftError = document.getElementById("shift-error");
  const onDuty = document.getElementById("on-duty");
  const draftSection = document.getElementById("draft-section");
  const draft = document.getElementById("draft");
  const notes = document.getElementById("handover-notes");
  const fileButton = document.getElementById("file-handover");
  const fileError = document.getElementById("file-error");
  const filed = document.getElementById("filed");
  const dialog = document.getElementById("file-dialog");
  const pending = new PendingHandovers(who, document.getElementById("pending"), document.getElementById("accepted"),
    () => refresh());
  const history = new DeskHistory(document.getElementById("checks-list"), document.getElementById("patrols-list"),
    document.getElementById("handovers-list"), document.getElementById("records-error"));
  let current = null; // GET /api/v1/shifts/current
  let lastDraft = null;
  let lastFiled = null;
  notes.maxLength = NOTES_MAX;

  function showStatus() {
    const mine = current?.mine;
    // Not known (the request failed): neither "off duty" nor a button that may open a second shift.
    status.textContent = !current ? "" : mine
      ? t("shift.onSince", { since: dateTime(mine.opened_at), slot: mine.slot || t("ho.noSlot") })
      : t("shift.off");
    document.body.dataset.shift = !current ? "unknown" : mine ? "open" : "none";
    signOn.hidden = !current || !!mine;
    onDuty.replaceChildren(...(current?.on_duty || []).length
      ? current.on_duty.map((d) => el("li", { dataset: { operator: d.operator } },
        t("shift.dutyLine", { who: d.operator, slot: d.slot || t("ho.noSlot"), since: dateTime(d.opened_at) }),
        d.shift_id === mine?.id ? ` (${t("shift.you")})` : ""))
      : [el("li", { class: "note" }, t("shift.nobody"))]);
  }

  function showDraft() {
    draftSection.hidden = !current?.mine;
    if (!current?.mine || !lastDraft) { draft.replaceChildren(); return; }
    draft.replaceChildren(handoverContent(lastDraft.content, { draft: true }));
  }

  function showFiled() {
    if (!lastFiled) { filed.replaceChildren(); return; }
    const h = lastFiled;
    filed.replaceChildren(el("article", { class: "card", dataset: { handover: h.id } },
      el("h2", {}, t("shift.filedTitle")),
      el("p", { class: "ok" }, t("shift.filedText")),
      handoverMeta(h),
      el("p", {}, pdfLink(`/api/v1/handovers/${encodeURIComponent(h.id)}/pdf`, `serah-terima-${h.id.slice(0, 8)}.pdf`)),
      handoverContent(h.content)));
  }

  async function refresh() {
    shiftError.replaceChildren();
    try {
      current = null;
      current = await getJSON("/api/v1/shifts/current");
      lastDraft = current.mine ? await getJSON("/api/v1/handovers/draft") : null;
    } catch (err) {
      shiftError.replaceChildren(el("p", { class: "error" }, err.message));
    }
    showStatus();
    showDraft();
    await Promise.all([pending.refresh(), history.refresh()]);
  }

  signOn.addEventListener("click", async () => {
    signOn.disabled = true;
    let failure = null;
    try {
      await sendJSON("POST", "/api/v1/shifts", {});
    } catch (err) {
      failure = err;
    }
    signOn.disabled = false;
    await refresh();
    if (failure) shiftError.replaceChildren(el("p", { class: "error" }, t("shift.signOnFailed", { detail: failure.message })));
  });

  fileButton.addEventListener("click", () => { fileError.replaceChildren(); dialog.showModal(); });
  document.getElementById("file-cancel").addEventListener("click", () => dialog.close());
  document.getElementById("file-confirm").addEventListener("click", async () => {
    dialog.close();
    fileButton.disabled = true;
    try {
      lastFiled = await sendJSON("POST", "/api/v1/handovers", { notes: notes.value });
      notes.value = "";
      showFiled();
      filed.scrollIntoView?.({ block: "start" });
    } catch (err) {
      fileError.replaceChildren(el("p", { class: "error" }, t("shift.fileFailed", { detail: err.message })));
    }
    fileButton.disabled = false;
    await refresh();
  });

  document.addEventListener("pantau:lang", () => { showStatus(); showDraft(); showFiled(); pending.draw(); history.draw(); });
  await refresh();
  setInterval(() => { if (document.visibilityState === "visible" && !dialog.open) refresh(); }, REFRESH_MS);
}
