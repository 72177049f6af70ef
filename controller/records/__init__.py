"""The controller's records room (see controller/__init__.py)."""
