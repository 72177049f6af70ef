"""Versioned schema migrations of the record store (Alembic), run by the store when it opens.

``versions/NNNN_*.py`` are applied in order; the store's ``alembic_version`` table says
which one it is at. A new schema change is a new file here (``revision = "0003"``,
``down_revision = "0002"``) plus ``HEAD_REVISION`` in ``controller/store.py``.
"""
