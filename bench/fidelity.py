#!/usr/bin/env python3
"""Fidelity round trip: is every story republished as a careful reader reads
the original? For each corpus document that Python feedparser reads cleanly
(not bozo, at least one entry), the document is served over HTTP from
127.0.0.1, polled by the real `thau` binary, and its section's Atom and RSS
feeds are read back over HTTP with feedparser. Every entry's title, link,
date and content are compared with feedparser's reading of the original.

usage: bench/fidelity.py THAU_BIN [CORPUS_DIR] [--sample N] [--list] [--json OUT] [--markdown OUT]
       --sample N     every k-th eligible document so that about N are used
       --list         print every difference
       --json OUT     write the figures and differences as JSON
       --markdown OUT write CONFORMANCE.md's tables: figures per corpus and
                      every difference with its class

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


def flagged_by_validator(rel):
    """A W3C feed validator case whose `Expect:` names an error or warning:
    a document invalid (or unwise) on purpose."""
    if not rel.startswith("w3c-feedvalidator/"):
        return False
    head = open(os.path.join(CORPUS, rel), "rb").read(1500).decode("utf-8", "replace")
    m = re.search(r"Expect:\s*([^\n]*)", head)
    expect = (m.group(1) if m else "").strip()
    return bool(expect) and not expect.startswith("!") and expect.lower() not in ("none", "noerrors")


BASE64 = re.compile(r"^[A-Za-z0-9+/]{8,}={0,2}$")

CLASSES = [
    ("invalid", "the original is invalid: a W3C validator case that expects an error or warning", "original"),
    ("unreadable-date", "a malformed date (`+00:0`, a 32nd day, no separators): feedparser guesses, thau dates the entry when first seen", "original"),
    ("future", "a date more than a day ahead: thau does not trust it and dates the entry when first seen", "by design"),
    ("pm", "`02:02:33 PM`: feedparser drops the PM, thau reads 14:02:33", "feedparser"),
    ("text-as-html", "a text construct holding markup: feedparser takes it for HTML, thau keeps text as text (RFC 4287 §3.1.1.1)", "feedparser"),
    ("base64", "base64 in an Atom 1.0 text construct, which RFC 4287 forbids: feedparser decodes it", "original"),
    ("naked-markup", "markup not escaped in an html or text construct (invalid): thau keeps the text before the first child element", "original"),
    ("sanitizer", "what each sanitizer keeps: thau removes SVG, MathML, scripts, styles and what they hold", "by design"),
    ("id-as-link", "feedparser gives an entry its id (a relative guid, an Atom id) as link; thau links only to a page", "feedparser"),
    ("several-links", "several alternate links: thau takes the text/html one, else the first, as RFC 4287 readers do; feedparser the last", "readers differ"),
    ("which-text", "several texts (description, dc:description, media:description): readers differ on which is the text", "readers differ"),
    ("merged", "entries with the same id or link are one story in thau", "by design"),
    ("feedparser-only", "what only feedparser reads (Atom links without href, a title from an item's image, podcast chapters)", "original"),
    ("other", "not classified", "?"),
]


def classify(d):
    doc, f, a, b = d["doc"], d["field"], d["original"], d["thau"]
    if flagged_by_validator(doc):
        return "invalid"
    if f == "date":
        if a[:4] > "2027":
            return "future"
        if b[:10] >= time.strftime("%Y-%m-%d", time.gmtime(time.time() - 86400 * 3)):
            return "unreadable-date"
        if a[11:13] != b[11:13] and a[:10] == b[:10] and abs(int(a[11:13]) - int(b[11:13])) == 12:
            return "pm"
    if a == "entry missing":
        return "merged" if re.search(r"duplicate|canonical|same|dupes", doc) else "feedparser-only"
    if BASE64.match(b.replace(" ", "")) and not BASE64.match(a.replace(" ", "")):
        return "base64"
    if f in ("title", "content") and ("<" in b or "&lt;" in b or "&nbsp;" in b) and a in (text(html.unescape(b)), text(html.unescape(html.unescape(b))), html.unescape(b)):
        return "text-as-html"
    if f in ("title", "content") and b and a.startswith(b) and "xml_base" in doc or re.search(r"naked_markup|children|inline", doc):
        return "naked-markup"
    if "sanitize" in doc or re.search(r"svg|mathml|crazy|applet|iframe|embed|object|script|style|intertwingly", doc):
        return "sanitizer"
    if f == "link" and (b.startswith(("tag:thau", "urn:sha256")) or "guid" in doc or "_id" in doc):
        return "id-as-link"
    if f == "link" and re.search(r"link|hreflang|rel", doc):
        return "several-links"
    if f == "content" and re.search(r"dupes|dc_all|description_and|media/duplicate|multiple-(contents|summaries)", doc):
        return "which-text"
    if re.search(r"no_href|fullitem|escaped_markup|base64|psc|category_image|itunes", doc):
        return "feedparser-only"
    return "other"


def markdown(report, docs_by_corpus, out):
    lines = ["| corpus | documents | title | link | date | content |", "|---|---|---|---|---|---|"]
    # Every document, then only those the W3C validator does not flag.
    for label, keep in (("all", lambda d: True), ("all but the validator's invalid cases", lambda d: not flagged_by_validator(d))):
        t = {f: [0, 0] for f in ("title", "link", "date", "content")}
        for doc, fields in report["per_doc"].items():
            if keep(doc):
                for f, (same, total) in fields.items():
                    t[f][0] += same
                    t[f][1] += total
        n = sum(1 for doc in report["per_doc"] if keep(doc))
        cells = [f"**{s / n_ * 100:.2f}%** ({s}/{n_})" if n_ else "–" for s, n_ in (t[f] for f in ("title", "link", "date", "content"))]
        lines.append(f"| {label} | {n} | " + " | ".join(cells) + " |")
    for corpus, t in sorted(report["per_corpus"].items()):
        cells = [f"{s / n * 100:.1f}% ({s}/{n})" if n else "–" for s, n in (t[f] for f in ("title", "link", "date", "content"))]
        lines.append(f"| {corpus} | {docs_by_corpus[corpus]} | " + " | ".join(cells) + " |")
    diffs = [d for d in report["differences"] if d["format"] == "atom"]
    by_class = {}
    for d in diffs:
        by_class.setdefault(classify(d), []).append(d)
    lines += ["", "| class | differences | at fault | what happens |", "|---|---|---|---|"]
    for name, what, fault in CLASSES:
        if name in by_class:
            lines.append(f"| {name} | {len(by_class[name])} | {fault} | {what} |")
    lines += [""]
    for name, what, fault in CLASSES:
        if name not in by_class:
            continue
        lines += [f"#### {name}: {what}", ""]
        for d in sorted(by_class[name], key=lambda d: (d["doc"], d["field"])):
            a = d["original"].replace("|", "\\|")[:70]
            b = d["thau"].replace("|", "\\|")[:70]
            lines.append(f"- `{d['doc']}` {d['field']}: feedparser `{a}` · thau `{b}`")
        lines.append("")
    open(out, "w").write("\n".join(lines) + "\n")


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
    per_corpus, docs_by_corpus, per_doc = {}, {}, {}
    diffs = []
    lost_docs = {fmt: set() for fmt in ("atom", "rss")}
    for batch in batches(docs):
        with tempfile.TemporaryDirectory() as work:
            results = run_batch(thau, base, batch, work)
        for rel, original in batch:
            corpus = rel.split("/")[0]
            docs_by_corpus[corpus] = docs_by_corpus.get(corpus, 0) + 1
            for fmt, republished in results[rel].items():
                for f, (same, total, ds) in compare(original, republished).items():
                    totals[fmt][f][0] += same
                    totals[fmt][f][1] += total
                    if fmt == "atom":
                        c = per_corpus.setdefault(corpus, {k: [0, 0] for k in ("title", "link", "date", "content")})
                        c[f][0] += same
                        c[f][1] += total
                        pd = per_doc.setdefault(rel, {k: [0, 0] for k in ("title", "link", "date", "content")})
                        pd[f][0] += same
                        pd[f][1] += total
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
    report["per_corpus"] = per_corpus
    report["per_doc"] = per_doc
    classes = {}
    for d in diffs:
        if d["format"] == "atom":
            c = classify(d)
            classes[c] = classes.get(c, 0) + 1
    print("differences by class (Atom):", ", ".join(f"{k} {v}" for k, v in sorted(classes.items())))
    if "--markdown" in opts:
        markdown(report, docs_by_corpus, opts[opts.index("--markdown") + 1])
    if "--list" in opts:
        for d in diffs:
            print(f"{d['format']} {d['field']:7} {d['doc']} [{d['entry']}]\n    original: {d['original']!r}\n    thau:     {d['thau']!r}")
    if "--json" in opts:
        json.dump(report, open(opts[opts.index("--json") + 1], "w"), indent=1, ensure_ascii=False)
    origin.shutdown()


if __name__ == "__main__":
    import urllib.request  # noqa: E402
    main(sys.argv)
