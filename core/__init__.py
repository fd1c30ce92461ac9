"""Leaf package: database base, shared config models, clock, errors, ids. Imports nothing of Pantau's."""
