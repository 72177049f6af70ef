"""``sdl serve``: the dashboard's FastAPI app (``app``), its routers (``views``, ``events``,
``control``), what they share (``common``) and the middleware in front of them (``guard``)."""
