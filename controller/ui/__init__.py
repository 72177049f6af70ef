"""What people and other programs see: the ``sdl`` CLI (``cli/``), the web dashboard
(``web/``), console and HTML reports, the terminal monitor and the 0MQ stream. Nothing
imports this room."""
