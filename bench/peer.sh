#!/usr/bin/env bash
# thau beside the peer a Python user would pick instead: the `reader`
# library (SQLite store; bench/reader_peer.py), on the same N generated feeds
# of 20 items served by nginx from 32 loopback hosts, each polling every feed
# once into an empty store, alternated in each round. Per round and as
# medians: wall seconds, CPU seconds (user + system), peak memory, bytes
# per entry on disk, and thau's figure as a ratio of reader's.
#
# usage: bench/peer.sh [N] [ROUNDS]      (defaults: 1000 sources, 3 rounds)
# needs: nginx, python3 with venv, GNU time; reader comes from PyPI into
#        $THAU_BENCH_VENV (default ~/.cache/thau-bench/reader), made once.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000}
rounds=${2:-3}
command -v nginx >/dev/null || { echo "needs nginx" >&2; exit 2; }
venv=${THAU_BENCH_VENV:-$HOME/.cache/thau-bench/reader}
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import reader, sgmllib' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q 'reader==3.26' sgmllib3k
fi
cargo build --release -q --bin thau
target=${CARGO_TARGET_DIR:-target}
thau=${THAU_BIN:-$target/release/thau}
tmp=$(mktemp -d)
chmod 755 "$tmp"
trap 'nginx -c "$tmp/nginx.conf" -s stop 2>/dev/null || true; rm -rf "$tmp"' EXIT

port=18096
. bench/origin.sh
serve_generated_feeds "$n" "$port"
: > "$tmp/urls.txt"
{
  echo "[store]"; echo "path = \"$tmp/store\""
  echo "[poll]"; echo "concurrency = 64"; echo "timeout = \"60s\""
  for s in $(seq 0 $((n - 1))); do
    url="http://127.0.0.$((s % 32 + 1)):$port/feed-$s.xml"
    echo "$url" >> "$tmp/urls.txt"
    printf '[[sources]]\nname = "s%d"\nurl = "%s"\n' "$s" "$url"
  done
} > "$tmp/feeds.toml"

entries=$((n * 20))
# "WALL CPU MIB" of a command
measure() {
  /usr/bin/time -f "%e %U %S %M" -o "$tmp/time" "$@" > "$tmp/out" 2> "$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
  read -r wall user sys kib < "$tmp/time"
  echo "$wall $(python3 -c "print(round($user + $sys, 2))") $((kib / 1024))"
}
median() { python3 -c "import statistics,sys; print(statistics.median(float(x) for x in sys.argv[1:]))" "$@"; }
ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
declare -a rw rc rm rb tw tc tm tb
for r in $(seq 1 "$rounds"); do
  rm -rf "$tmp/reader.sqlite"* "$tmp/store"
  read -r w c m < <(measure "$venv/bin/python" bench/reader_peer.py "$tmp/urls.txt" "$tmp/reader.sqlite" 64)
  got=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["entries"])' "$tmp/out")
  [ "$got" = "$entries" ] || { echo "reader stored $got entries of $entries" >&2; exit 1; }
  b=$(( $(cat "$tmp/reader.sqlite"* | wc -c) / entries ))
  rw+=("$w"); rc+=("$c"); rm+=("$m"); rb+=("$b")
  echo "round $r: reader ${w}s wall, ${c}s CPU, peak ${m} MiB, ${b} B/entry"
  read -r w c m < <(measure "$thau" --config "$tmp/feeds.toml" poll)
  b=$(( $(du -sb "$tmp/store" | cut -f1) / entries ))
  tw+=("$w"); tc+=("$c"); tm+=("$m"); tb+=("$b")
  echo "round $r: thau   ${w}s wall, ${c}s CPU, peak ${m} MiB, ${b} B/entry"
done
mw=$(median "${tw[@]}"); mc=$(median "${tc[@]}"); mm=$(median "${tm[@]}"); mb=$(median "${tb[@]}")
pw=$(median "${rw[@]}"); pc=$(median "${rc[@]}"); pm=$(median "${rm[@]}"); pb=$(median "${rb[@]}")
echo "summary ($n sources, $rounds rounds, medians; thau / reader):" \
     "wall ${mw}s / ${pw}s = $(ratio "$mw" "$pw")x, CPU ${mc}s / ${pc}s = $(ratio "$mc" "$pc")x," \
     "peak ${mm} / ${pm} MiB = $(ratio "$mm" "$pm")x, ${mb} / ${pb} B/entry = $(ratio "$mb" "$pb")x"
