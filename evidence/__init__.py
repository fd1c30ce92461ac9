"""Evidence out of Pantau: bundles an outside party verifies offline, and the recorder's custody entries in the access log."""
