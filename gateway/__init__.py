"""The composition root, CLI, config loading and the HTTP application."""
