"""The record store and what it keeps.

``samples`` (the Sample and its process steps, JSON round trips), ``store`` (the
:class:`RecordStore` facade: campaigns, samples, documents, events, operator decisions),
``backends`` (SQLite and PostgreSQL), ``migrations`` (Alembic), ``location`` (where a store
lives), ``opening`` (:func:`open_store`, used by every command) and ``history`` (the
optimizer's history frame and the export table). Nothing here imports the config
loader, the loop, the executors or the user interfaces.
"""
