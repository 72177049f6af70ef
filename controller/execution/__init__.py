"""The controller's execution room (see controller/__init__.py)."""
