// Evidence exports: every job the caller may read (newest first) with its state, who asked, the
// cameras and window, live progress (`event: export` on the event stream, polling while the
// stream is away), Cancel while it runs, Download once it is done, and when the result expires.
// exports.html#job=ID highlights one job (the recordings page and cases come here after Create).
import { allowed, getJSON, sendJSON } from "./api.js";
import { EventStream } from "./eventstream.js";
import { ACTIVE, download, formatText, megabytes, progressBar, STATES, stateText, windowText } from "./exportjobs.js";
import { apply, t } from "./i18n.js";
import { el, start } from "./shell.js";
import { dateTime } from "./timefmt.js";

const LIMIT = 200;
const POLL_MS = 2000; // while a job runs and the stream is away
const REFRESH_MS = 15000;

const who = await start("exports", "viewer");
if (who) {
  const table = document.getElementById("exp-table");
  const body = table.querySelector("tbody");
  const none = document.getElementById("exp-none");
  const errorLine = document.getElementById("exp-error");
  const live = document.getElementById("exp-live");
  const filter = document.getElementById("exp-state");
  const jobs = new Map(); // id -> job
  const rows = new Map(); // id -> {row, bar, job}

  filter.replaceChildren(el("option", { value: "" }), ...STATES.map((s) => el("option", { value: s })));
  const labelFilter = () => {
    filter.options[0].textContent = t("exp.all");
    [...filter.options].slice(1).forEach((o) => { o.textContent = stateText(o.value); });
  };
  labelFilter();

  const wanted = () => new URLSearchParams(location.hash.slice(1)).get("job");
  // Anyone cancels their own job; the cancel roles (supervisors and admins unless configured
  // otherwise) anyone's. The gateway decides either way.
  const mayCancel = (job) => ACTIVE.has(job.state) && (job.requested_by === who.username || allowed("supervisor", who.role));

  function actions(job) {
    const out = [];
    if (job.state === "done") {
      out.push(el("button", { type: "button", class: "primary exp-download", onclick: async (event) => {
        const button = event.currentTarget;
        button.disabled = true;
        errorLine.textContent = "";
        try { await download(job); } catch (err) { errorLine.textContent = err.message; }
        button.disabled = false;
      } }, t("exp.download")));
    }
    if (mayCancel(job)) {
      out.push(el("button", { type: "button", class: "danger exp-cancel", onclick: async (event) => {
        event.currentTarget.disabled = true;
        errorLine.textContent = "";
        try {
          upsert(await sendJSON("POST", `/api/v1/exports/${encodeURIComponent(job.id)}/cancel`, {}));
        } catch (err) {
          errorLine.textContent = err.message;
          draw();
        }
      } }, t("exp.cancel")));
    }
    return out;
  }

  function result(job) {
    const r = job.result;
    if (job.state === "failed" && job.error) return [el("span", { class: "error" }, job.error)];
    if (!r) return [];
    return [
      el("div", {}, r.name, ` (${t("exp.mb", { mb: megabytes(r.size) })})`),
      el("div", { class: "note exp-sha", title: r.sha256 }, `SHA-256 ${String(r.sha256 || "").slice(0, 16)}…`),
      el("div", { class: "note exp-expiry" }, job.state === "expired" ? t("exp.expiredAt", { at: dateTime(r.expires_at) })
        : t("exp.expires", { at: dateTime(r.expires_at) })),
      job.downloads ? el("div", { class: "note" }, t("exp.downloads", { n: job.downloads })) : null,
    ];
  }

  function what(job) {
    return [
      el("div", {}, (job.formats || []).map(formatText).join(", ")),
      el("div", { class: "note" }, job.reason || ""),
      job.request_id ? el("div", { class: "note" }, t("exp.forRequest", { id: job.request_id })) : null,
      job.case_id ? el("div", { class: "note" }, el("a", { href: `/static/cases.html#case=${encodeURIComponent(job.case_id)}` },
        t("exp.forCase", { id: job.case_id }))) : null,
    ];
  }

  function row(job) {
    const bar = progressBar(job);
    const highlighted = job.id === wanted();
    const tr = el("tr", { id: `job-${job.id}`, class: highlighted ? "highlight" : null,
      dataset: { job: job.id, state: job.state } },
    el("td", {}, dateTime(job.created_at)),
    el("td", {}, el("span", { class: `badge exp-state exp-${job.state}` }, stateText(job.state)), bar),
    el("td", {}, job.requested_by || "", job.via === "token" ? el("div", { class: "note" }, t("exp.viaToken")) : null),
    el("td", {}, (job.cameras || []).join(", ")),
    el("td", {}, windowText(job)),
    el("td", {}, ...what(job)),
    el("td", { class: "exp-result" }, ...result(job)),
    el("td", { class: "exp-actions" }, ...actions(job)));
    return { row: tr, bar, job };
  }

  // Newest first; a row whose state did not change keeps its node and only its bar moves.
  function draw() {
    const ordered = [...jobs.values()].filter((j) => !filter.value || j.state === filter.value)
      .sort((a, b) => Date.parse(b.created_at) - Date.parse(a.created_at) || String(b.id).localeCompare(String(a.id)));
    const nodes = ordered.map((job) => {
      const shown = rows.get(job.id);
      if (shown && shown.job.state === job.state && shown.job.downloads === job.downloads) {
        shown.bar.update(job);
        shown.job = job;
        return shown.row;
      }
      const made = row(job);
      rows.set(job.id, made);
      return made.row;
    });
    body.replaceChildren(...nodes);
    none.hidden = nodes.length > 0;
  }

  function upsert(job) {
    if (!job?.id) return;
    const known = jobs.get(job.id);
    // An older event after a newer answer (the stream and a poll cross): keep the newer.
    if (known && ACTIVE.has(job.state) && !ACTIVE.has(known.state)) return;
    jobs.set(job.id, job);
    draw();
  }

  let focused = false;
  function reveal() {
    const id = wanted();
    if (!id || focused) return;
    const shown = rows.get(id);
    if (!shown) return;
    focused = true;
    shown.row.scrollIntoView({ block: "center" });
  }

  async function refresh() {
    try {
      const q = new URLSearchParams({ limit: String(LIMIT) });
      if (filter.value) q.set("state", filter.value);
      const listing = await getJSON(`/api/v1/exports?${q}`);
      const list = Array.isArray(listing) ? listing : listing.jobs || [];
      if (!filter.value) jobs.clear();
      for (const job of list) jobs.set(job.id, job);
      // A job asked for by the address but beyond the list (older, filtered): fetch it alone.
      const id = wanted();
      if (id && !jobs.has(id)) jobs.set(id, await getJSON(`/api/v1/exports/${encodeURIComponent(id)}`));
      errorLine.textContent = "";
      draw();
      reveal();
    } catch (err) {
      errorLine.textContent = err.message;
    }
  }

  const stream = new EventStream();
  stream.on("export", upsert);
  stream.on("state", (connected) => { live.textContent = t(connected ? "exp.live" : "exp.polling"); });
  stream.before(refresh);
  filter.addEventListener("change", () => { rows.clear(); refresh(); });
  window.addEventListener("hashchange", () => { focused = false; rows.clear(); draw(); reveal(); });
  document.addEventListener("pantau:lang", () => {
    labelFilter();
    rows.clear();
    draw();
    live.textContent = t(stream.connected ? "exp.live" : "exp.polling");
    apply(table);
  });
  stream.start();
  // Polling: quickly while something runs and the stream is away, slowly otherwise.
  let lastRefresh = Date.now();
  setInterval(() => {
    if (document.visibilityState !== "visible") return;
    const running = [...jobs.values()].some((j) => ACTIVE.has(j.state));
    const due = (running && !stream.connected) ? POLL_MS : REFRESH_MS;
    if (Date.now() - lastRefresh >= due) { lastRefresh = Date.now(); refresh(); }
  }, 1000);
}
