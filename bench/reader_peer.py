#!/usr/bin/env python3
"""The peer a Python user would pick instead of thau: the `reader` library
(SQLite store), polling the same feeds. Adds every URL of URLS_FILE to a
new database at DB_PATH and updates them all once with WORKERS threads;
prints what it did as JSON. Run by bench/peer.sh, alternated with thau.

usage: reader_peer.py URLS_FILE DB_PATH [WORKERS]"""
import json
import sys
import time

from reader import make_reader

urls_file, db_path = sys.argv[1], sys.argv[2]
workers = int(sys.argv[3]) if len(sys.argv) > 3 else 64
urls = [line.strip() for line in open(urls_file) if line.strip()]
start = time.monotonic()
r = make_reader(db_path, search_enabled=False)
for url in urls:
    r.add_feed(url)
r.update_feeds(workers=workers)
seconds = time.monotonic() - start
counts = r.get_entry_counts()
broken = sum(1 for f in r.get_feeds() if f.last_exception)
r.close()
print(json.dumps({"seconds": seconds, "entries": counts.total, "broken_feeds": broken}))
