"""Tests of reports/: the document model and its PDF rendering, read back with poppler."""
