"""Restreaming the cameras to the city's other systems (an NVR, a VMS, an analytics box).

Offers `RtspRestream` (service.py): GStreamer's RTSP server, one mount per camera stream
(`/CAMERA_ID`, `/CAMERA_ID/sub`), fed from the cameras' hubs without transcoding, RTSP Digest
against the integrator accounts' device secrets, visibility by `policy.decide()`, every session and
refusal in the access log. `gi` (PyGObject and GStreamer's typelibs) is imported only by the modules
that need it, and the gateway imports them only when `restream.rtsp.enabled`.
"""
