// Operators file a playback request for an outside party (SOP step 9: replay for parties from
// outside only under a written order or disposition), with the scanned letter; and follow them.
import { getJSON, problem, request } from "./api.js";
import { apply, t } from "./i18n.js";
import { el, start } from "./shell.js";
import { fromLocalInput, todayISO, toLocalInput } from "./timefmt.js";
import { requestHead, requestRow } from "./reqview.js";

const who = await start("requests", "operator");
if (who) {
  const form = document.getElementById("req-form");
  const cameraBox = document.getElementById("req-cameras");
  const result = document.getElementById("req-result");
  const table = document.getElementById("req-table");
  const filter = document.getElementById("req-filter");

  const { cameras } = await getJSON("/api/v1/cameras").catch((err) => {
    result.className = "error";
    result.textContent = err.message;
    return { cameras: [] };
  });
  cameraBox.append(...cameras.map((c) => el("label", {},
    el("input", { type: "checkbox", name: "cameras", value: c.id }), c.name || c.id)));
  const now = new Date();
  form.letter_date.value = todayISO(now);
  form.start.value = toLocalInput(new Date(now.getTime() - 2 * 3600e3));
  form.end.value = toLocalInput(new Date(now.getTime() - 3600e3));
  // A copy (a download through an export job) is asked for besides the replay, and approved apart.
  form.want_copies.addEventListener("change", () => { form.copies.disabled = !form.want_copies.checked; });

  async function list() {
    const q = filter.value ? `?status=${filter.value}` : "";
    try {
      const { requests } = await getJSON(`/api/v1/playback-requests${q}`);
      const issued = await getJSON("/api/v1/dispositions?limit=200").catch(() => ({ dispositions: [] }));
      const byRequest = new Map(issued.dispositions.map((d) => [d.request_id, d]));
      table.replaceChildren(el("thead", {}, requestHead()),
        el("tbody", {}, ...requests.map((r) => requestRow(r, byRequest))));
      if (!requests.length) table.replaceChildren(el("caption", { dataset: { i18n: "req.none" } }));
      apply(table);
    } catch (err) {
      table.replaceChildren(el("caption", { class: "error" }, err.message));
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    result.className = "note";
    result.textContent = "";
    const chosen = [...form.querySelectorAll("input[name=cameras]:checked")].map((c) => c.value);
    if (!chosen.length) { result.className = "error"; result.textContent = t("req.pickCamera"); return; }
    const startAt = fromLocalInput(form.start.value);
    const endAt = fromLocalInput(form.end.value);
    if (!startAt || !endAt || endAt <= startAt) { result.className = "error"; result.textContent = t("req.badWindow"); return; }
    const data = new FormData();
    for (const name of ["party_name", "party_organisation", "purpose", "letter_number", "letter_date"]) {
      data.append(name, form[name].value.trim());
    }
    data.append("cameras", chosen.join(","));
    data.append("start", startAt.toISOString());
    data.append("end", endAt.toISOString());
    if (form.max_views.value) data.append("max_views", form.max_views.value);
    if (form.valid_days.value) data.append("valid_days", form.valid_days.value);
    if (form.want_copies.checked) data.append("copies", form.copies.value || "1");
    data.append("letter", form.letter.files[0]);
    form.querySelector("button[type=submit]").disabled = true;
    try {
      const res = await request("/api/v1/playback-requests", { method: "POST", body: data });
      if (!res.ok) throw await problem(res);
      const filed = await res.json();
      result.className = "ok";
      result.textContent = t("req.filedOk", { id: filed.id });
      form.reset();
      form.copies.disabled = true;
      form.letter_date.value = todayISO();
      await list();
    } catch (err) {
      result.className = "error";
      result.textContent = t("req.filedFailed", { detail: err.message });
    } finally {
      form.querySelector("button[type=submit]").disabled = false;
    }
  });
  filter.addEventListener("change", list);
  document.addEventListener("pantau:lang", list);
  await list();
}
