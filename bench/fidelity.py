#!/usr/bin/env python3
"""Fidelity round trip: is every story republished as a careful reader reads
the original? For each corpus document that Python feedparser reads cleanly
(not bozo, at least one entry), the document is served over HTTP from
127.0.0.1, polled by the real `thau` binary, and its section's Atom and RSS
feeds are read back over HTTP with feedparser. The same documents also go
through a reference republisher (bench/reference.py: feedparser in, Atom
out), read back the same way, so the figures say what a round trip costs
anyway and what thau adds.

What is compared is what a reader sees:
- entries are matched by id, then by link, then by title (each once); an
  entry of the original with no match is lost ("entries");
- a title or a content is its visible text: tags dropped and entities
  decoded only where the construct is HTML, so an escaped `<` that the
  source meant as text stays `<`; content is compared as text (a content
  cut short or emptied differs);
- a link is the same page (host case, default port, fragment when the
  original has none, tracking parameters and IRI/URI spelling aside);
- a date is the same instant, to the second.

Differences are excused only one by one, by document and field, in the
reviewed list of CONFORMANCE.md (`| `doc` | field | reason |` rows under
"Reviewed differences"). A refused feed, a lost entry, a link, a date, and a
text thau cut short are never excused: such an excuse is reported and not
applied.

usage: bench/fidelity.py THAU_BIN [CORPUS_DIR] [--sample N] [--list] [--json OUT]
                         [--markdown OUT] [--excuses FILE]
       --sample N     every k-th eligible document so that about N are used
       --list         print every difference not excused
       --json OUT     write the figures and differences as JSON
       --markdown OUT write CONFORMANCE.md's tables (figures per corpus,
                      the reference's, every difference not excused)
       --excuses FILE the reviewed list (default: CONFORMANCE.md beside this
                      script's folder)
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


HTML_TYPES = ("text/html", "application/xhtml+xml")
ORIGIN = "http://127.0.0.1"  # the test origin, set in main
FIELDS = ("entries", "title", "link", "date", "content")


def visible(value, mime):
    """What a reader sees of a title or a content: for HTML, tags dropped
    and entities decoded; for text, the text itself. Whitespace collapsed."""
    if value is None:
        return ""
    if mime in HTML_TYPES:
        value = re.sub(r"<[^>]*>", " ", value)
        value = html.unescape(value)
    return " ".join(value.split())


def text(value):
    """A value as HTML made visible (for matching only)."""
    return visible(value, "text/html")


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


def title(entry):
    detail = entry.get("title_detail") or {}
    return visible(entry.get("title"), detail.get("type", "text/plain"))


def content(entry):
    if entry.get("content"):
        c = entry["content"][0]
        return visible(c.get("value"), c.get("type", "text/html"))
    detail = entry.get("summary_detail") or {}
    return visible(entry.get("summary"), detail.get("type", "text/html"))


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


def visible_links(entry):
    """The web links an entry shows: its alternate links, and its guid when
    it is an absolute http(s) URL feedparser takes for the link. Not a link
    feedparser makes of a relative or non-URL id (`<id>right</id>`)."""
    if entry.get("guidislink"):
        # The link is the id: shown only when the id is a URL. (A relative
        # id, `foo`, comes out resolved against this test origin.)
        guid = entry.get("id") or ""
        web = guid.startswith(("http://", "https://")) and not guid.startswith(ORIGIN)
        return {canonical(guid)} if web else set()
    return {canonical(l.get("href")) for l in entry.get("links") or []
            if l.get("href") and l.get("rel", "alternate") == "alternate"
            and l["href"].startswith(("http://", "https://"))}


def match(original, republished):
    """For each original entry, the republished entry that is it: same id,
    else same link, else same title; each republished entry used once."""
    used = set()
    by_id, by_link, by_title = {}, {}, {}
    for i, m in enumerate(republished.entries):
        if m.get("id"):
            by_id.setdefault(m.get("id"), []).append(i)
        if m.get("link"):
            by_link.setdefault(canonical(m.get("link")), []).append(i)
        by_title.setdefault(title(m), []).append(i)
    # An id or link several original entries share tells none of them apart.
    def shared(key):
        values = [key(e) for e in original.entries]
        return {v for v in values if v and values.count(v) > 1}
    shared_ids = shared(lambda e: e.get("id"))
    shared_links = shared(lambda e: canonical(e.get("link")) if e.get("link") else None)
    out = []
    for e in original.entries:
        found = None
        link = canonical(e.get("link")) if e.get("link") else None
        for table, k in ((by_id, e.get("id") if e.get("id") not in shared_ids else None),
                         (by_link, link if link not in shared_links else None),
                         (by_title, title(e) if e.get("title") else None)):
            if not k:
                continue
            for i in table.get(k, []):
                if i not in used:
                    found = i
                    break
            if found is not None:
                break
        if found is None and content(e):
            found = next((i for i, m in enumerate(republished.entries) if i not in used and content(m) == content(e)), None)
        if found is not None:
            used.add(found)
        out.append(found)
    # What is left is paired by date, then in document order: an entry
    # whose id, link, title and text all differ still counts once per
    # field, not as lost.
    left = [i for i in range(len(republished.entries)) if i not in used]
    for n, e in enumerate(original.entries):
        if out[n] is not None or not left:
            continue
        same_date = [i for i in left if when(e) and when(republished.entries[i]) == when(e)]
        out[n] = (same_date or left)[0]
        left.remove(out[n])
    return [republished.entries[i] if i is not None else None for i in out]


def compare(original, republished):
    """Per field: (same, total, differences)."""
    fields = {f: [0, 0, []] for f in FIELDS}
    for e, mine in zip(original.entries, match(original, republished)):
        ident = e.get("link") or e.get("id") or e.get("title")
        # An entry with nothing a reader sees (feedparser makes one of an
        # item nested in another) has nothing to lose.
        if not (title(e) or visible_links(e) or when(e) or content(e)):
            continue
        fields["entries"][1] += 1
        if mine is None:
            fields["entries"][2].append((ident, "present", "entry missing"))
            continue
        fields["entries"][0] += 1
        # A field the original does not have is not compared: thau gives an
        # untitled entry the start of its text, an undated one the time it
        # was first seen, as it must.
        links = visible_links(e)
        originals = {
            "title": title(e),
            # A link the original shows; of several, any is one it shows.
            "link": canonical(e.get("link")) if links else "",
            "date": when(e) or "",
            "content": content(e),
        }
        mine_values = {
            "title": lambda: title(mine),
            "link": lambda: canonical(mine.get("link")),
            "date": lambda: when(mine) or "",
            "content": lambda: content(mine),
        }
        for f, a in originals.items():
            if not a:
                continue
            fields[f][1] += 1
            b = mine_values[f]()
            if a == b or (f == "link" and b in links):
                fields[f][0] += 1
            else:
                fields[f][2].append((ident, a[:300], (b or "")[:300]))
    return fields


def reference_results(batch):
    """The reference republisher's Atom for each document, read back."""
    import reference
    return {rel: {"atom": feedparser.parse(reference.republish(d))} for rel, d in batch}


def read_excuses(path):
    """The reviewed list: {(doc, field): reason}."""
    excuses = {}
    if not os.path.exists(path):
        return excuses
    inside = False
    for line in open(path, encoding="utf-8"):
        if line.startswith("## "):
            inside = line.strip().lower().startswith("## reviewed differences")
            continue
        m = inside and re.match(r"^\|\s*`([^`]+)`\s*\|\s*(\w+)\s*\|\s*(.+?)\s*\|\s*$", line)
        if m:
            excuses[(m.group(1), m.group(2))] = m.group(3)
    return excuses


NEVER = ("entries", "link", "date")


def excusable(d):
    """Whether a difference may be excused at all: never a lost entry, link
    or date, never a text thau cut short or emptied."""
    if d["field"] in NEVER:
        return False
    a, b = d["original"], d["thau"]
    if not b or (len(b) < len(a) and a.startswith(b)):
        return False
    return True


def figures(totals):
    return {f: (s / t * 100 if t else 100.0) for f, (s, t) in totals.items()}


def markdown(report, out):
    lines = ["| | documents | refused | entries | title | link | date | content |", "|---|---|---|---|---|---|---|---|"]

    def row(label, docs, refused, t):
        cells = [f"**{s / n * 100:.2f}%** ({s}/{n})" if n else "–" for s, n in (t[f] for f in FIELDS)]
        return f"| {label} | {docs} | {refused} | " + " | ".join(cells) + " |"

    lines.append(row("thau, raw", report["documents"], report["refused"], report["totals"]["atom"]))
    lines.append(row("thau, reviewed differences excused", report["documents"], report["refused"], report["excused_totals"]))
    lines.append(row("reference (feedparser → Atom)", report["documents"], report["reference_refused"], report["reference_totals"]))
    lines += ["", "| corpus | documents | entries | title | link | date | content |", "|---|---|---|---|---|---|---|"]
    for corpus, t in sorted(report["per_corpus"].items()):
        cells = [f"{s / n * 100:.1f}% ({s}/{n})" if n else "–" for s, n in (t[f] for f in FIELDS)]
        lines.append(f"| {corpus} | {report['docs_by_corpus'][corpus]} | " + " | ".join(cells) + " |")
    lines += ["", "Differences not excused (Atom output):", ""]
    for d in sorted(report["open"], key=lambda d: (d["doc"], d["field"])):
        a = d["original"].replace("|", "\\|")[:90]
        b = d["thau"].replace("|", "\\|")[:90]
        lines.append(f"- `{d['doc']}` {d['field']}: feedparser `{a}` · thau `{b}`")
    if report["refused_excuses"]:
        lines += ["", "Excuses refused (a lost entry, link or date, or a text cut short, is never excused):", ""]
        for doc, field in report["refused_excuses"]:
            lines.append(f"- `{doc}` {field}")
    open(out, "w").write("\n".join(lines) + "\n")


def main(argv):
    global CORPUS
    args = [a for a in argv[1:] if not a.startswith("--")]
    opts = argv[1:]

    def opt(name, default=None):
        return opts[opts.index(name) + 1] if name in opts else default

    thau = args[0]
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    CORPUS = os.path.abspath(args[1] if len(args) > 1 and not args[1] in (opt("--sample"), opt("--json"), opt("--markdown"), opt("--excuses")) else os.path.join(here, "../../shared/corpus"))
    sample = int(opt("--sample")) if opt("--sample") else None
    excuses = read_excuses(opt("--excuses", os.path.join(here, "..", "CONFORMANCE.md")))
    global ORIGIN
    origin = serve_dir(CORPUS)
    base = f"http://127.0.0.1:{origin.server_address[1]}/"
    ORIGIN = base
    docs = eligible(base, documents(CORPUS))
    if sample and len(docs) > sample:
        step = len(docs) / sample
        docs = [docs[int(i * step)] for i in range(sample)]
    totals = {fmt: {f: [0, 0] for f in FIELDS} for fmt in ("atom", "rss")}
    ref_totals = {f: [0, 0] for f in FIELDS}
    per_corpus, docs_by_corpus = {}, {}
    diffs, refused, ref_refused = [], set(), set()
    for batch in batches(docs):
        with tempfile.TemporaryDirectory() as work:
            results = run_batch(thau, base, batch, work)
        reference = reference_results(batch)
        for rel, original in batch:
            corpus = rel.split("/")[0]
            docs_by_corpus[corpus] = docs_by_corpus.get(corpus, 0) + 1
            if not reference[rel]["atom"].entries:
                ref_refused.add(rel)
            for f, (same, total, _) in compare(original, reference[rel]["atom"]).items():
                ref_totals[f][0] += same
                ref_totals[f][1] += total
            for fmt, republished in results[rel].items():
                if fmt == "atom" and not republished.entries:
                    refused.add(rel)
                for f, (same, total, ds) in compare(original, republished).items():
                    totals[fmt][f][0] += same
                    totals[fmt][f][1] += total
                    if fmt == "atom":
                        c = per_corpus.setdefault(corpus, {k: [0, 0] for k in FIELDS})
                        c[f][0] += same
                        c[f][1] += total
                    for ident, a, b in ds:
                        diffs.append({"doc": rel, "format": fmt, "field": f, "entry": ident, "original": a, "thau": b})
    atom_diffs = [d for d in diffs if d["format"] == "atom"]
    excused_totals = {f: list(v) for f, v in totals["atom"].items()}
    open_diffs, applied, refused_excuses = [], set(), set()
    for d in atom_diffs:
        key = (d["doc"], d["field"])
        if key in excuses and excusable(d):
            excused_totals[d["field"]][0] += 1
            applied.add(key)
        else:
            if key in excuses:
                refused_excuses.add(key)
            open_diffs.append(d)
    unused = sorted(set(excuses) - applied - refused_excuses)
    print(f"{len(docs)} documents read cleanly by feedparser; thau refused {len(refused)}, the reference {len(ref_refused)}")
    for label, t in (("thau atom", totals["atom"]), ("thau rss", totals["rss"]), ("thau atom, excused", excused_totals), ("reference", ref_totals)):
        print(f"{label:19} " + ", ".join(f"{f} {v:.2f}% of {t[f][1]}" for f, v in figures(t).items()))
    print(f"{len(atom_diffs)} differences (Atom), {len(atom_diffs) - len(open_diffs)} excused by the reviewed list, {len(open_diffs)} open")
    if refused_excuses:
        print(f"{len(refused_excuses)} excuses refused (never excusable): " + ", ".join(f"{d} {f}" for d, f in sorted(refused_excuses)))
    if unused:
        print(f"{len(unused)} excuses match no difference (stale): " + ", ".join(f"{d} {f}" for d, f in unused))
    report = {
        "documents": len(docs), "refused": len(refused), "reference_refused": len(ref_refused),
        "refused_documents": sorted(refused),
        "totals": totals, "excused_totals": excused_totals, "reference_totals": ref_totals,
        "figures": {"atom": figures(totals["atom"]), "rss": figures(totals["rss"]), "excused": figures(excused_totals), "reference": figures(ref_totals)},
        "per_corpus": per_corpus, "docs_by_corpus": docs_by_corpus,
        "differences": diffs, "open": open_diffs, "refused_excuses": sorted(refused_excuses), "stale_excuses": unused,
    }
    if opt("--markdown"):
        markdown(report, opt("--markdown"))
    if "--list" in opts:
        for d in open_diffs:
            print(f"{d['field']:7} {d['doc']} [{d['entry']}]\n    original: {d['original']!r}\n    thau:     {d['thau']!r}")
    if opt("--json"):
        json.dump(report, open(opt("--json"), "w"), indent=1, ensure_ascii=False)
    origin.shutdown()


if __name__ == "__main__":
    import urllib.request  # noqa: E402
    main(sys.argv)
