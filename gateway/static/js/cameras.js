// Administrators find ONVIF cameras on the network, add cameras (by ONVIF address or stream
// URL), change the ones added here and take them out of service. Cameras of the config file are
// listed too, but are changed in the file. Nothing is ever deleted: a camera out of service
// keeps its recordings until retention ends them.
import { getJSON, sendJSON } from "./api.js";
import { apply, t } from "./i18n.js";
import { describe } from "./livetile.js";
import { el, start } from "./shell.js";

const REFRESH_MS = 5000;

function say(node, text, kind = "note") {
  node.className = kind;
  node.textContent = text;
}

function list(text) {
  return text.split(",").map((s) => s.trim()).filter(Boolean);
}

const who = await start("cameras", "admin");
if (who) {
  const findForm = document.getElementById("find-form");
  const findResult = document.getElementById("find-result");
  const findTable = document.getElementById("find-table");
  const addForm = document.getElementById("add-form");
  // Controls by name through `elements`: a form's own `id` and `name` would shadow inputs so named.
  const A = addForm.elements;
  const F = findForm.elements;
  const addResult = document.getElementById("add-result");
  const camsTable = document.getElementById("cams-table");
  const camsResult = document.getElementById("cams-result");
  let editing = null; // the id whose edit row is open: the refresh leaves the table alone then

  // --- finding ONVIF devices ------------------------------------------------------------

  function deviceRow(device) {
    const model = [device.manufacturer, device.model].filter(Boolean).join(" ");
    const about = [model, device.firmware && t("cams.firmware", { v: device.firmware }),
      device.serial && t("cams.serial", { v: device.serial })].filter(Boolean).join(" · ");
    const profiles = (device.profiles || []).map((p) =>
      `${p.token}${p.encoding ? ` (${[p.encoding, p.resolution].filter(Boolean).join(" ")})` : ""}`).join(", ");
    const use = el("button", { type: "button", class: "use-device", dataset: { i18n: "cams.use" }, onclick: () => {
      A.kind.value = "onvif";
      showKind();
      A.address.value = device.address;
      A.onvif_username.value = F.username.value;
      A.onvif_password.value = F.password.value;
      A.profile.value = device.profiles?.[0]?.token || "main";
      addForm.querySelector("#add-profiles").replaceChildren(
        el("option", { value: "main" }), el("option", { value: "sub" }),
        ...(device.profiles || []).map((p) => el("option", { value: p.token })));
      if (!A.name.value) A.name.value = model;
      A.id.focus();
      say(addResult, t("cams.filled", { address: device.address }));
    } });
    return el("tr", { dataset: { address: device.address } },
      el("td", {}, device.address), el("td", {}, about || device.error || ""), el("td", {}, profiles), el("td", {}, use));
  }

  findForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = findForm.querySelector("button[type=submit]");
    button.disabled = true;
    say(findResult, t("cams.searching"));
    const body = { timeout: Number(F.timeout.value) || 3, targets: list(F.targets.value) };
    if (F.username.value) {
      body.username = F.username.value;
      body.password = F.password.value;
    }
    try {
      const { devices } = await sendJSON("POST", "/api/v1/onvif/discover", body);
      findTable.replaceChildren(
        el("thead", {}, el("tr", {}, ...["cams.address", "cams.device", "cams.profiles", "cams.action"]
          .map((key) => el("th", { scope: "col", dataset: { i18n: key } })))),
        el("tbody", {}, ...devices.map(deviceRow)));
      apply(findTable);
      say(findResult, t("cams.found", { n: devices.length }), devices.length ? "ok" : "note");
    } catch (err) {
      say(findResult, err.message, "error");
    } finally {
      button.disabled = false;
    }
  });

  // --- adding ---------------------------------------------------------------------------

  function showKind() {
    const onvif = A.kind.value === "onvif";
    document.getElementById("add-onvif").hidden = !onvif;
    document.getElementById("add-rtsp").hidden = onvif;
    A.address.required = onvif;
    A.source.required = !onvif;
  }
  document.getElementById("add-kind").addEventListener("change", showKind);
  showKind();

  addForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { id: A.id.value.trim(), record: A.record.checked };
    if (A.name.value.trim()) body.name = A.name.value.trim();
    const groups = list(A.groups.value);
    if (groups.length) body.groups = groups;
    if (A.kind.value === "onvif") {
      body.onvif = { address: A.address.value.trim(), profile: A.profile.value.trim() || "main" };
      if (A.onvif_username.value) {
        body.onvif.username = A.onvif_username.value;
        body.onvif.password = A.onvif_password.value;
      }
    } else {
      body.source = A.source.value.trim();
    }
    const button = addForm.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const cam = await sendJSON("POST", "/api/v1/cameras", body);
      say(addResult, t("cams.added", { id: cam.id }), "ok");
      addForm.reset();
      showKind();
      await refresh();
    } catch (err) {
      say(addResult, t("cams.addFailed", { detail: err.message }), "error");
    } finally {
      button.disabled = false;
    }
  });

  // --- the cameras ----------------------------------------------------------------------

  async function change(id, patch, doneKey) {
    try {
      await sendJSON("PATCH", `/api/v1/cameras/${encodeURIComponent(id)}`, patch);
      say(camsResult, t(doneKey, { id }), "ok");
    } catch (err) {
      say(camsResult, t("cams.changeFailed", { id, detail: err.message }), "error");
    }
    editing = null;
    await refresh();
  }

  function editRow(cam) {
    const form = el("form", { class: "edit", "aria-label": t("cams.editing", { id: cam.id }) },
      el("label", {}, el("span", { dataset: { i18n: "cams.name" } }), el("input", { name: "name", value: cam.name, maxlength: "200" })),
      el("label", {}, el("span", { dataset: { i18n: "cams.groups" } }), el("input", { name: "groups", value: cam.groups.join(", ") })),
      el("label", {}, el("span", { dataset: { i18n: "cams.newSource" } }),
        el("input", { name: "source", class: "wide", dataset: { i18nAttr: "placeholder:cams.keepSource" } })),
      el("label", {}, el("span", { dataset: { i18n: "cams.record" } }), el("input", { type: "checkbox", name: "record", checked: cam.record })),
      el("button", { type: "submit", class: "primary", dataset: { i18n: "cams.save" } }),
      el("button", { type: "button", dataset: { i18n: "cams.cancel" }, onclick: () => { editing = null; refresh(); } }));
    const E = form.elements;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const patch = {};
      if (E.name.value.trim() !== cam.name) patch.name = E.name.value.trim() || null;
      const groups = list(E.groups.value);
      if (groups.join(",") !== cam.groups.join(",")) patch.groups = groups;
      if (E.source.value.trim()) patch.source = E.source.value.trim();
      if (E.record.checked !== cam.record) patch.record = E.record.checked;
      change(cam.id, patch, "cams.changed");
    });
    const row = el("tr", { class: "editing", dataset: { camera: cam.id } }, el("td", { colspan: "6" }, form));
    apply(row);
    return row;
  }

  function row(cam) {
    if (editing === cam.id) return editRow(cam);
    const { badge, text } = describe(cam);
    const actions = el("td", { class: "actions" });
    if (cam.origin === "api") {
      actions.append(
        el("button", { type: "button", class: "edit", dataset: { i18n: "cams.edit" },
          onclick: () => { editing = cam.id; draw(); } }),
        cam.enabled
          ? el("button", { type: "button", class: "disable", dataset: { i18n: "cams.disable" },
            onclick: () => change(cam.id, { enabled: false }, "cams.disabled") })
          : el("button", { type: "button", class: "enable", dataset: { i18n: "cams.enable" },
            onclick: () => change(cam.id, { enabled: true }, "cams.enabled") }));
    } else {
      actions.append(el("span", { class: "note", dataset: { i18n: "cams.inConfig" } }));
    }
    return el("tr", { dataset: { camera: cam.id } },
      el("th", { scope: "row" }, cam.name && cam.name !== cam.id ? `${cam.name} (${cam.id})` : cam.id),
      el("td", {}, el("span", { class: `badge state-${badge}` }, t(`state.${badge}`)), text ? ` ${text}` : ""),
      el("td", { class: "note" }, cam.source),
      el("td", {}, cam.groups.join(", ")),
      el("td", { dataset: { i18n: cam.record ? "cams.yes" : "cams.no" } }),
      actions);
  }

  let cameras = [];
  function draw() {
    camsTable.replaceChildren(
      el("thead", {}, el("tr", {}, ...["cams.camera", "cams.state", "cams.source", "cams.groups", "cams.record", "cams.action"]
        .map((key) => el("th", { scope: "col", dataset: { i18n: key } })))),
      el("tbody", {}, ...cameras.map(row)));
    if (!cameras.length) camsTable.append(el("caption", { dataset: { i18n: "cams.none" } }));
    apply(camsTable);
  }

  async function refresh() {
    if (editing) return;
    try {
      const { cameras: listed } = await getJSON("/api/v1/cameras");
      cameras = await Promise.all(listed.map((c) => getJSON(`/api/v1/cameras/${encodeURIComponent(c.id)}`)));
      if (!editing) draw();
    } catch (err) {
      say(camsResult, err.message, "error");
    }
  }

  document.addEventListener("pantau:lang", () => { if (!editing) draw(); });
  setInterval(refresh, REFRESH_MS);
  await refresh();
}
