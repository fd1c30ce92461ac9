// Administrators enrol the video wall's displays and revoke them. An enrolled display is a device
// credential with the viewer role that outlives any person's sign-in; its URL (with the token in
// the fragment) is shown once, at enrolment. Revoking needs a reason and turns the display's
// screen into a message within seconds.
import { getJSON, sendJSON } from "./api.js";
import { apply, t } from "./i18n.js";
import { el, start } from "./shell.js";
import { dateTime } from "./timefmt.js";

const REFRESH_MS = 10000;

function say(node, text, kind = "note") {
  node.className = kind;
  node.textContent = text;
}

const who = await start("displays", "admin");
if (who) {
  const form = document.getElementById("enrol-form");
  const result = document.getElementById("enrol-result");
  const enrolled = document.getElementById("enrolled");
  const urlInput = document.getElementById("enrolled-url");
  const table = document.getElementById("displays-table");
  const listResult = document.getElementById("displays-result");
  let displays = [];

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const display = await sendJSON("POST", "/api/v1/displays", { name: form.elements.name.value });
      urlInput.value = new URL(display.url, location.origin).href;
      enrolled.hidden = false;
      say(result, t("disp.enrolled", { name: display.name }), "ok");
      form.elements.name.value = "";
      urlInput.select();
      await refresh(true);
    } catch (err) {
      say(result, t("disp.enrolFailed", { detail: err.message }), "error");
    } finally {
      button.disabled = false;
    }
  });
  document.getElementById("copy-url").addEventListener("click", async (event) => {
    urlInput.select();
    try { await navigator.clipboard.writeText(urlInput.value); } catch { document.execCommand("copy"); }
    event.target.textContent = t("disp.copied");
  });
  document.getElementById("enrolled-done").addEventListener("click", () => {
    urlInput.value = ""; // the token is not kept on this page once it is handed over
    enrolled.hidden = true;
    document.getElementById("copy-url").textContent = t("disp.copy");
  });

  async function revoke(display, reason) {
    if (!reason.value.trim()) {
      say(listResult, t("disp.needReason"), "error");
      reason.focus();
      return;
    }
    try {
      await sendJSON("POST", `/api/v1/displays/${encodeURIComponent(display.id)}/revocation`, { reason: reason.value });
      say(listResult, t("disp.revokedOk", { name: display.name }), "ok");
    } catch (err) {
      say(listResult, err.message, "error");
    }
    await refresh(true);
  }

  function row(display) {
    const actions = el("td", { class: "actions" });
    let state;
    if (display.state === "revoked") {
      state = t("disp.revokedBy", { by: display.revoked_by, at: dateTime(display.revoked_at), reason: display.revoke_reason });
    } else {
      state = t("disp.active");
      const reason = el("input", { name: "reason", maxlength: "512", "aria-label": t("disp.reasonFor", { name: display.name }),
        dataset: { i18nAttr: "placeholder:disp.reason" } });
      actions.append(reason, el("button", { type: "button", class: "danger revoke", dataset: { i18n: "disp.revoke" },
        onclick: () => revoke(display, reason) }));
    }
    return el("tr", { dataset: { display: display.id, state: display.state } },
      el("th", { scope: "row" }, display.name),
      el("td", {}, state),
      el("td", {}, t("disp.createdBy", { by: display.created_by, at: dateTime(display.created_at) })),
      el("td", {}, display.last_used_at ? dateTime(display.last_used_at) : t("disp.never")),
      actions);
  }

  function draw() {
    table.replaceChildren(
      el("thead", {}, el("tr", {}, ...["disp.name", "disp.state", "disp.created", "disp.lastUsed", "disp.action"]
        .map((key) => el("th", { scope: "col", dataset: { i18n: key } })))),
      el("tbody", {}, ...displays.map(row)));
    if (!displays.length) table.append(el("caption", { dataset: { i18n: "disp.none" } }));
    apply(table);
  }

  // force: after a change made here; otherwise a reason being typed is not thrown away.
  async function refresh(force = false) {
    if (!force && table.contains(document.activeElement) && document.activeElement.name === "reason") return;
    try {
      ({ displays } = await getJSON("/api/v1/displays"));
      draw();
    } catch (err) {
      say(listResult, err.message, "error");
    }
  }

  document.addEventListener("pantau:lang", draw);
  setInterval(() => refresh(), REFRESH_MS);
  await refresh(true);
}
