#!/usr/bin/env bash
# Serving benchmark: `thau serve` against nginx serving the same bytes as
# static files (gzip_static for gzip), measured with wrk from a second
# process. Each round runs the two servers back to back and keeps their
# ratio, so machine noise hits both alike; the median ratio is reported.
#
# usage: bench/serve.sh [SECONDS_PER_RUN] [ROUNDS]   (defaults: 5, 3)
#        NGINX_FILE_CACHE=off bench/serve.sh …   nginx without open_file_cache
#        (as Debian's stock nginx.conf has it)
#        KINDS="304" bench/serve.sh …   only some of: identity gzip 304, or
#        304-new (a new connection per request, as most feed readers poll),
#        or variant (thau's `?limit=10` variant, rendered per request, against
#        nginx's static file: #24 asks for at least 0.5x)
# needs: nginx, wrk (apt-get install nginx-light wrk), python3
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
rounds=${2:-3}
kinds=${KINDS:-identity gzip 304}
command -v nginx >/dev/null && command -v wrk >/dev/null || { echo "needs nginx and wrk" >&2; exit 2; }

cargo build --release -q
thau=${THAU_BIN:-${CARGO_TARGET_DIR:-target}/release/thau}
tmp=$(mktemp -d)
thau_pid=
chmod 755 "$tmp"  # nginx workers run as another user
trap 'kill $thau_pid 2>/dev/null || true; nginx -c "$tmp/nginx.conf" -s stop 2>/dev/null || true; rm -rf "$tmp"' EXIT

# A ~100 KB section feed: 50 entries with 2 KB HTML bodies.
python3 - "$tmp/big.xml" <<'PY'
import sys
items = []
for i in range(50):
    body = "".join(f"<p>Paragraphe {p} de l'article {i} sur l'étang de Thau, avec <a href='https://courrier-thau.example/a/{i}/{p}'>un lien</a> et du texte de presse régionale.</p>" for p in range(12))
    items.append(f"<item><title>Article {i} : Sète et Mèze</title><link>https://courrier-thau.example/a/{i}.html</link>"
                 f"<guid isPermaLink='false'>bench-{i}</guid><pubDate>Tue, 24 Nov 2026 {i % 24:02}:{i % 60:02}:00 +0100</pubDate>"
                 f"<category>Sète</category><description>Résumé {i}</description><content:encoded><![CDATA[{body}]]></content:encoded></item>")
open(sys.argv[1], "w").write("<?xml version='1.0' encoding='utf-8'?><rss version='2.0' xmlns:content='http://purl.org/rss/1.0/modules/content/'><channel><title>Bench</title><link>https://courrier-thau.example/</link><description>b</description>" + "".join(items) + "</channel></rss>")
PY
port_thau=18080; port_nginx=18081
cat > "$tmp/feeds.toml" <<TOML
[server]
listen = "127.0.0.1:$port_thau"
base_url = "http://127.0.0.1:$port_thau"
[store]
path = "$tmp/store"
[[sections]]
slug = "big"
title = "Big"
[[sources]]
name = "big"
path = "$tmp/big.xml"
sections = ["big"]
TOML
"$thau" --config "$tmp/feeds.toml" poll >/dev/null
"$thau" --config "$tmp/feeds.toml" export --out "$tmp/www" >/dev/null
gzip -9 -kf "$tmp/www/sections/big/rss.xml"
size=$(stat -c %s "$tmp/www/sections/big/rss.xml")

cat > "$tmp/nginx.conf" <<NGINX
worker_processes auto;
pid $tmp/nginx.pid;
error_log $tmp/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  # As a production static host is set up: zero-copy sends, cached file handles.
  sendfile on;
  tcp_nopush on;
  $( [ "${NGINX_FILE_CACHE:-on}" = off ] || echo "open_file_cache max=64;" )
  etag on;
  types { application/rss+xml xml; }
  server {
    listen 127.0.0.1:$port_nginx;
    root $tmp/www;
    gzip_static on;
  }
}
NGINX
nginx -c "$tmp/nginx.conf"
"$thau" --config "$tmp/feeds.toml" serve >/dev/null 2>&1 &
thau_pid=$!
# /healthz answers at once; sections are served once it says "ready": true.
for _ in $(seq 300); do curl -sf "http://127.0.0.1:$port_thau/healthz" 2>/dev/null | grep -q '"ready": *true' && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$port_thau/healthz" | grep -q '"ready": *true' || { echo "thau never became ready" >&2; exit 1; }

path=/sections/big/rss.xml
etag_of() { curl -sI "$1" | tr -d '\r' | awk -F': ' 'tolower($1)=="etag"{print $2}'; }
etag_thau=$(etag_of "http://127.0.0.1:$port_thau$path")
etag_nginx=$(etag_of "http://127.0.0.1:$port_nginx$path")

# Both must serve the same bytes, or the comparison means nothing.
for port in $port_nginx $port_thau; do
  body=$(curl -sf "http://127.0.0.1:$port$path" | sha256sum)
  [ "$body" = "$(sha256sum < "$tmp/www/sections/big/rss.xml")" ] || { echo "port $port serves other bytes" >&2; exit 1; }
  gz=$(curl -sf -H 'Accept-Encoding: gzip' "http://127.0.0.1:$port$path" | gunzip | sha256sum)
  [ "$gz" = "$body" ] || { echo "port $port: gzip body differs" >&2; exit 1; }
done
[ -n "$etag_thau" ] && [ -n "$etag_nginx" ] || { echo "missing ETag (nginx '$etag_nginx', thau '$etag_thau')" >&2; exit 1; }
echo "  etags: nginx $etag_nginx, thau $etag_thau" >&2

# The variant must be a feed of 10 stories, or its rate means nothing.
items=$(curl -sf "http://127.0.0.1:$port_thau$path?limit=10" | grep -o '<item>' | wc -l)
[ "$items" = 10 ] || { echo "?limit=10 served $items items" >&2; exit 1; }

rps() { wrk -t2 -c64 -d"${secs}s" "$@" | awk '/Requests\/sec/{print $2}'; }
# Each round measures the two servers back to back (nginx first in odd
# rounds, thau first in even ones) and keeps their ratio: a paired ratio is
# what this noisy machine can measure; the mean of req/s drifts with load.
declare -A total ratios
for round in $(seq "$rounds"); do
  order="nginx thau"; [ $((round % 2)) = 0 ] && order="thau nginx"
  for kind in $kinds; do
    declare -A got=()
    for server in $order; do
      port_var=port_$server; port=${!port_var}; etag_var=etag_$server; etag=${!etag_var}
      url="http://127.0.0.1:$port$path"
      case $kind in
        identity) args=() ;;
        variant) args=(); [ "$server" = thau ] && url="$url?limit=10" ;;
        gzip) args=(-H 'Accept-Encoding: gzip') ;;
        304) args=(-H "If-None-Match: $etag") ;;
        304-new) args=(-H "If-None-Match: $etag" -H 'Connection: close') ;;
      esac
      got[$server]=$(rps "${args[@]}" "$url")
      total[$server-$kind]=$(echo "${total[$server-$kind]:-0} + ${got[$server]}" | bc)
    done
    ratios[$kind]+="$(echo "${got[thau]} / ${got[nginx]}" | bc -l) "
  done
done
echo "serving benchmark: $size-byte RSS section, wrk -t2 -c64, ${secs}s x $rounds rounds each, paired"
for kind in $kinds; do
  n=${total[nginx-$kind]}; t=${total[thau-$kind]}
  # median, lowest and highest paired ratio, and the rounds thau won
  read -r median low high won < <(echo "${ratios[$kind]}" | tr ' ' '\n' | grep . | sort -g |
    awk '{r[NR]=$1; if ($1 >= 1) w++} END {m = NR % 2 ? r[(NR+1)/2] : (r[NR/2] + r[NR/2+1]) / 2; print m, r[1], r[NR], w+0}')
  printf "  %-9s nginx %9.0f req/s   thau %9.0f req/s   median paired ratio %.2fx (%.2f-%.2f, thau ahead in %d of %d)\n" \
    "$kind" "$(echo "$n / $rounds" | bc -l)" "$(echo "$t / $rounds" | bc -l)" "$median" "$low" "$high" "$won" "$rounds"
done
