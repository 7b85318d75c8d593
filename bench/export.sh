#!/usr/bin/env bash
# `thau export` at scale: SOURCES × PER_SOURCE synthetic entries written
# straight into a store (examples/fill_store.rs, dated over the last year),
# 12 sections, then one export into an empty folder and a second one of the
# unchanged store: wall seconds, user and system CPU, peak memory, files.
#
# usage: bench/export.sh [SOURCES] [PER_SOURCE]     (defaults: 1000 20)
#        OUT=/dev/shm/site bench/export.sh …        export there (a tmpfs
#                                                   leaves the file system's
#                                                   own cost out)
#        THAU_BIN=… FILL_BIN=… bench/export.sh …    another build's thau and
#                                                   fill_store (an earlier
#                                                   commit's, to compare)
# needs: GNU time
set -euo pipefail
cd "$(dirname "$0")/.."
sources=${1:-1000}
per=${2:-20}
cargo build --release -q --bin thau --example fill_store
target=${CARGO_TARGET_DIR:-target}
tmp=$(mktemp -d)
out=${OUT:-$tmp/site}
trap 'rm -rf "$tmp"; [ -n "${OUT:-}" ] && rm -rf "$OUT"' EXIT
[ -n "${OUT:-}" ] && rm -rf "$OUT"
"${FILL_BIN:-$target/release/examples/fill_store}" "$tmp/store" "$sources" "$per" > /dev/null
{
  echo "[server]"; echo 'listen = "127.0.0.1:18095"'
  echo "[store]"; echo "path = \"$tmp/store\""
  for x in Sète Mèze Agde Montbazin Marseillan Balaruc Frontignan Bouzigues Monde Culture Société Sport; do
    slug=$(echo "$x" | iconv -f utf-8 -t ascii//TRANSLIT | tr 'A-Z' 'a-z')
    printf '[[sections]]\nslug = "%s"\ntitle = "%s"\ncategories = ["%s"]\n' "$slug" "$x" "$x"
  done
  for s in $(seq 0 $((sources - 1))); do printf '[[sources]]\nname = "s%d"\nurl = "http://127.0.0.1:9/%d.xml"\n' "$s" "$s"; done
} > "$tmp/feeds.toml"
for run in first second; do
  /usr/bin/time -f "%e %M %U %S" -o "$tmp/time" "${THAU_BIN:-$target/release/thau}" --config "$tmp/feeds.toml" export --out "$out" > "$tmp/out" 2>&1 || cat "$tmp/out" >&2
  read -r s kib user sys < "$tmp/time"
  echo "$sources sources × $per: $run export ${s}s (user ${user}s, system ${sys}s), peak $((kib / 1024)) MiB: $(tail -1 "$tmp/out")"
done
echo "folder: $(find "$out" -type f | wc -l) files, $(du -sm "$out" | cut -f1) MiB"
