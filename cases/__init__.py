"""Cases: what the room does when something happens. Incidents reported to leadership (SOP step 5),
complaints received and forwarded (pengaduan), emergencies run from playbooks (the related SOPs)
and opened by triggers (HTTP with a key, MQTT, camera inputs; `triggers.TriggerGate`),
one lifecycle for all three, evidence holds over their cameras, escalation, and the berita acara
(step 6) printed and signed. Every transition is an insert-only event, hashed and in the access log."""
