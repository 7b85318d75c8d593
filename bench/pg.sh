# Sourced by bench/scaleout.sh and bench/follow.sh: a throwaway PostgreSQL
# cluster from Debian's package (default settings, fsync on) in $tmp/pg,
# role thau (trust), listening on 127.0.0.1:$1 and a socket in $tmp/pg.
# Sourcing it checks that PostgreSQL is installed.
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$pg_bin/postgres" ] || { echo "needs postgresql (apt-get install postgresql)" >&2; exit 2; }
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
start_postgres() {
  mkdir "$tmp/pg"
  [ "$(id -u)" = 0 ] && chown postgres "$tmp/pg"
  as_postgres "$pg_bin/initdb" -D "$tmp/pg/data" -A trust -U thau -E UTF8 >/dev/null
  as_postgres "$pg_bin/pg_ctl" -D "$tmp/pg/data" -l "$tmp/pg/log" -w -o \
    "-c listen_addresses=127.0.0.1 -p $1 -k $tmp/pg" start >/dev/null
}
stop_postgres() { as_postgres "$pg_bin/pg_ctl" -D "$tmp/pg/data" -m fast stop >/dev/null 2>&1 || true; }
