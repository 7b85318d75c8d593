#!/usr/bin/env bash
# A million entries: synthetic entries written straight into a store
# (examples/fill_store.rs: 10,000 sources × 100 entries), then thau serve
# started on it: first /healthz, every section rendered, resident memory,
# the time to republish after one poll, then thau prune and thau export.
#
# usage: bench/million.sh [SOURCES] [PER_SOURCE]   (defaults: 10000 100)
#        THAU_BIN=… FILL_BIN=… bench/million.sh …   another build's thau and
#                                                 fill_store, to compare
# needs: nginx, python3, GNU time
set -euo pipefail
cd "$(dirname "$0")/.."
sources=${1:-10000}
per=${2:-100}
cargo build --release -q --bin thau --example fill_store
target=${CARGO_TARGET_DIR:-target}
thau=${THAU_BIN:-$target/release/thau}
tmp=$(mktemp -d)
chmod 755 "$tmp"
cleanup() {
  [ -n "${serve_pid:-}" ] && kill "$serve_pid" 2>/dev/null || true
  nginx -c "$tmp/nginx.conf" -s stop 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

/usr/bin/time -f "%e %M" -o "$tmp/time" "${FILL_BIN:-$target/release/examples/fill_store}" "$tmp/store" "$sources" "$per" > /dev/null 2>&1
read -r fill_s fill_kib < "$tmp/time"
echo "filled $((sources * per)) entries in ${fill_s}s (peak $((fill_kib / 1024)) MiB); store $(du -sm "$tmp/store" | cut -f1) MiB"

# One real feed for the poll whose republish is timed.
mkdir -p "$tmp/www"
python3 bench/genfeeds.py "$tmp/www" 1 20
cat > "$tmp/nginx.conf" <<NGINX
worker_processes 1;
pid $tmp/nginx.pid;
error_log $tmp/nginx-error.log;
events { worker_connections 256; }
http { access_log off; types { application/rss+xml xml; } server { listen 127.0.0.1:18092; root $tmp/www; } }
NGINX
nginx -c "$tmp/nginx.conf"
{
  echo "[server]"; echo 'listen = "127.0.0.1:18093"'; echo 'admin_token = "a-long-enough-admin-token"'
  echo "[store]"; echo "path = \"$tmp/store\""
  echo "[poll]"; echo 'schedule = "0 0 0 1 1 *"'   # no scheduled poll during the run
  for t in Sète Mèze Agde Montbazin Marseillan Balaruc Frontignan Bouzigues; do
    slug=$(echo "$t" | iconv -f utf-8 -t ascii//TRANSLIT | tr 'A-Z' 'a-z')
    printf '[[sections]]\nslug = "%s"\ntitle = "%s"\ncategories = ["%s"]\n' "$slug" "$t" "$t"
  done
  printf '[[sources]]\nname = "live"\nurl = "http://127.0.0.1:18092/feed-0.xml"\n'
  # The filled sources (their entries are stored) answer 404 to the
  # startup poll: nothing new is written while the run is measured.
  for s in $(seq 0 $((sources - 1))); do printf '[[sources]]\nname = "s%d"\nurl = "http://127.0.0.1:18092/gone-%d.xml"\n' "$s" "$s"; done
} > "$tmp/feeds.toml"
start=$(date +%s.%N)
RUST_LOG=thau=debug "$thau" --config "$tmp/feeds.toml" serve > "$tmp/serve.log" 2>&1 &
serve_pid=$!
until curl -sf http://127.0.0.1:18093/healthz > /dev/null; do sleep 0.01; done
healthz=$(python3 -c "import time; print(f'{time.time() - $start:.2f}')")
until curl -s http://127.0.0.1:18093/healthz | grep -q '"ready": true'; do sleep 0.05; done
ready=$(python3 -c "import time; print(f'{time.time() - $start:.2f}')")
sleep 5
before=$(grep -c "site republished" "$tmp/serve.log" || true)
curl -sf -X POST -H "Authorization: Bearer a-long-enough-admin-token" http://127.0.0.1:18093/api/sources/live/poll > /dev/null
sleep 2
republish=$(grep "site republished" "$tmp/serve.log" | tail -n +$((before + 1)) | grep -o "elapsed_ms[^ ]*" | tr -dc '0-9\n' | sort -n | tail -1)
rss=$(( $(awk '/VmHWM/ {print $2}' /proc/$serve_pid/status) / 1024 ))
kill "$serve_pid"; wait "$serve_pid" 2>/dev/null || true; serve_pid=
echo "serve: /healthz after ${healthz}s, every section rendered after ${ready}s, peak ${rss} MiB; republish after one poll ${republish} ms"
printf '[retention]\nmax_entries = %d\n' $((sources * per * 9 / 10)) >> "$tmp/feeds.toml"
/usr/bin/time -f "%e %M" -o "$tmp/time" "$thau" --config "$tmp/feeds.toml" prune > "$tmp/prune.out"
read -r prune_s prune_kib < "$tmp/time"
echo "prune: $(cat "$tmp/prune.out") in ${prune_s}s, peak $((prune_kib / 1024)) MiB"
/usr/bin/time -f "%e %M" -o "$tmp/time" "$thau" --config "$tmp/feeds.toml" export --out "$tmp/site" > /dev/null
read -r export_s export_kib < "$tmp/time"
echo "export: ${export_s}s, peak $((export_kib / 1024)) MiB"
