#!/usr/bin/env python3
"""A reference republisher, for bench/fidelity.py to measure thau against:
what a short feedparser-based aggregator would publish. It reads a feed
with Python feedparser and writes each entry back as Atom 1.0: its id,
title and content as feedparser gives them (typed as feedparser says),
its link, its dates. Read back with feedparser, it shows what a round trip
through Atom costs when nothing is lost on purpose.

usage: bench/reference.py FEED > republished.atom
"""
import sys
import time
from xml.sax.saxutils import escape

import feedparser

HTML_TYPES = ("text/html", "application/xhtml+xml")


def _date(st):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", st) if st else None


def _text(tag, detail_value, detail_type):
    kind = "html" if detail_type in HTML_TYPES else "text"
    return f'<{tag} type="{kind}">{escape(detail_value)}</{tag}>'


def republish(parsed):
    """Atom 1.0 bytes for a feedparser result."""
    out = ['<?xml version="1.0" encoding="utf-8"?>', '<feed xmlns="http://www.w3.org/2005/Atom">']
    out.append(f"<title>{escape(parsed.feed.get('title', 'reference'))}</title>")
    out.append("<id>urn:thau:reference</id>")
    out.append(f"<updated>{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}</updated>")
    for n, e in enumerate(parsed.entries):
        out.append("<entry>")
        out.append(f"<id>{escape(e.get('id') or e.get('link') or f'urn:thau:reference:{n}')}</id>")
        if "title" in e:
            detail = e.get("title_detail") or {}
            out.append(_text("title", e.title, detail.get("type", "text/plain")))
        else:
            out.append("<title></title>")
        if e.get("link"):
            out.append(f'<link rel="alternate" href="{escape(e.link, {chr(34): "&quot;"})}"/>')
        published = _date(e.get("published_parsed"))
        updated = _date(e.get("updated_parsed")) or published
        if published:
            out.append(f"<published>{published}</published>")
        out.append(f"<updated>{updated or '1970-01-01T00:00:00Z'}</updated>")
        if e.get("content"):
            c = e.content[0]
            out.append(_text("content", c.get("value", ""), c.get("type", "text/html")))
        elif "summary" in e:
            detail = e.get("summary_detail") or {}
            out.append(_text("summary", e.summary, detail.get("type", "text/html")))
        out.append("</entry>")
    out.append("</feed>")
    return "\n".join(out).encode("utf-8")


if __name__ == "__main__":
    sys.stdout.buffer.write(republish(feedparser.parse(sys.argv[1])))
