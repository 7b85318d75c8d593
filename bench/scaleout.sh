#!/usr/bin/env bash
# Scale-out benchmark (PostgreSQL backend): N generated sources (20 items,
# ~29 KB each) served by nginx from 32 loopback hosts.
#  1. One instance, `thau poll` of every source into an empty store: sled
#     against PostgreSQL, in the same run (sources per second, ratio).
#  2. `thau serve --role poller`: the first pass over every source (all due
#     at once, jitter 0) by 1 poller pinned to core 0, then by 2 pollers
#     pinned to cores 0 and 1 (taskset), on an emptied database each time;
#     done when every source's fetch state is in the store.
# PostgreSQL is a throwaway cluster from Debian's package (default settings,
# fsync on), started here and stopped at the end.
#
# usage: bench/scaleout.sh [N] [ROUNDS]     (defaults: 1000 sources, 3 rounds)
# needs: nginx, postgresql (Debian), python3, taskset, GNU time
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000}
rounds=${2:-3}
command -v nginx >/dev/null || { echo "needs nginx" >&2; exit 2; }
. bench/pg.sh

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

pg_port=18092
start_postgres "$pg_port"
psql_() { psql -h 127.0.0.1 -p "$pg_port" -U thau -d postgres -qAtc "$1"; }
export THAU_DATABASE_URL="postgres://thau@127.0.0.1:$pg_port/thau"
fresh_db() { psql_ "DROP DATABASE IF EXISTS thau WITH (FORCE)"; psql_ "CREATE DATABASE thau"; }

port=18090
. bench/origin.sh
serve_generated_feeds "$n" "$port"

# $1: the [store] table's lines
config() {
  echo "[server]"; echo "listen = \"127.0.0.1:0\""; echo "base_url = \"http://thau.bench\""
  echo "[store]"; printf '%s\n' "$1"
  echo "[poll]"; echo "concurrency = 64"; echo "timeout = \"60s\""; echo "jitter = \"0s\""
  echo "schedule = \"0 0 3 * * *\""
  for t in Sète Mèze Agde Montbazin Marseillan Balaruc Frontignan Bouzigues; do
    slug=$(echo "$t" | iconv -f utf-8 -t ascii//TRANSLIT | tr 'A-Z' 'a-z')
    printf '[[sections]]\nslug = "%s"\ntitle = "%s"\ncategories = ["%s"]\n' "$slug" "$t" "$t"
  done
  for s in $(seq 0 $((n - 1))); do
    printf '[[sources]]\nname = "s%d"\nurl = "http://127.0.0.%d:%d/feed-%d.xml"\n' "$s" $((s % 32 + 1)) "$port" "$s"
  done
}
config "path = \"$tmp/store\"" > "$tmp/sled.toml"
config "$(printf 'backend = "postgres"\nurl = "$THAU_DATABASE_URL"\nconnections = %s' "${CONNECTIONS:-8}")" > "$tmp/pg.toml"

now() { date +%s.%N; }
rate() { python3 -c "print(f'{$n / $1:.0f}')"; }
ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
median() { python3 -c "import statistics,sys; print(statistics.median(float(x) for x in sys.argv[1:]))" "$@"; }
timed() {
  /usr/bin/time -f "%e" -o "$tmp/time" "$@" > "$tmp/out" 2> "$tmp/err" || { cat "$tmp/err" >&2; tail -3 "$tmp/out" >&2; }
  cat "$tmp/time"
}
# seconds until every source's fetch state is stored, with $1 pollers
pollers() {
  fresh_db
  "$thau" --config "$tmp/pg.toml" check > /dev/null
  psql -h 127.0.0.1 -p "$pg_port" -U thau -d thau -qc "SELECT 1" > /dev/null
  local start; start=$(now)
  cpu_before=$(head -1 /proc/stat)
  pids=()
  for c in $(seq 0 $(($1 - 1))); do
    taskset -c "$c" "$thau" --config "$tmp/pg.toml" serve --role poller > "$tmp/poller-$c.out" 2> "$tmp/poller-$c.err" &
    pids+=($!)
  done
  until [ "$(psql -h 127.0.0.1 -p "$pg_port" -U thau -d thau -qAtc \
      "SELECT count(*) FROM thau_kv WHERE k >= '\\x6600'::bytea AND k < '\\x6601'::bytea" 2>/dev/null || echo 0)" -ge "$n" ]; do
    sleep 0.05
  done
  local took; took=$(python3 -c "print(f'{$(now) - $start:.2f}')")
  # how busy the machine's cores were meanwhile (all processes: thau,
  # PostgreSQL, nginx), from /proc/stat
  busy=$(python3 -c "
a = [int(x) for x in '$cpu_before'.split()[1:]]
b = [int(x) for x in '$(head -1 /proc/stat)'.split()[1:]]
d = [y - x for x, y in zip(a, b)]
idle = d[3] + d[4]
print(f'{100 * (sum(d) - idle) / sum(d):.0f}')")
  # CPU seconds the pollers themselves used
  local ticks=0
  for p in "${pids[@]}"; do ticks=$((ticks + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done
  echo "$took $busy $(python3 -c "print(f'{$ticks / $(getconf CLK_TCK):.2f}')")"
  for p in "${pids[@]}"; do kill "$p"; wait "$p" 2>/dev/null || true; done
  pids=()
}

sled=(); pg=(); one=(); two=()
for r in $(seq 1 "$rounds"); do
  rm -rf "$tmp/store"
  ts=$(timed "$thau" --config "$tmp/sled.toml" poll)
  fresh_db
  tp=$(timed "$thau" --config "$tmp/pg.toml" poll)
  read -r t1 b1 c1 < <(pollers 1)
  read -r t2 b2 c2 < <(pollers 2)
  sled+=("$ts"); pg+=("$tp"); one+=("$t1"); two+=("$t2")
  echo "round $r: thau poll on sled ${ts}s ($(rate "$ts")/s), on PostgreSQL ${tp}s ($(rate "$tp")/s) = $(ratio "$ts" "$tp")x sled's rate;" \
       "1 poller ${t1}s ($(rate "$t1")/s, cores ${b1}% busy, poller CPU ${c1}s), 2 pollers ${t2}s ($(rate "$t2")/s, cores ${b2}% busy, pollers' CPU ${c2}s) = $(ratio "$t1" "$t2")x one"
done
echo "summary ($n sources, $rounds rounds, medians): PostgreSQL $(ratio "$(median "${sled[@]}")" "$(median "${pg[@]}")")x sled's rate for one instance;" \
     "2 pollers $(ratio "$(median "${one[@]}")" "$(median "${two[@]}")")x one poller"

# A publisher that follows one poller's first pass over every source, on an
# emptied database: the CPU seconds it used until it shows every stored
# entry (thau_entries in /metrics), and how long after the pass that was.
following() {
  fresh_db
  "$thau" --config "$tmp/pg.toml" check > /dev/null
  sed 's/^listen = .*/listen = "127.0.0.1:18095"/' "$tmp/pg.toml" > "$tmp/follow.toml"
  "$thau" --config "$tmp/follow.toml" serve --role publisher > /dev/null 2> "$tmp/follow.err" &
  local publisher=$!
  until curl -sf "http://127.0.0.1:18095/healthz" 2>/dev/null | grep -q '"ready": true'; do sleep 0.05; done
  local before; before=$(awk '{print $14 + $15}' "/proc/$publisher/stat")
  "$thau" --config "$tmp/pg.toml" serve --role poller > /dev/null 2> "$tmp/follow-poller.err" &
  local poller=$!
  until [ "$(psql_db "SELECT count(*) FROM thau_kv WHERE k >= '\\x6600'::bytea AND k < '\\x6601'::bytea")" -ge "$n" ]; do
    sleep 0.05
  done
  local done_at; done_at=$(now)
  kill "$poller"; wait "$poller" 2>/dev/null || true
  local stored; stored=$(psql_db "SELECT count(*) FROM thau_kv WHERE k >= '\\x6500'::bytea AND k < '\\x6501'::bytea")
  until [ "$(curl -s http://127.0.0.1:18095/metrics | awk '$1 == "thau_entries" {print $2}')" = "$stored" ]; do sleep 0.05; done
  local lag; lag=$(python3 -c "print(f'{$(now) - $done_at:.2f}')")
  local ticks=$(( $(awk '{print $14 + $15}' "/proc/$publisher/stat") - before ))
  kill "$publisher"; wait "$publisher" 2>/dev/null || true
  echo "$(python3 -c "print(f'{$ticks / $(getconf CLK_TCK):.2f}')") $lag $stored"
}
psql_db() { psql -h 127.0.0.1 -p "$pg_port" -U thau -d thau -qAtc "$1" 2>/dev/null || echo 0; }
for r in $(seq 1 "$rounds"); do
  read -r cpu lag stored < <(following)
  echo "round $r: a publisher following 1 poller's pass over $n sources used ${cpu}s CPU, showed all $stored entries ${lag}s after the pass"
done

# Two publishers on the database the last round's pollers filled: time to
# every section rendered, and whether they serve the same bytes and ETags.
sed -i 's/^listen = .*/listen = "127.0.0.1:18093"/' "$tmp/pg.toml"
sed 's/^listen = .*/listen = "127.0.0.1:18094"/' "$tmp/pg.toml" > "$tmp/pg2.toml"
start=$(now)
"$thau" --config "$tmp/pg.toml" serve --role publisher > /dev/null 2> "$tmp/pub1.err" & pids+=($!)
"$thau" --config "$tmp/pg2.toml" serve --role publisher > /dev/null 2> "$tmp/pub2.err" & pids+=($!)
for p in 18093 18094; do
  until curl -sf "http://127.0.0.1:$p/healthz" 2>/dev/null | grep -q '"ready": true'; do sleep 0.05; done
done
ready=$(python3 -c "print(f'{$(now) - $start:.2f}')")
same=0; differ=0
for path in /feed.xml /atom.xml /feed.json $(for t in sete meze agde montbazin marseillan balaruc frontignan bouzigues; do echo "/sections/$t/rss.xml /sections/$t/atom.xml /sections/$t/feed.json"; done); do
  a=$(curl -s -D - "http://127.0.0.1:18093$path" | grep -iv '^date:' | sha1sum)
  b=$(curl -s -D - "http://127.0.0.1:18094$path" | grep -iv '^date:' | sha1sum)
  if [ "$a" = "$b" ]; then same=$((same + 1)); else differ=$((differ + 1)); fi
done
echo "2 publishers on $n sources: every section rendered after ${ready}s; $same feeds identical (headers and body), $differ differ"
