"""The running cameras: the fleet, the cameras onboarded through the API, and their state history."""

from fleet.camerafleet import CameraFleet
from fleet.camerastore import CameraStore
from fleet.statealerts import StateAlerts
from fleet.statushistory import StatusLog

__all__ = [
    "CameraFleet",
    "CameraStore",
    "StateAlerts",
    "StatusLog",
]
