"""The controller's loop room (see controller/__init__.py)."""
