"""The controller's analysis room (see controller/__init__.py)."""
