#!/usr/bin/env bash
# A publisher on a large PostgreSQL store while one poller writes: what
# following the writes costs it. BASE sources (20 items each) are polled
# into the database first; then a `--role publisher` instance starts on it,
# and one `--role poller` makes its first pass over BASE + NEW sources (the
# BASE ones answer 304, the NEW ones bring 20 stories each). Reported: the
# publisher's CPU seconds from the poller's start until it shows every
# stored entry (`thau_entries` in /metrics), and how long after the pass
# that was.
#
# With BASELINE_BIN set, the same run is made with that binary too, on its
# own database (a thau built from an earlier commit, say), and the ratio
# printed: same machine, same run.
#
# usage: bench/follow.sh [BASE] [NEW]       (defaults: 10000 sources, 1000)
# needs: nginx, postgresql (Debian), python3
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:-10000}
new=${2:-1000}
n=$((base + new))
. bench/pg.sh
command -v nginx >/dev/null || { echo "needs nginx" >&2; exit 2; }

cargo build --release -q --bin thau
target=${CARGO_TARGET_DIR:-target}
thau=$(realpath "${THAU_BIN:-$target/release/thau}")
tmp=$(mktemp -d)
chmod 755 "$tmp"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  nginx -c "$tmp/nginx.conf" -s stop 2>/dev/null || true
  stop_postgres
  rm -rf "$tmp"
}
trap cleanup EXIT

pg_port=18096
start_postgres "$pg_port"
psql_() { psql -h 127.0.0.1 -p "$pg_port" -U thau -d "$1" -qAtc "$2" 2>/dev/null || echo 0; }

port=18097
. bench/origin.sh
serve_generated_feeds "$n" "$port"

# $1: how many sources, $2: the database
config() {
  echo "[server]"; echo "listen = \"127.0.0.1:18098\""; echo "base_url = \"http://thau.bench\""
  echo "[store]"; echo "backend = \"postgres\""; echo "url = \"postgres://thau@127.0.0.1:$pg_port/$2\""
  echo "[poll]"; echo "concurrency = 64"; echo "timeout = \"60s\""; echo "jitter = \"0s\""
  echo "schedule = \"0 0 3 * * *\""
  for t in Sète Mèze Agde Montbazin Marseillan Balaruc Frontignan Bouzigues; do
    slug=$(echo "$t" | iconv -f utf-8 -t ascii//TRANSLIT | tr 'A-Z' 'a-z')
    printf '[[sections]]\nslug = "%s"\ntitle = "%s"\ncategories = ["%s"]\n' "$slug" "$t" "$t"
  done
  for s in $(seq 0 $(($1 - 1))); do
    printf '[[sources]]\nname = "s%d"\nurl = "http://127.0.0.%d:%d/feed-%d.xml"\n' "$s" $((s % 32 + 1)) "$port" "$s"
  done
}
now() { date +%s.%N; }
entries() { psql_ "$1" "SELECT count(*) FROM thau_kv WHERE k >= '\\x6500'::bytea AND k < '\\x6501'::bytea"; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# rows the database read for its clients (every client: the poller's too)
rows_read() { psql_ "$1" "SELECT tup_returned + tup_fetched FROM pg_stat_database WHERE datname = current_database()"; }

# $1: the binary, $2: a database name. Prints: CPU seconds, lag seconds, entries.
run() {
  local bin=$1 db=$2
  psql_ postgres "CREATE DATABASE $db" > /dev/null
  config "$base" "$db" > "$tmp/base-$db.toml"
  config "$n" "$db" > "$tmp/all-$db.toml"
  "$bin" --config "$tmp/base-$db.toml" poll > /dev/null 2> "$tmp/fill-$db.err"
  "$bin" --config "$tmp/all-$db.toml" serve --role publisher > /dev/null 2> "$tmp/publisher-$db.err" &
  local publisher=$!; pids+=("$publisher")
  until curl -sf "http://127.0.0.1:18098/healthz" 2>/dev/null | grep -q '"ready": true'; do sleep 0.1; done
  local before; before=$(ticks "$publisher")
  local rows_before; rows_before=$(rows_read "$db")
  local cpu_before; cpu_before=$(head -1 /proc/stat)
  "$bin" --config "$tmp/all-$db.toml" serve --role poller > /dev/null 2> "$tmp/poller-$db.err" &
  local poller=$!; pids+=("$poller")
  # The pass is over once the NEW sources' stories are all stored.
  until [ "$(entries "$db")" -ge $((n * 20)) ]; do sleep 0.1; done
  local done_at; done_at=$(now)
  kill "$poller"; wait "$poller" 2>/dev/null || true
  local stored; stored=$(entries "$db")
  until [ "$(curl -s http://127.0.0.1:18098/metrics | awk '$1 == "thau_entries" {print $2}')" = "$stored" ]; do sleep 0.05; done
  local lag; lag=$(python3 -c "print(f'{$(now) - $done_at:.2f}')")
  local cpu; cpu=$(python3 -c "print(f'{($(ticks "$publisher") - $before) / $(getconf CLK_TCK):.2f}')")
  sleep 1.5 # (PostgreSQL publishes its counters within a second)
  local rows; rows=$(( $(rows_read "$db") - rows_before ))
  local busy; busy=$(python3 -c "
a = [int(x) for x in '$cpu_before'.split()[1:]]
b = [int(x) for x in '$(head -1 /proc/stat)'.split()[1:]]
d = [y - x for x, y in zip(a, b)]
print(f'{(sum(d) - d[3] - d[4]) / $(getconf CLK_TCK):.1f}')")
  kill "$publisher"; wait "$publisher" 2>/dev/null || true
  pids=()
  echo "$cpu $lag $stored $rows $busy"
}

read -r cpu lag stored rows busy < <(run "$thau" thau_now)
echo "this thau: a publisher on $base sources' entries, following one poller that stored $((new * 20)) more: ${cpu}s CPU, all $stored shown ${lag}s after the pass; the database read $rows rows; the machine used ${busy} CPU s in all"
if [ -n "${BASELINE_BIN:-}" ]; then
  read -r bcpu blag bstored brows bbusy < <(run "$(realpath "$BASELINE_BIN")" thau_baseline)
  echo "baseline ($BASELINE_BIN): ${bcpu}s CPU, all $bstored shown ${blag}s after the pass; the database read $brows rows; the machine used ${bbusy} CPU s in all"
  r() { python3 -c "print(f'{$1 / $2:.2f}')"; }
  echo "ratio to the baseline: publisher CPU $(r "$cpu" "$bcpu")x, lag $(r "$lag" "$blag")x, rows read $(r "$rows" "$brows")x, machine CPU $(r "$busy" "$bbusy")x"
fi
