#!/usr/bin/env python3
"""Writes N distinct RSS 2.0 feeds of ITEMS items (~1.5 KB each, ~30 KB a
feed) for the scale benchmark: regional-news-like French text, HTML bodies
with relative links, categories, dates. Same arguments, same bytes.

usage: genfeeds.py OUT_DIR N [ITEMS] [ROUND]
ROUND changes which stories the feeds carry (a later poll sees new ones)."""
import os
import random
import sys

out, n = sys.argv[1], int(sys.argv[2])
items = int(sys.argv[3]) if len(sys.argv) > 3 else 20
rnd = int(sys.argv[4]) if len(sys.argv) > 4 else 0
os.makedirs(out, exist_ok=True)
towns = ["Sète", "Mèze", "Agde", "Montbazin", "Marseillan", "Balaruc", "Frontignan", "Bouzigues"]
topics = ["Monde", "Culture", "Société", "Sport", "Économie", "Politique"]
# A vocabulary about as large as a paper's, so the text compresses as
# real text does (~3x with deflate), not as a 50-word list would.
syllables = ("la le de ma ri on té ré ca pi sé go mu ne bou zi gue an tre qui por val "
             "mon ba zin ag ète ze lan fron ti gnan chè vre pê che hu î tre ju te lo").split()
vocab = random.Random(1)
words = ["".join(vocab.choice(syllables) for _ in range(vocab.randint(1, 4))) for _ in range(3000)]
for s in range(n):
    r = random.Random(s * 7919 + rnd)
    host = f"source{s}.example"
    parts = [f"<?xml version='1.0' encoding='utf-8'?>\n<rss version='2.0' "
             f"xmlns:content='http://purl.org/rss/1.0/modules/content/'><channel>"
             f"<title>Le journal {s}</title><link>https://{host}/</link>"
             f"<description>Actualités du Bassin de Thau, source {s}</description>"]
    for i in range(items):
        k = rnd * items + i
        town = r.choice(towns)
        title = f"{town} : {' '.join(r.choice(words) for _ in range(7))} ({s}-{k})"
        paras = "".join(
            f"<p>{' '.join(r.choice(words) for _ in range(24))} "
            f"<a href='/articles/{k}/{p}.html'>lire</a>.</p>" for p in range(4))
        parts.append(
            f"<item><title>{title}</title><link>https://{host}/articles/{k}.html</link>"
            f"<guid isPermaLink='false'>{host}-{k}</guid>"
            f"<pubDate>Tue, {1 + k % 28:02} Sep 2026 {k % 24:02}:{s % 60:02}:00 +0200</pubDate>"
            f"<category>{town}</category><category>{r.choice(topics)}</category>"
            f"<description>{' '.join(r.choice(words) for _ in range(20))}</description>"
            f"<content:encoded><![CDATA[{paras}]]></content:encoded></item>")
    parts.append("</channel></rss>\n")
    with open(os.path.join(out, f"feed-{s}.xml"), "w") as f:
        f.write("".join(parts))
