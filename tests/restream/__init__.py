"""Tests of restream/: the RTSP restream of the cameras."""
