// Who is on duty, for the wall's toolbar: "On duty: Sari (Pagi)" from GET /api/v1/shifts/current,
// every 30 s; nothing when nobody is (or when the role may not know).
import { getJSON } from "./api.js";
import { t } from "./i18n.js";

const REFRESH_MS = 30_000;

export function dutyText(onDuty) {
  if (!onDuty?.length) return "";
  const people = onDuty.map((d) => (d.slot ? `${d.operator} (${d.slot})` : d.operator)).join(", ");
  return t("duty.onDuty", { people });
}

export function followDuty(node) {
  let last = [];
  const draw = () => {
    node.textContent = dutyText(last);
    node.hidden = !node.textContent;
    node.dataset.count = String(last.length); // asked at least once: how many are on duty
  };
  const refresh = async () => {
    try {
      ({ on_duty: last } = await getJSON("/api/v1/shifts/current"));
    } catch {
      last = []; // a viewer's role may be left out of desk.duty_roles: then the wall says nothing
    }
    draw();
  };
  document.addEventListener("pantau:lang", draw);
  const timer = setInterval(() => { if (document.visibilityState === "visible") refresh(); }, REFRESH_MS);
  document.addEventListener("pantau:revoked", () => clearInterval(timer)); // a revoked display asks nothing more
  return refresh();
}
