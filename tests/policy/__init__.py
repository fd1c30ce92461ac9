"""Tests of policy/: the access log and its parts."""
