"""What the command groups share."""

STORE_HELP = ("record store: a SQLite file or a database URL (postgresql://USER@HOST:PORT/DATABASE); "
              "default: $SDL_STORE or runs/sdl.sqlite")
