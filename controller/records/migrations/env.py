"""Alembic environment of the record store.

:class:`controller.records.store.RecordStore` runs the migrations itself when it opens a store:
it passes an open SQLAlchemy connection in ``config.attributes["connection"]``, already
inside the transaction that holds the migration lock, so every migration and the version
stamp commit together or not at all.
"""

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("the record store's migrations run when the store is opened "
                       "(controller.records.store.RecordStore(URL)); they take no database URL of their own")

context.configure(connection=connection, target_metadata=None)
with context.begin_transaction():  # a no-op inside the store's transaction
    context.run_migrations()
