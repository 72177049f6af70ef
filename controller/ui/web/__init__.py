"""The controller's ui web room (see controller/__init__.py)."""
