"""Headless subcommands of the ``stethodesk`` CLI (one module each)."""
