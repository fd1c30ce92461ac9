// The case desk (SOP step 5: report the irregular to leadership at once; step 6: the follow-up
// minutes; the complaint service; the six emergency procedures): the cases, open ones first with
// their timers, one case in full beside them (#case=ID), and a citizen's complaint taken down.
// The list follows the case alerts over the event stream the moment they happen, and a poll.
import { getJSON } from "./api.js";
import { caseDetail } from "./casedetail.js";
import { CaseList } from "./caselist.js";
import { ComplaintForm, DEFAULT_CATEGORIES } from "./complaintform.js";
import { EventStream } from "./eventstream.js";
import { t } from "./i18n.js";
import { el, start } from "./shell.js";

const REFRESH_MS = 10_000; // forwards, follow-ups and resolutions raise no alert: the poll shows them
const CASE_ALERTS = "kinds=case.opened,case.escalated,case.acknowledged,case.closed";

const who = await start("cases", "operator");
if (who) {
  const filter = document.getElementById("case-filter");
  const listError = document.getElementById("list-error");
  const detailPane = document.getElementById("case-detail");
  const filed = document.getElementById("case-filed");
  const live = document.getElementById("case-live");
  const complaintSection = document.getElementById("complaint-section");
  const complaintButton = document.getElementById("new-complaint");
  const list = new CaseList(document.getElementById("case-list"));
  const rules = { playbooks: [], ackTimeoutS: null };
  let names = new Map();
  let directory = [];
  let current = null; // the case shown in full
  let stale = false; // it changed while its forms held the user's typing
  let lastFiled = null; // the complaint just filed, said above the list

  const complaint = new ComplaintForm(document.getElementById("complaint-form"), {
    onFiled: (c) => {
      showComplaintForm(false);
      lastFiled = c;
      showFiled();
      location.hash = `case=${encodeURIComponent(c.id)}`;
      refreshList();
    },
  });

  function showFiled() {
    filed.replaceChildren(...lastFiled ? [el("p", { class: "ok" }, t("complaint.filed", { title: lastFiled.title }), " ",
      el("a", { href: `#case=${encodeURIComponent(lastFiled.id)}` }, t("cases.open")))] : []);
  }

  function showComplaintForm(show) {
    complaintSection.hidden = !show;
    complaintButton.setAttribute("aria-expanded", String(show));
    if (show) complaint.field("title").focus();
  }
  complaintButton.addEventListener("click", () => showComplaintForm(complaintSection.hidden));
  document.getElementById("complaint-cancel").addEventListener("click", () => { complaint.reset(); showComplaintForm(false); });

  // The cameras' names, the playbooks (escalation windows, step texts) and the directory.
  async function loadReference() {
    const [cams, books, dir] = await Promise.allSettled([
      getJSON("/api/v1/cameras"), getJSON("/api/v1/playbooks"), getJSON("/api/v1/directory")]);
    if (cams.status === "fulfilled") {
      names = new Map(cams.value.cameras.map((c) => [c.id, c.name || c.id]));
      complaint.setCameras(cams.value.cameras);
    }
    if (books.status === "fulfilled") {
      rules.playbooks = books.value.playbooks || [];
      if (Number.isFinite(books.value.ack_timeout_s)) rules.ackTimeoutS = books.value.ack_timeout_s;
    }
    complaint.setCategories(books.status === "fulfilled" && Array.isArray(books.value.categories)
      ? books.value.categories : DEFAULT_CATEGORIES);
    if (dir.status === "fulfilled") directory = dir.value.contacts || [];
  }

  async function refreshList() {
    const query = new URLSearchParams({ limit: "200" });
    if (filter.value) query.set("state", filter.value);
    try {
      const { cases } = await getJSON(`/api/v1/cases?${query}`);
      listError.replaceChildren();
      list.show(cases, rules, names);
      list.select(current?.id ?? null);
    } catch (err) {
      listError.replaceChildren(el("p", { class: "error" }, err.message));
    }
  }

  // The user is typing into one of the case's forms: a redraw would throw it away.
  function busy() {
    const forms = [...detailPane.querySelectorAll("form")];
    return forms.some((f) => f.contains(document.activeElement)
      || [...f.querySelectorAll("input:not([type=hidden]), textarea")].some((i) => i.value.trim()));
  }

  function drawDetail({ force = false } = {}) {
    if (!current) return;
    if (!force && busy()) {
      stale = true;
      if (!detailPane.querySelector(".case-stale")) {
        detailPane.prepend(el("p", { class: "warn case-stale" }, t("cases.changed"), " ",
          el("button", { type: "button", onclick: () => drawDetail({ force: true }) }, t("cases.showChanges"))));
      }
      return;
    }
    stale = false;
    // The actions opened or closed by hand stay so (a poll must not fold away the form in use).
    const same = detailPane.dataset.case === current.id;
    const folded = new Map([...detailPane.querySelectorAll("details[data-action]")].map((d) => [d.dataset.action, d.open]));
    detailPane.replaceChildren(caseDetail(current, { who, directory, names, onChanged: changed }));
    if (same) {
      for (const d of detailPane.querySelectorAll("details[data-action]")) {
        if (folded.has(d.dataset.action)) d.open = folded.get(d.dataset.action);
      }
    }
    detailPane.dataset.case = current.id;
  }

  // An action went through: the gateway's answer is the case as it is now.
  function changed(c) {
    current = c;
    delete detailPane.dataset.case; // the forms start afresh, as the new state offers them
    drawDetail({ force: true });
    refreshList();
  }

  async function openCase(id, { focus = false } = {}) {
    if (!id) {
      current = null;
      detailPane.replaceChildren(el("p", { class: "note" }, t("cases.pick")));
      delete detailPane.dataset.case;
      list.select(null);
      return;
    }
    try {
      const c = await getJSON(`/api/v1/cases/${encodeURIComponent(id)}`);
      const other = c.id !== current?.id;
      current = c;
      drawDetail({ force: other });
      list.select(c.id);
      if (focus && other) detailPane.querySelector("#case-title")?.focus();
    } catch (err) {
      detailPane.replaceChildren(el("p", { class: "error", role: "alert" }, err.message));
    }
  }

  const hashCase = () => new URLSearchParams(location.hash.slice(1)).get("case");
  window.addEventListener("hashchange", () => openCase(hashCase(), { focus: true }));
  filter.addEventListener("change", refreshList);

  const stream = new EventStream(CASE_ALERTS);
  stream.on("alert", (alert) => {
    refreshList();
    if (current && alert.details?.case === current.id) openCase(current.id);
  });
  stream.on("state", (connected) => { live.textContent = t(connected ? "alerts.connected" : "alerts.disconnected"); });
  document.addEventListener("pantau:lang", () => {
    list.draw();
    showFiled();
    if (!stale) drawDetail();
    live.textContent = stream.connected ? t("alerts.connected") : "";
  });

  await loadReference();
  await refreshList();
  await openCase(hashCase());
  stream.start();
  setInterval(() => list.tick(), 1000);
  setInterval(() => {
    if (document.visibilityState !== "visible") return;
    refreshList();
    if (current) openCase(current.id);
  }, REFRESH_MS);
}
