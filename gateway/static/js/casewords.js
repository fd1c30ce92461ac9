// The words of cases in the page's language (kinds, states, severities, channels, timeline events)
// and the clock of an unacknowledged case: when it escalates next. The keys are written out here,
// not built from the API's values, so a value the gateway adds later shows as itself.
import { t } from "./i18n.js";

const KINDS = { incident: "cases.kindIncident", complaint: "cases.kindComplaint", emergency: "cases.kindEmergency" };
const STATES = {
  opened: "cases.stateOpened", acknowledged: "cases.stateAcknowledged", forwarded: "cases.stateForwarded",
  followed_up: "cases.stateFollowedUp", resolved: "cases.stateResolved", closed: "cases.stateClosed",
};
const SEVERITIES = { low: "cases.sevLow", medium: "cases.sevMedium", high: "cases.sevHigh", critical: "cases.sevCritical" };
// How a complaint came in (core/casesconfig.py Channel) and how a case is passed on (cases/forms.py).
const CHANNELS = {
  phone: "cases.chPhone", walk_in: "cases.chWalkIn", message: "cases.chMessage", social_media: "cases.chSocial",
  radio: "cases.chRadio", other: "cases.chOther",
};
const FORWARD_CHANNELS = {
  phone: "cases.chPhone", radio: "cases.chRadio", email: "cases.chEmail", letter: "cases.chLetter",
  in_person: "cases.chInPerson", message: "cases.chMessage", other: "cases.chOther",
};
const EVENTS = {
  opened: "cases.evOpened", acknowledged: "cases.evAcknowledged", escalated: "cases.evEscalated",
  forwarded: "cases.evForwarded", followed_up: "cases.evFollowedUp", step_done: "cases.evStepDone",
  hold_placed: "cases.evHoldPlaced", resolved: "cases.evResolved", closed: "cases.evClosed",
  amended: "cases.evAmended", triggered: "cases.evTriggered", snapshot_taken: "cases.evSnapshot",
};

export const SEVERITY_ORDER = Object.keys(SEVERITIES);
export const CHANNEL_ORDER = Object.keys(CHANNELS);
export const FORWARD_CHANNEL_ORDER = Object.keys(FORWARD_CHANNELS);
export const OPEN_STATES = new Set(["opened", "acknowledged", "forwarded", "followed_up", "resolved"]);
export const WORKING_STATES = new Set(["acknowledged", "forwarded", "followed_up"]);
// Who raises and handles cases (access.cases' defaults; the gateway has the last word).
export const CASE_ROLES = new Set(["operator", "supervisor"]);

const word = (table, value) => (table[value] ? t(table[value]) : value || "–");
export const kindText = (kind) => word(KINDS, kind);
export const stateText = (state) => word(STATES, state);
export const severityText = (severity) => word(SEVERITIES, severity);
export const channelText = (channel) => word(CHANNELS, channel);
export const forwardChannelText = (channel) => word(FORWARD_CHANNELS, channel);
export const eventText = (kind) => word(EVENTS, kind);

// A playbook's name in the page's language.
export function playbookName(playbook, language) {
  if (!playbook) return "";
  return (language === "en" ? playbook.name_en : playbook.name_id) || playbook.name_id || playbook.name_en || playbook.id;
}

// A playbook step's text in the page's language.
export function stepText(step, language) {
  return (language === "en" ? step.text_en : step.text_id) || step.text_id || step.text_en || step.id;
}

// How long an unacknowledged case waits before (the next) escalation, in seconds: its playbook's
// escalate_after_s for an emergency, else cases.ack_timeout_s; null when neither is known.
export function ackWindowS(c, { ackTimeoutS = null, playbooks = [] } = {}) {
  const playbook = c.playbook ? playbooks.find((p) => p.id === c.playbook) : null;
  if (playbook && Number.isFinite(playbook.escalate_after_s)) return playbook.escalate_after_s;
  return Number.isFinite(ackTimeoutS) ? ackTimeoutS : null;
}

// When an unacknowledged case escalates next (ms since the epoch), or null: acknowledged, or no
// window known. The gateway (cases/watch.py) escalates one window after the last escalation, or
// after the opening; without last_escalated_at, N escalations put the next N + 1 windows after it.
export function escalationDue(c, rules) {
  if (c.state !== "opened") return null;
  const window = ackWindowS(c, rules);
  if (window === null) return null;
  if (c.last_escalated_at) return Date.parse(c.last_escalated_at) + window * 1000;
  return Date.parse(c.opened_at) + ((c.escalations || 0) + 1) * window * 1000;
}
