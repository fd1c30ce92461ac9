// Administrators disable and enable accounts and change their roles. A disabled user's sign-in is
// refused and their sessions, live video included, end at once; a new role holds from the user's
// next request. Accounts are created, and passwords set, with `pantau user` (or the API).
import { getJSON, sendJSON } from "./api.js";
import { apply, t } from "./i18n.js";
import { el, start } from "./shell.js";
import { dateTime } from "./timefmt.js";

const REFRESH_MS = 15000;
// An integrator's password is kept sealed for RTSP and ONVIF: its role is set when it is created.
const FIXED_ROLE = "integrator";
const ROLES = ["viewer", "operator", "supervisor", "admin", "auditor"];

function say(node, text, kind = "note") {
  node.className = kind;
  node.textContent = text;
}

const who = await start("users", "admin");
if (who) {
  const table = document.getElementById("users-table");
  const result = document.getElementById("users-result");
  let users = [];

  // `undo` puts the control back as the server has it when the change is refused (a role picker still
  // showing the refused role would say the change was made; the refresh skips a focused picker).
  async function change(user, body, done, undo) {
    try {
      const changed = await sendJSON("PATCH", `/api/v1/users/${encodeURIComponent(user.username)}`, body);
      say(result, done(changed), "ok");
    } catch (err) {
      undo?.();
      say(result, err.message, "error");
    }
    await refresh();
  }

  function roleCell(user) {
    if (user.role === FIXED_ROLE) {
      return el("td", { title: t("usr.fixedRole") }, el("span", { dataset: { i18n: `role.${user.role}` } }));
    }
    const select = el("select", { name: "role", "aria-label": t("usr.roleFor", { name: user.username }),
      onchange: () => change(user, { role: select.value },
        (u) => t("usr.roleOk", { name: u.username, role: t(`role.${u.role}`) }), () => { select.value = user.role; }) },
    ...ROLES.map((role) => el("option", { value: role, selected: role === user.role, dataset: { i18n: `role.${role}` } })));
    return el("td", {}, select);
  }

  function row(user) {
    const toggle = user.enabled
      ? el("button", { type: "button", class: "danger disable", dataset: { i18n: "usr.disable" },
        onclick: () => change(user, { enabled: false }, (u) => t("usr.disabledOk", { name: u.username })) })
      : el("button", { type: "button", class: "enable", dataset: { i18n: "usr.enable" },
        onclick: () => change(user, { enabled: true }, (u) => t("usr.enabledOk", { name: u.username })) });
    const name = user.username === who.username
      ? [user.username, " ", el("span", { class: "note", dataset: { i18n: "usr.you" } })] : [user.username];
    return el("tr", { dataset: { user: user.username, enabled: String(user.enabled) } },
      el("th", { scope: "row" }, ...name),
      roleCell(user),
      el("td", { dataset: { i18n: user.enabled ? "usr.enabled" : "usr.disabled" } }),
      el("td", {}, dateTime(user.created_at)),
      el("td", {}, user.last_sign_in_at ? dateTime(user.last_sign_in_at) : t("usr.never")),
      el("td", { class: "actions" }, toggle));
  }

  function draw() {
    table.replaceChildren(
      el("thead", {}, el("tr", {}, ...["usr.name", "usr.role", "usr.state", "usr.created", "usr.lastSignIn", "usr.action"]
        .map((key) => el("th", { scope: "col", dataset: { i18n: key } })))),
      el("tbody", {}, ...users.map(row)));
    apply(table);
  }

  async function refresh() {
    // A role being picked is not redrawn away under the pointer.
    if (document.activeElement?.name === "role" && table.contains(document.activeElement)) return;
    try {
      ({ users } = await getJSON("/api/v1/users"));
      draw();
    } catch (err) {
      say(result, err.message, "error");
    }
  }

  document.addEventListener("pantau:lang", draw);
  setInterval(() => refresh(), REFRESH_MS);
  await refresh();
}
