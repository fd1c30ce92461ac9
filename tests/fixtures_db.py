"""Fixtures for the database backends (SQLite file, real PostgreSQL)."""
