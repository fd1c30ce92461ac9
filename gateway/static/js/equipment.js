// The room's equipment in the check (SOP step 3: servers, computers, network, telephone, video
// wall): each item's automatic probe as the gateway just ran it, and the officer's verdict.
import { getJSON } from "./api.js";
import { t } from "./i18n.js";
import { el } from "./shell.js";
import { Verdict } from "./verdict.js";

// desk.equipment[].kind (core/deskconfig.py EquipmentKind).
const KINDS = {
  server: "equip.server", workstation: "equip.workstation", network: "equip.network", video_wall: "equip.videoWall",
  telephone: "equip.telephone", ups: "equip.ups", radio: "equip.radio", printer: "equip.printer",
  camera: "equip.camera", other: "equip.other",
};

function kindText(kind) {
  return kind in KINDS ? t(KINDS[kind]) : kind || "";
}

function probeCell(probe) {
  if (!probe) return el("td", { class: "note" }, t("equip.noProbe"));
  // The reading's own verdict says the time where there is one ("answered in 13 ms").
  const latency = probe.latency_ms === null || probe.latency_ms === undefined ? "" : `${Math.round(probe.latency_ms)} ms`;
  const where = probe.target && probe.target !== probe.kind ? `${probe.kind} ${probe.target}` : probe.kind;
  return el("td", { class: "probe", dataset: { ok: String(!!probe.ok) } },
    el("span", { class: `badge ${probe.ok ? "state-online" : "state-offline"}` }, t(probe.ok ? "equip.probeOk" : "equip.probeFailed")),
    " ", el("span", { class: "note" }, `${where}: ${probe.detail || latency}`));
}

export class EquipmentCheck {
  constructor(body, status) {
    this.body = body;
    this.status = status;
    this.items = [];
    this.verdicts = new Map();
  }

  async load() {
    this.status.textContent = t("equip.probing");
    try {
      ({ equipment: this.items } = await getJSON("/api/v1/equipment"));
      this.status.textContent = this.items.length ? "" : t("equip.none");
    } catch (err) {
      this.status.textContent = err.message;
    }
    this.draw();
  }

  draw() {
    this.body.replaceChildren(...this.items.map((item) => {
      let verdict = this.verdicts.get(item.id);
      if (!verdict) { verdict = new Verdict(item.name); this.verdicts.set(item.id, verdict); } else verdict.label(item.name);
      return el("tr", { dataset: { equipment: item.id }, class: item.probe && !item.probe.ok ? "down" : null },
        el("th", { scope: "row" }, item.name), el("td", {}, kindText(item.kind)), probeCell(item.probe), ...verdict.cells());
    }));
  }

  entries() {
    return this.items.flatMap((item) => {
      const entry = this.verdicts.get(item.id)?.entry();
      return entry ? [{ id: item.id, ...entry }] : [];
    });
  }
}
