"""The controller's ui room (see controller/__init__.py)."""
