"""The `cases:` section (incidents, complaints, emergency playbooks, the berita acara) and the
roles under `access.cases`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from core.configbase import Strict
from core.roles import Role

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
CaseRole = Role
CaseKind = Literal["incident", "complaint", "emergency"]
Channel = Literal["phone", "walk_in", "message", "social_media", "radio", "other"]


def _slug(v: str) -> str:
    if not SLUG.fullmatch(v):
        raise ValueError("must be 1-64 of [a-z0-9-], not starting or ending with '-'")
    return v


class Contact(Strict):
    """Someone a case is forwarded to or a playbook calls: an agency or an officer."""

    id: str = Field(description="[a-z0-9-], unique; named by forwards and playbook steps.")
    name: str = Field(min_length=1, max_length=200, description="Who: 'Damkar Kota', 'Kapolsek Timur'.")
    kind: Literal["agency", "officer", "leadership"] = Field("agency", description="agency, officer or leadership.")
    phone: str = Field("", max_length=64, description="Number to call.")
    radio: str = Field("", max_length=64, description="Radio channel or call sign.")
    email: str = Field("", max_length=200, description="Address for written forwards.")

    _id = field_validator("id")(classmethod(lambda cls, v: _slug(v)))


class PlaybookStep(Strict):
    """One step the operator checks off, in both languages, optionally naming whom to call."""

    id: str = Field(description="[a-z0-9-], unique within the playbook.")
    text_id: str = Field(min_length=1, max_length=500, description="The step in Indonesian.")
    text_en: str = Field("", max_length=500, description="The step in English (default: the Indonesian).")
    contact: str | None = Field(None, description="A contact id of cases.directory to call at this step.")

    _id = field_validator("id")(classmethod(lambda cls, v: _slug(v)))


class OnvifInputTrigger(Strict):
    """An ONVIF digital input (or alarm) of a camera that opens the playbook when it goes active."""

    camera: str = Field(description="Camera id.")
    source: str | None = Field(None, max_length=128, description="The input's source token; none: any input of it.")


class Playbook(Strict):
    """An emergency procedure (related SOPs 1-6): what triggers it, what the wall shows, what is held,
    which steps the operator goes through, and when it escalates."""

    id: str = Field(description="[a-z0-9-], e.g. fire, ambulance, hearse, emergency, disaster, rescue, panic.")
    name_id: str = Field(min_length=1, max_length=200, description="Name in Indonesian ('Permintaan unit pemadam kebakaran').")
    name_en: str = Field("", max_length=200, description="Name in English.")
    trigger_key: str | None = Field(
        None, min_length=16, max_length=256,
        description="Secret a caller presents to POST /api/v1/triggers/{id} (e.g. a panic button's gateway); "
        "none: no HTTP trigger. Use ${VAR}.",
    )
    mqtt_topic: str | None = Field(None, max_length=256, description="Any message on this topic opens the playbook.")
    onvif_inputs: list[OnvifInputTrigger] = Field(default_factory=list, description="Camera inputs that open it.")
    cameras: list[str] = Field(default_factory=list, description="Cameras the room's walls show when it opens.")
    groups: list[str] = Field(default_factory=list, description="Camera groups shown as well.")
    steps: list[PlaybookStep] = Field(default_factory=list, description="What the operator does, in order.")
    escalate_after_s: float = Field(120, ge=5, le=86400, description="Unacknowledged this long: escalate (case.escalated).")
    dedup_s: float = Field(60, ge=0, le=86400, description="Triggers within this long of an open case of it join that case.")

    _id = field_validator("id")(classmethod(lambda cls, v: _slug(v)))

    @model_validator(mode="after")
    def _unique_steps(self) -> Playbook:
        ids = [s.id for s in self.steps]
        if len(ids) != len(set(ids)):
            raise ValueError("step ids must be unique")
        return self


class TriggerBroker(Strict):
    """The MQTT broker playbooks' `mqtt_topic` triggers are read from."""

    url: str = Field(description="mqtt://host[:1883] or mqtts://host[:8883].")
    username: str | None = Field(None, description="Broker user.")
    password: str | None = Field(None, description="Broker password (use ${VAR}).")
    client_id: str = Field("pantau-triggers", min_length=1, max_length=64, description="MQTT client id.")

    @field_validator("url")
    @classmethod
    def _scheme(cls, v: str) -> str:
        if not re.fullmatch(r"^mqtts?://[^/@\s]+(:\d+)?/?$", v):
            raise ValueError("write mqtt://host[:port] or mqtts://host[:port] (credentials in username and password)")
        return v


class CasesConfig(Strict):
    """Cases: incidents reported to leadership (SOP step 5), complaints (pengaduan), emergencies, and
    the follow-up minutes (berita acara, step 6)."""

    hold_before_min: float = Field(10, ge=0, le=24 * 60, description="An incident's hold starts this long before it.")
    hold_after_min: float = Field(10, ge=1, le=24 * 60, description="... and ends this long after; extended while open.")
    ack_timeout_s: float = Field(
        120, ge=5, le=86400, description="An incident unacknowledged this long escalates (case.escalated), again each time."
    )
    numbering: str = Field(
        "BA/CCTV/{year}/{month:02d}/{seq:04d}",
        description="Berita acara number; {year}, {month}, {seq} (per month) are filled in.",
    )
    key_path: Path | None = Field(
        None, description="Ed25519 key signing the berita acara (PEM); default data_dir/keys/berita-acara.pem."
    )
    categories: list[str] = Field(
        default_factory=lambda: ["kemacetan", "kecelakaan", "kriminalitas", "kebakaran", "banjir", "fasilitas umum",
                                 "lainnya"],
        description="Complaint categories offered and reported on.",
    )
    reporter_max_chars: int = Field(200, ge=10, le=2000, description="Longest reporter name or contact kept.")
    text_max_chars: int = Field(20_000, ge=100, le=1_000_000, description="Longest description, action or outcome.")
    directory: list[Contact] = Field(default_factory=list, description="Agencies and officers cases are forwarded to.")
    playbooks: list[Playbook] = Field(default_factory=list, description="Emergency procedures (related SOPs 1-6).")
    trigger_broker: TriggerBroker | None = Field(None, description="Broker of the playbooks' MQTT triggers.")

    @field_validator("numbering")
    @classmethod
    def _numbering(cls, v: str) -> str:
        try:
            v.format(year=2026, month=1, seq=1)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"only {{year}}, {{month}} and {{seq}} may be used: {exc}") from exc
        if "{seq" not in v:
            raise ValueError("must contain {seq} so numbers are unique")
        return v

    @model_validator(mode="after")
    def _references(self) -> CasesConfig:
        contacts = {c.id for c in self.directory}
        if len(contacts) != len(self.directory):
            raise ValueError("directory ids must be unique")
        ids = [p.id for p in self.playbooks]
        if len(ids) != len(set(ids)):
            raise ValueError("playbook ids must be unique")
        for p in self.playbooks:
            for s in p.steps:
                if s.contact is not None and s.contact not in contacts:
                    raise ValueError(f"playbook {p.id!r} step {s.id!r} names contact {s.contact!r}, not in cases.directory")
            if p.mqtt_topic is not None and self.trigger_broker is None:
                raise ValueError(f"playbook {p.id!r} has an mqtt_topic but cases.trigger_broker is not set")
        return self


class CaseRules(Strict):
    """Who does what with cases (policy/decision.py R17-R20)."""

    open_roles: list[CaseRole] = Field(
        default=["operator", "supervisor"], description="Roles that raise incidents, file complaints, open emergencies."
    )
    handle_roles: list[CaseRole] = Field(
        default=["operator", "supervisor"],
        description="Roles that acknowledge, forward, follow up, check off steps, resolve and amend.",
    )
    close_roles: list[CaseRole] = Field(
        default=["supervisor"], description="Roles that close a case with its berita acara (leadership)."
    )
    read_roles: list[CaseRole] = Field(
        default=["operator", "supervisor", "admin", "auditor"], description="Roles that read cases and their minutes."
    )
    reporter_roles: list[CaseRole] = Field(
        default=["operator", "supervisor", "auditor"],
        description="Roles that see a complainant's name and contact (personal data, UU PDP 27/2022).",
    )
