"""ONVIF event topics -> Pantau's event kinds, through onvif-parsers rather than our own vendor tables.

onvif-parsers (the parser set Home Assistant's ONVIF integration uses) knows the standard
topics and the vendor ones it has met in the field (Hikvision, Tapo, Reolink, Ajax, ...); it
labels each with a name and a device class, which we map to our few kinds. A topic it does
not know is kept as `other` with its raw topic, never dropped.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping
from typing import Any

import onvif_parsers
from onvif_parsers.errors import UnknownTopicError

log = logging.getLogger(__name__)


class EventKind(enum.StrEnum):
    MOTION = "motion"
    TAMPER = "tamper"
    VIDEO_LOSS = "video_loss"
    DIGITAL_INPUT = "digital_input"
    OTHER = "other"


# Topics of the ONVIF specification itself that onvif-parsers 2.5 has no parser for. Video
# loss is ONVIF Core's tns1:VideoSource/SignalLoss (Source: VideoSource token, Data: State).
SPEC_TOPICS: Mapping[str, EventKind] = {
    "tns1:VideoSource/SignalLoss": EventKind.VIDEO_LOSS,
}
TRUE = frozenset({"true", "1", "active", "on", "yes"})
FALSE = frozenset({"false", "0", "inactive", "off", "no"})


def normalize_topic(topic: str) -> str:
    """The topic without the trailing "/", "//." some cameras append (Home Assistant does the same)."""
    return topic.strip().rstrip("/.")


def state_of(data: Mapping[str, str]) -> bool:
    """Whether a message's data says "active": its first boolean-looking item; a plain happening is active."""
    for value in data.values():
        text = str(value).strip().lower()
        if text in TRUE:
            return True
        if text in FALSE:
            return False
    return True


def _kind(name: str, device_class: str | None) -> EventKind:
    if device_class == "motion":
        return EventKind.MOTION
    # onvif-parsers labels the standard RuleEngine/TamperDetector "Tamper Detection" with
    # device class "problem", and Tapo's tamper rule with device class "tamper".
    if device_class == "tamper" or name == "Tamper Detection":
        return EventKind.TAMPER
    if name == "Digital Input":
        return EventKind.DIGITAL_INPUT
    return EventKind.OTHER


async def classify(topic: str, message: Any, data: Mapping[str, str]) -> tuple[EventKind, bool]:
    """Kind and active state of one NotificationMessage (a zeep object; `topic` normalised)."""
    if topic in SPEC_TOPICS:
        return SPEC_TOPICS[topic], state_of(data)
    try:
        entities = await onvif_parsers.parse(topic, "pantau", message)
    except UnknownTopicError:
        return EventKind.OTHER, state_of(data)
    except (AttributeError, KeyError, IndexError, TypeError, ValueError) as exc:
        # A known topic in a shape the parser did not expect (a vendor's variation).
        log.debug("onvif-parsers could not read %s: %s", topic, exc)
        return EventKind.OTHER, state_of(data)
    if not entities:
        return EventKind.OTHER, state_of(data)
    entity = entities[0]
    kind = _kind(entity.name, entity.device_class)
    active = entity.value if isinstance(entity.value, bool) else state_of(data)
    return kind, active
