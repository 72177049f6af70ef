#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on loopback for the record-store tests.
#
#   eval "$(bash .ci/postgres.sh start)"   # prints: export SDL_TEST_POSTGRES_URL=postgresql://...
#   bash .ci/postgres.sh restart           # restarts it: same data directory, port and URL
#   bash .ci/postgres.sh stop              # stops it and deletes its files
#
# Installs nothing: it needs Debian's `postgresql` package (initdb, pg_ctl under
# /usr/lib/postgresql/<version>/bin). PostgreSQL refuses to run as root, so as root the
# server runs as the `postgres` user the package creates. The cluster lives in
# $SDL_PG_DIR (default: a folder in $TMPDIR), listens on 127.0.0.1 on a free port,
# with a password-protected superuser `sdl` (the tests create and drop one database per
# test) and fsync off: it holds test data only.
set -euo pipefail

DIR="${SDL_PG_DIR:-${TMPDIR:-/tmp}/sdl-ci-postgres}"
DATA="$DIR/data"

bindir() {
    if [[ -n "${PG_BINDIR:-}" ]]; then echo "$PG_BINDIR"; return; fi
    local found
    found="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
    if [[ -z "$found" ]]; then
        echo "postgres.sh: no PostgreSQL server found under /usr/lib/postgresql (apt-get install -y postgresql)" >&2
        exit 1
    fi
    echo "$found"
}

as_server_user() {
    if [[ "$(id -u)" == 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start() {
    local bin port password url
    bin="$(bindir)"
    if [[ -f "$DIR/url" ]] && as_server_user "$bin/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
        echo "export SDL_TEST_POSTGRES_URL=$(cat "$DIR/url")"
        return
    fi
    rm -rf "$DIR"
    mkdir -p "$DIR"
    password="$(python3 -c 'import secrets; print(secrets.token_hex(12))')"
    printf '%s\n' "$password" > "$DIR/pwfile"
    if [[ "$(id -u)" == 0 ]]; then
        chown -R postgres: "$DIR"
    fi
    chmod 700 "$DIR"
    as_server_user "$bin/initdb" -D "$DATA" -U sdl --pwfile="$DIR/pwfile" --auth-local=trust \
        --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$DIR/initdb.log" 2>&1 \
        || { cat "$DIR/initdb.log" >&2; exit 1; }
    rm -f "$DIR/pwfile"
    port="$(free_port)"
    as_server_user "$bin/pg_ctl" -D "$DATA" -l "$DIR/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories='$DIR' -c fsync=off -c full_page_writes=off -c max_connections=200" \
        start >/dev/null || { cat "$DIR/server.log" >&2; exit 1; }
    as_server_user "$bin/createdb" -h "$DIR" -p "$port" -U sdl sdl_test
    url="postgresql://sdl:$password@127.0.0.1:$port/sdl_test"
    printf '%s\n' "$url" > "$DIR/url"
    chmod 600 "$DIR/url"
    echo "export SDL_TEST_POSTGRES_URL=$url"
}

restart() {
    local bin
    bin="$(bindir)"
    if [[ ! -f "$DIR/url" ]]; then
        echo "postgres.sh: no cluster in $DIR to restart; start one first" >&2
        exit 1
    fi
    # pg_ctl restart reuses the options the server was started with (port, socket, fsync)
    as_server_user "$bin/pg_ctl" -D "$DATA" -l "$DIR/server.log" -m fast -w -t 60 restart >/dev/null \
        || { cat "$DIR/server.log" >&2; exit 1; }
}

stop() {
    local bin
    bin="$(bindir)"
    if [[ -d "$DATA" ]]; then
        as_server_user "$bin/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$DIR"
}

case "${1:-}" in
    start) start ;;
    restart) restart ;;
    stop) stop ;;
    *) echo "usage: $0 start|restart|stop" >&2; exit 2 ;;
esac
