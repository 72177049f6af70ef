"""The controller's config room (see controller/__init__.py)."""
