#!/usr/bin/env bash
# Scale benchmark: N generated sources (20 items, ~29 KB each) served by
# nginx from 32 loopback hosts (127.0.0.1 … 127.0.0.32), polled by thau and
# by a bare reqwest + feed-rs(sanitize) client doing the same fetch and
# parse work minus the store (examples/bare_client.rs). Each figure that
# compares is a ratio measured in the same run.
#
# usage: bench/scale.sh [N] [ROUNDS]        (defaults: 1000 sources, 3 rounds)
#        KEEP=1 bench/scale.sh …            keep the temporary folder
#        DESK=1 bench/scale.sh …            with the editorial desk's work: 20 hidden
#                                           stories (10 by page id, 10 by link), a pin
#                                           per section, rewrite rules and remove on
#                                           every tenth source, and [dedupe]
#                                           similarity = 0.65
# needs: nginx (apt-get install nginx-light), python3, GNU time
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000}
rounds=${2:-3}
command -v nginx >/dev/null || { echo "needs nginx" >&2; exit 2; }

cargo build --release -q --bin thau --example bare_client
target=${CARGO_TARGET_DIR:-target}
thau=${THAU_BIN:-$target/release/thau}
bare=$target/release/examples/bare_client
tmp=$(mktemp -d)
chmod 755 "$tmp"
cleanup() {
  [ -n "${serve_pid:-}" ] && kill "$serve_pid" 2>/dev/null || true
  nginx -c "$tmp/nginx.conf" -s stop 2>/dev/null || true
  [ -n "${KEEP:-}" ] && echo "kept $tmp" >&2 || rm -rf "$tmp"
}
trap cleanup EXIT

port=18090
. bench/origin.sh
serve_generated_feeds "$n" "$port"

: > "$tmp/urls.txt"
{
  echo "[server]"; echo "listen = \"127.0.0.1:18091\""
  echo "[store]"; echo "path = \"$tmp/store\""
  echo "[poll]"; echo "concurrency = 64"; echo "timeout = \"60s\""
  for t in Sète Mèze Agde Montbazin Marseillan Balaruc Frontignan Bouzigues; do
    slug=$(echo "$t" | iconv -f utf-8 -t ascii//TRANSLIT | tr 'A-Z' 'a-z')
    printf '[[sections]]\nslug = "%s"\ntitle = "%s"\ncategories = ["%s"]\n' "$slug" "$t" "$t"
  done
  for s in $(seq 0 $((n - 1))); do
    url="http://127.0.0.$((s % 32 + 1)):$port/feed-$s.xml"
    echo "$url" >> "$tmp/urls.txt"
    printf '[[sources]]\nname = "s%d"\nurl = "%s"\n' "$s" "$url"
    if [ -n "${DESK:-}" ] && [ $((s % 10)) -eq 0 ]; then
      printf 'remove = ["a"]\n[[sources.rewrite]]\nfield = "title"\npattern = %s\nreplace = "$1"\n' "\"^[^:]+ : (.*)$\""
    fi
  done
  if [ -n "${DESK:-}" ]; then
    for k in $(seq 1 10); do
      printf '[[hidden]]\nstory = "%020x"\n' "$k"
      printf '[[hidden]]\nstory = "https://source%d.example/articles/%d.html"\n' "$((k * 7))" "$k"
    done
    printf '[dedupe]\nsimilarity = 0.65\n'
    for t in sete meze agde montbazin marseillan balaruc frontignan bouzigues; do
      printf '[[pinned]]\nstory = "https://source3.example/articles/5.html"\nsection = "%s"\n' "$t"
    done
  fi
} > "$tmp/feeds.toml"

secs() { python3 -c 'import sys,json; print(json.loads(sys.stdin.read())["seconds"])'; }
# wall seconds and peak RSS (MiB) of a command: "SECONDS MIB"
timed() {
  /usr/bin/time -f "%e %M" -o "$tmp/time" "$@" > "$tmp/out" 2> "$tmp/err" || { cat "$tmp/err" >&2; tail -3 "$tmp/out" >&2; }
  read -r s kib < "$tmp/time"; echo "$s $((kib / 1024))"
}
ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
median() { python3 -c "import statistics,sys; print(statistics.median(float(x) for x in sys.argv[1:]))" "$@"; }

full=(); cond=(); check=()
for r in $(seq 1 "$rounds"); do
  rm -rf "$tmp/store"
  b=$("$bare" "$tmp/urls.txt" --in-flight 64 | secs)
  read -r t mem < <(timed "$thau" --config "$tmp/feeds.toml" poll)
  grep -c ' new ' "$tmp/out" > "$tmp/newcount" || true
  bc=$("$bare" "$tmp/urls.txt" --in-flight 64 --conditional | secs)
  read -r t304 mem304 < <(timed "$thau" --config "$tmp/feeds.toml" poll)
  read -r tc _ < <(timed "$thau" --config "$tmp/feeds.toml" check)
  full+=("$(ratio "$t" "$b")"); cond+=("$(ratio "$t304" "$bc")"); check+=("$tc")
  echo "round $r: full poll ${t}s (peak ${mem} MiB, $(cat "$tmp/newcount") sources new) vs bare ${b}s = $(ratio "$t" "$b")x;" \
       "all-304 poll ${t304}s (peak ${mem304} MiB) vs bare ${bc}s = $(ratio "$t304" "$bc")x; check ${tc}s"
done
store_bytes=$(du -sb "$tmp/store" | cut -f1)
entries=$((n * 20))
echo "store: $((store_bytes / 1048576)) MiB for $entries entries = $((store_bytes / entries)) B/entry"

# serve on the existing store: first /healthz, then every section rendered
start=$(date +%s.%N)
"$thau" --config "$tmp/feeds.toml" serve > "$tmp/serve.out" 2>&1 &
serve_pid=$!
until curl -sf http://127.0.0.1:18091/healthz > /dev/null; do sleep 0.01; done
healthz=$(python3 -c "import time; print(f'{time.time() - $start:.2f}')")
until curl -sf http://127.0.0.1:18091/healthz | grep -q '"ready": true'; do sleep 0.05; done
ready=$(python3 -c "import time; print(f'{time.time() - $start:.2f}')")
sleep 2
# the reading pages, the "all sections" feed, archive pages (first request
# renders, the second is served from memory), wall seconds each
probe() { curl -s -o /dev/null -w '%{http_code} %{time_total}' "http://127.0.0.1:18091$1"; }
story=$(curl -s http://127.0.0.1:18091/sections/sete/ | grep -o '/stories/[0-9a-f]*\.html' | head -1)
pages=""
for path in / /sections/sete/ "$story" /status /feed.xml /sections/sete/archive/1.atom /sections/sete/archive/1.atom; do
  pages+="$path $(probe "$path"); "
done
archives=$(curl -s http://127.0.0.1:18091/sections/sete/atom.xml | grep -o 'archive/[0-9]*\.atom' | head -1)
echo "pages (path status seconds): $pages newest archive page of sete: $archives"
rss=$(( $(awk '/VmHWM/ {print $2}' /proc/$serve_pid/status) / 1024 ))
kill "$serve_pid"; wait "$serve_pid" 2>/dev/null || true; serve_pid=
read -r te _ < <(timed "$thau" --config "$tmp/feeds.toml" export --out "$tmp/site")
echo "serve: /healthz after ${healthz}s, every section rendered after ${ready}s, peak ${rss} MiB; export ${te}s"
echo "summary ($n sources, $rounds rounds, medians): full poll $(median "${full[@]}")x bare, all-304 poll $(median "${cond[@]}")x bare, check $(median "${check[@]}")s"
