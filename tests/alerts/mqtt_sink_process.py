"""An MQTT sink alone in a process, until killed: the Last Will test SIGKILLs it.

python -m tests.alerts.mqtt_sink_process URL PREFIX CLIENT_ID
"""

from __future__ import annotations

import asyncio
import sys

from alerts.mqtt import MqttSink
from core.alertsconfig import MqttConfig


async def main(url: str, prefix: str, client_id: str) -> None:
    await MqttSink(MqttConfig(url=url, topic_prefix=prefix, client_id=client_id)).run()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
