"""The ONVIF device facade: Pantau as an ONVIF device (Profile S, and G) that an NVR or VMS adds like a camera.

Offers `OnvifServer` (facade.py: one SOAP call in, one answer out; WS-UsernameToken against the
integrator accounts, usernametoken.py; the device service, device.py; the media service with one
profile per visible camera stream and the RTSP restream's URLs, media.py and profiles.py; policy
decisions and their access-log entries, access.py; PTZ passed through to the cameras through the
gateway's `CameraPtz`, ptz.py; the hardened SOAP parser, soap.py) and
`DiscoveryService` (discovery.py: the WS-Discovery responder, run by the gateway).

PullPoint subscriptions relaying camera states and alarms: events.py (fed by the gateway). Profile G:
the search service over the sealed segments, recordings.py, with each recording's spans and gaps as
FindEvents tells them, recordinghistory.py; the replay service, replay.py, handing out the RTSP
restream's replay URLs (the restream, restream/, serves the replay itself).

The snapshot URLs GetSnapshotUri hands out are checked by HTTP Digest or Basic: httpdigest.py.

Not served yet: Media2, Profile G's recording control service.
"""
