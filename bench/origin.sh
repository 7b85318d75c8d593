# Sourced by bench/scale.sh and bench/scaleout.sh: generates $1 feeds of 20
# items (bench/genfeeds.py) into $tmp/www and serves them with nginx from
# 32 loopback hosts, 127.0.0.1 … 127.0.0.32, on port $2. Stop it with
# `nginx -c "$tmp/nginx.conf" -s stop`.
serve_generated_feeds() {
  local n=$1 port=$2 listens=""
  python3 bench/genfeeds.py "$tmp/www" "$n" 20
  for h in $(seq 1 32); do listens+="    listen 127.0.0.$h:$port;"$'\n'; done
  cat > "$tmp/nginx.conf" <<NGINX
worker_processes 1;
pid $tmp/nginx.pid;
error_log $tmp/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  open_file_cache max=20000;
  etag on;
  keepalive_requests 100000;
  types { application/rss+xml xml; }
  server {
$listens
    root $tmp/www;
  }
}
NGINX
  nginx -c "$tmp/nginx.conf"
}
