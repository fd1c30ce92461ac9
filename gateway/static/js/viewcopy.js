// A copy for the external party (a disposition whose token allows copies): Download creates an
// export job with the token (POST /api/v1/exports; every job uses one copy, counted by the
// gateway), follows its progress by polling, then fetches a signed link for the zip and lets the
// browser save it. When no copy is left (or the gateway refuses otherwise) its reason is shown
// in the section.
// The job in progress is kept for the tab, so a reload follows it instead of using another copy.
import { getJSON, sendJSON } from "./api.js";
import { ACTIVE, download, formatText, megabytes, progressBar, stateText } from "./exportjobs.js";
import { t } from "./i18n.js";
import { el } from "./shell.js";

const POLL_MS = 1000;
const JOB_KEY = "pantau.disposition.job";

// host: the section to fill; token(): the disposition token; claims: its (unverified) claims.
export function copySection(host, { token, claims }) {
  const copies = Number(claims?.copies || 0);
  host.hidden = copies <= 0;
  if (copies <= 0) { host.replaceChildren(); return; }
  const key = `${JOB_KEY}.${String(token()).slice(-24)}`;
  const formats = ["bundle", "mp4"].map((f) => el("label", { class: "inline" },
    el("input", { type: "checkbox", name: "format", value: f, checked: true }), el("span", {}, formatText(f))));
  const button = el("button", { type: "button", class: "primary", id: "copy-download" }, t("view.download"));
  const status = el("div", { id: "copy-status", role: "status", "aria-live": "polite" });
  const refusal = el("div", { id: "copy-refusal", class: "refusal", role: "alert", tabindex: "-1", hidden: true });
  host.replaceChildren(el("h2", {}, t("view.copyTitle")),
    el("p", {}, t("view.copiesText", { n: copies })),
    el("fieldset", {}, el("legend", {}, t("exp.formats")), ...formats),
    el("p", {}, button), refusal, status);

  // The gateway's reason, in its words (no copy left, the token revoked or expired...).
  function refuse(text) {
    refusal.replaceChildren(el("strong", {}, t("view.copyRefused")), " ", el("span", { id: "copy-refusal-text" }, text));
    refusal.hidden = false;
    refusal.focus();
  }

  let timer = null;
  let stopped = false; // the page drew the section anew (another language, another token)
  function show(job) {
    host.dataset.state = job.state;
    const parts = [el("p", {}, el("span", { class: `badge exp-state exp-${job.state}` }, stateText(job.state)))];
    if (ACTIVE.has(job.state) || job.state === "done") parts.push(progressBar(job));
    if (job.state === "failed" && job.error) parts.push(el("p", { class: "error" }, job.error));
    if (job.result) {
      parts.push(el("p", { class: "note" }, `${job.result.name} · ${t("exp.mb", { mb: megabytes(job.result.size) })}`),
        el("p", { class: "note exp-sha" }, `SHA-256 ${job.result.sha256}`));
    }
    if (job.state === "done") {
      parts.push(el("button", { type: "button", id: "copy-again", onclick: () => save(job) }, t("view.saveAgain")));
    }
    status.replaceChildren(...parts);
  }

  async function save(job) {
    try {
      await download(job, token());
      host.dataset.saved = job.id;
    } catch (err) {
      refuse(err.message);
    }
  }

  async function follow(id) {
    clearTimeout(timer);
    let job;
    try {
      job = await getJSON(`/api/v1/exports/${encodeURIComponent(id)}`, { token: token() });
    } catch (err) {
      if (stopped) return;
      sessionStorage.removeItem(key);
      button.disabled = false;
      refuse(err.message);
      return;
    }
    if (stopped) return;
    show(job);
    if (ACTIVE.has(job.state)) { timer = setTimeout(() => follow(id), POLL_MS); return; }
    sessionStorage.removeItem(key);
    button.disabled = false;
    if (job.state === "done") await save(job);
  }

  button.addEventListener("click", async () => {
    refusal.hidden = true;
    const chosen = [...host.querySelectorAll("input[name=format]:checked")].map((i) => i.value);
    button.disabled = true;
    status.replaceChildren(el("p", {}, t("view.creating")));
    try {
      // The token's cameras, window and purpose: the gateway fills them in.
      const job = await sendJSON("POST", "/api/v1/exports", chosen.length ? { formats: chosen } : {}, token());
      sessionStorage.setItem(key, job.id);
      show(job);
      follow(job.id);
    } catch (err) {
      button.disabled = false;
      status.replaceChildren();
      refuse(err.message);
    }
  });

  const pending = sessionStorage.getItem(key);
  if (pending) { button.disabled = true; follow(pending); }
  return () => { stopped = true; clearTimeout(timer); };
}
