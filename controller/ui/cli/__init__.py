"""The controller's ui cli room (see controller/__init__.py)."""
