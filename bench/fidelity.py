#!/usr/bin/env python3
"""Fidelity round trip: is every story republished as a careful reader reads
the original? For each corpus document that Python feedparser reads cleanly
(not bozo, at least one entry), the document is served over HTTP from
127.0.0.1, polled by the real `thau` binary, and its section's Atom and RSS
feeds are read back over HTTP with feedparser. Every entry's title, link,
date and content are compared with feedparser's reading of the original.

usage: bench/fidelity.py THAU_BIN [CORPUS_DIR] [--sample N] [--list] [--json OUT]
       --sample N   every k-th eligible document so that about N are used
       --list       print every difference
       --json OUT   write the figures and differences as JSON

Documents whose entries share links with another document's are one story by
design (thau merges them): documents go in batches where no link or id is
shared, one thau run per batch. Prints the four percentages per format.
"""
import html
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import feedparser

SKIP_PARTS = ("/json/",)  # feedparser 6 does not read JSON Feed
DOC_SUFFIXES = (".xml", ".rss", ".atom", ".rdf")


def text(value):
    """What a reader sees of a title or a content: tags dropped, entities
    decoded, whitespace collapsed."""
    if value is None:
        return ""
    value = re.sub(r"<[^>]*>", " ", value)
    value = html.unescape(value)
    return " ".join(value.split())


TRACKING = re.compile(r"^(utm_.*|fbclid|gclid|dclid|gbraid|wbraid|msclkid|yclid|twclid|igshid|mc_cid|mc_eid|_hsenc|_hsmi|mkt_tok|oly_anon_id|oly_enc_id|vero_id|vero_conv|wt_mc|xtor)$", re.I)


def canonical(url):
    """A link as the same page: scheme and host lowercased, default port and
    fragment and tracking parameters dropped (what thau does on purpose)."""
    if not url:
        return ""
    try:
        p = urllib.parse.urlsplit(url.strip())
    except ValueError:
        return url
    host = (p.hostname or "").lower()
    try:
        port = p.port if p.port and not ((p.scheme == "http" and p.port == 80) or (p.scheme == "https" and p.port == 443)) else None
    except ValueError:
        return url
    try:
        # An IRI and its URI are one address: the host in punycode, the
        # path and query percent-decoded on both sides.
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        pass
    netloc = host + (f":{port}" if port else "")
    query = "&".join(q for q in p.query.split("&") if q and not TRACKING.match(q.split("=", 1)[0]))
    unq = urllib.parse.unquote
    return urllib.parse.urlunsplit((p.scheme.lower(), netloc, unq(p.path or "/"), unq(query), ""))


def when(entry):
    for key in ("published_parsed", "updated_parsed"):
        st = entry.get(key)
        if st:
            return time.strftime("%Y-%m-%dT%H:%M:%S", st)
    return None


def content(entry):
    if entry.get("content"):
        return text(entry["content"][0].get("value"))
    return text(entry.get("summary"))


def documents(corpus):
    out = []
    for root, dirs, files in os.walk(corpus):
        dirs.sort()
        for f in sorted(files):
            path = os.path.join(root, f)
            rel = os.path.relpath(path, corpus)
            if f.endswith(DOC_SUFFIXES) and not any(s in "/" + rel for s in SKIP_PARTS):
                out.append(rel)
    return out


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def guess_type(self, path):
        # As most origins serve feeds: XML without a charset, so the
        # document's own declaration decides (as when feedparser reads a file).
        return "application/xml"


def serve_dir(directory):
    handler = lambda *a, **k: Quiet(*a, directory=directory, **k)
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def eligible(base, docs):
    keep = []
    for rel in docs:
        raw = open(os.path.join(CORPUS, rel), "rb").read()
        # feedparser tests that need a particular HTTP header are left out:
        # this origin does not send it.
        if b"Header:" in raw[:600]:
            continue
        d = feedparser.parse(base + urllib.parse.quote(rel))
        if d.bozo or not d.entries or not d.version or d.version.startswith("json"):
            continue
        keep.append((rel, d))
    return keep


def batches(docs):
    """Documents grouped so that no two in one batch share an entry link or id."""
    out = []
    for rel, d in docs:
        keys = {canonical(e.get("link")) for e in d.entries if e.get("link")} | {e.get("id") for e in d.entries if e.get("id")}
        keys.discard("")
        keys.discard(None)
        for batch in out:
            if len(batch["docs"]) < 150 and not (batch["keys"] & keys):
                batch["docs"].append((rel, d))
                batch["keys"] |= keys
                break
        else:
            out.append({"docs": [(rel, d)], "keys": set(keys)})
    return [b["docs"] for b in out]


def run_batch(thau, base, batch, workdir):
    conf = ["[server]", 'listen = "127.0.0.1:0"', "page_size = 500", "max_page_size = 500",
            "[store]", f'path = "{workdir}/store"', "[poll]", 'timeout = "10s"', "concurrency = 32"]
    for i, (rel, _) in enumerate(batch):
        conf += ["[[sections]]", f'slug = "d{i}"', f'title = "d{i}"']
    for i, (rel, _) in enumerate(batch):
        url = base + urllib.parse.quote(rel)
        conf += ["[[sources]]", f'name = "d{i}"', f'url = "{url}"', f'sections = ["d{i}"]']
    path = os.path.join(workdir, "feeds.toml")
    open(path, "w").write("\n".join(conf) + "\n")
    subprocess.run([thau, "--config", path, "poll"], capture_output=True)
    proc = subprocess.Popen([thau, "--config", path, "serve"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    addr = re.search(r"http://[0-9.:]+", line).group(0)
    try:
        for _ in range(200):
            try:
                if b'"ready": true' in urllib.request.urlopen(addr + "/healthz").read():
                    break
            except Exception:
                pass
            time.sleep(0.05)
        results = {}
        for i, (rel, _) in enumerate(batch):
            results[rel] = {fmt: feedparser.parse(f"{addr}/sections/d{i}/{fmt}.xml") for fmt in ("atom", "rss")}
        return results
    finally:
        proc.terminate()
        proc.wait()


def compare(original, republished):
    """Per field: (same, total, differences)."""
    fields = {f: [0, 0, []] for f in ("title", "link", "date", "content")}
    # Each original entry is paired with the republished entry that agrees
    # with it on the most of id, link, title and content (ties: document
    # order), each republished entry used once.
    def key(e):
        return (e.get("id") or "", canonical(e.get("link")), text(e.get("title")), content(e))
    mine_keys = [key(m) for m in republished.entries]
    matched, used = [], set()
    for e in original.entries:
        k = key(e)
        best, best_score = None, 0
        for i, mk in enumerate(mine_keys):
            if i in used:
                continue
            score = sum(2 if j < 2 else 1 for j in range(4) if k[j] and k[j] == mk[j])
            if score > best_score:
                best, best_score = i, score
        if best is not None:
            used.add(best)
        matched.append(best)
    left = [i for i in range(len(republished.entries)) if i not in used]
    matched = [m if m is not None else (left.pop(0) if left else None) for m in matched]
    matched = [republished.entries[m] if m is not None else None for m in matched]
    for e, mine in zip(original.entries, matched):
        ident = e.get("link") or e.get("id") or e.get("title")
        # A field the original does not have is not compared: thau gives an
        # untitled entry the start of its text, an undated one the time it
        # was first seen, as it must.
        originals = {
            "title": text(e.get("title")),
            # Only a web link: feedparser gives an entry without one its id
            # (`urn:uuid:…`, `tag:…`) as link; thau publishes http(s) links only.
            "link": canonical(e.get("link")) if (e.get("link") or "").startswith(("http://", "https://")) else "",
            "date": when(e) or "",
            "content": content(e),
        }
        for f, a in originals.items():
            if not a:
                continue
            fields[f][1] += 1
            if mine is None:
                fields[f][2].append((ident, "entry missing", ""))
                continue
            b = {
                "title": lambda: text(mine.get("title")),
                "link": lambda: canonical(mine.get("link")),
                "date": lambda: when(mine) or "",
                "content": lambda: content(mine),
            }[f]()
            if a == b:
                fields[f][0] += 1
            else:
                fields[f][2].append((ident, a[:160], (b or "")[:160]))
    return fields


def main(argv):
    global CORPUS
    args = [a for a in argv[1:] if not a.startswith("--")]
    opts = argv[1:]
    thau = args[0]
    CORPUS = os.path.abspath(args[1] if len(args) > 1 else os.path.join(os.path.dirname(__file__), "../../shared/corpus"))
    sample = int(opts[opts.index("--sample") + 1]) if "--sample" in opts else None
    origin = serve_dir(CORPUS)
    base = f"http://127.0.0.1:{origin.server_address[1]}/"
    docs = documents(CORPUS)
    docs = eligible(base, docs)
    if sample and len(docs) > sample:
        step = len(docs) / sample
        docs = [docs[int(i * step)] for i in range(sample)]
    totals = {fmt: {f: [0, 0] for f in ("title", "link", "date", "content")} for fmt in ("atom", "rss")}
    diffs = []
    lost_docs = {fmt: set() for fmt in ("atom", "rss")}
    for batch in batches(docs):
        with tempfile.TemporaryDirectory() as work:
            results = run_batch(thau, base, batch, work)
        for rel, original in batch:
            for fmt, republished in results[rel].items():
                for f, (same, total, ds) in compare(original, republished).items():
                    totals[fmt][f][0] += same
                    totals[fmt][f][1] += total
                    for ident, a, b in ds:
                        if a == "entry missing":
                            lost_docs[fmt].add(rel)
                        diffs.append({"doc": rel, "format": fmt, "field": f, "entry": ident, "original": a, "thau": b})
    report = {"documents": len(docs), "figures": {}}
    print(f"{len(docs)} documents read cleanly by feedparser")
    for fmt in ("atom", "rss"):
        figures = {f: (s / t * 100 if t else 100.0) for f, (s, t) in totals[fmt].items()}
        report["figures"][fmt] = {f: round(v, 2) for f, v in figures.items()}
        report["figures"][fmt]["compared"] = {f: t for f, (_, t) in totals[fmt].items()}
        report["figures"][fmt]["documents_losing_entries"] = len(lost_docs[fmt])
        print(f"{fmt:5} " + ", ".join(f"{f} {v:.2f}% of {totals[fmt][f][1]}" for f, v in figures.items())
              + f"; {len(lost_docs[fmt])} documents lose an entry")
    report["differences"] = diffs
    if "--list" in opts:
        for d in diffs:
            print(f"{d['format']} {d['field']:7} {d['doc']} [{d['entry']}]\n    original: {d['original']!r}\n    thau:     {d['thau']!r}")
    if "--json" in opts:
        json.dump(report, open(opts[opts.index("--json") + 1], "w"), indent=1, ensure_ascii=False)
    origin.shutdown()


if __name__ == "__main__":
    import urllib.request  # noqa: E402
    main(sys.argv)
