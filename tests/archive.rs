//! RFC 5005 archives as a reader that was offline meets them: the real
//! binary, a real origin on 127.0.0.1, the section feed's `prev-archive`
//! followed page by page until every story was seen; pages that never
//! change, survive a restart, and get shorter (never renumbered) when
//! stories are pruned.

mod support;

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use support::{Origin, Route, Site, get, http};

/// RSS with items `from..to`, dated an hour apart from 2026-10-01.
fn rss(from: usize, to: usize) -> String {
    let t0: DateTime<Utc> = "2026-10-01T00:00:00Z".parse().unwrap();
    let mut x = String::from(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Le Courrier</title><link>https://courrier.example/</link>\n",
    );
    for i in from..to {
        x.push_str(&format!(
            "<item><title>Article {i}</title><link>https://courrier.example/{i}</link><guid>https://courrier.example/{i}</guid><pubDate>{}</pubDate></item>\n",
            (t0 + Duration::hours(i as i64)).to_rfc2822()
        ));
    }
    x.push_str("</channel></rss>\n");
    x
}

fn config(origin: &Origin, retention: &str) -> String {
    format!(
        r#"[server]
listen = "127.0.0.1:0"
base_url = "http://news.example"
page_size = 10
archive_page_size = 10
{retention}
[[sections]]
slug = "sete"
title = "Sète"

[[sources]]
name = "courrier"
url = "{}"
sections = ["sete"]
"#,
        origin.url("/courrier.xml")
    )
}

fn id(i: usize) -> String {
    format!("https://courrier.example/{i}")
}

/// An Atom document's entry ids and its links by rel.
fn atom_parts(xml: &str) -> (Vec<String>, Vec<(String, String)>) {
    let ids = xml
        .split("<entry>")
        .skip(1)
        .map(|e| {
            let start = e.find("<id>").unwrap() + 4;
            e[start..start + e[start..].find("</id>").unwrap()].to_string()
        })
        .collect();
    let head = xml.split("<entry>").next().unwrap();
    let links = head
        .split("<link ")
        .skip(1)
        .map(|l| {
            let attr = |name: &str| {
                let start = l.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
                l[start..start + l[start..].find('"').unwrap()].to_string()
            };
            (attr("rel"), attr("href"))
        })
        .collect();
    (ids, links)
}

fn rel<'a>(links: &'a [(String, String)], rel: &str) -> Option<&'a str> {
    links.iter().find(|(r, _)| r == rel).map(|(_, h)| h.as_str())
}

/// Serves, and waits for the archive's pages to be written (right after
/// the first rendering) up to page `pages`.
fn serving(site: &Site, pages: u32) -> support::Serve {
    let serve = site.serve();
    let newest = format!("archive/{pages}.atom\" rel=\"prev-archive\"");
    support::wait_for("the archive pages", || {
        get(&serve.url("/sections/sete/atom.xml")).text().contains(&newest)
    });
    serve
}

/// Follows `prev-archive` from the section's Atom feed to the first page:
/// every (url, ids) seen, the feed first.
fn crawl(serve: &support::Serve) -> Vec<(String, Vec<String>)> {
    let mut seen = Vec::new();
    let mut url = serve.url("/sections/sete/atom.xml");
    loop {
        let xml = get(&url).text();
        let (ids, links) = atom_parts(&xml);
        let prev = rel(&links, "prev-archive").map(|h| h.replace("http://news.example", &serve.base));
        if !seen.is_empty() {
            assert!(xml.contains("<fh:archive"), "{url} is not marked as an archive:\n{xml}");
            assert!(
                xml.contains("xmlns:fh=\"http://purl.org/syndication/history/1.0\""),
                "{xml}"
            );
            assert_eq!(
                rel(&links, "current"),
                Some("http://news.example/sections/sete/atom.xml")
            );
            // Pages do not change once written: no link to a newer page.
            assert_eq!(rel(&links, "next-archive"), None);
        }
        seen.push((url, ids));
        match prev {
            Some(prev) => url = prev,
            None => return seen,
        }
    }
}

#[test]
fn a_reader_pages_back_through_immutable_archive_pages_to_every_story() {
    let origin = Origin::start();
    origin.route("/courrier.xml", Route::feed(rss(0, 35), "application/rss+xml"));
    let site = Site::new(&config(&origin, ""));
    assert_eq!(site.thau(&["poll"]).code(), 0);
    let serve = serving(&site, 3);

    // 35 stories, pages of 10: pages 1–3 hold stories 0–29, oldest first;
    // the feed the newest 10 (25–34), so every story is somewhere.
    let pages = crawl(&serve);
    let urls: Vec<&str> = pages.iter().map(|(u, _)| u.as_str()).collect();
    assert_eq!(
        urls,
        [
            serve.url("/sections/sete/atom.xml"),
            serve.url("/sections/sete/archive/3.atom"),
            serve.url("/sections/sete/archive/2.atom"),
            serve.url("/sections/sete/archive/1.atom"),
        ]
    );
    let expect = |ids: std::ops::Range<usize>| ids.rev().map(id).collect::<Vec<_>>();
    assert_eq!(pages[0].1, expect(25..35));
    assert_eq!(pages[1].1, expect(20..30));
    assert_eq!(pages[3].1, expect(0..10));
    let all: BTreeSet<String> = pages.iter().flat_map(|(_, ids)| ids.clone()).collect();
    assert_eq!(all, (0..35).map(id).collect());

    // RSS and JSON Feed page back the same way.
    let rss_feed = get(&serve.url("/sections/sete/rss.xml")).text();
    assert!(
        rss_feed.contains("<atom:link href=\"http://news.example/sections/sete/archive/3.xml\" rel=\"prev-archive\""),
        "{rss_feed}"
    );
    let page = get(&serve.url("/sections/sete/archive/2.xml"));
    assert_eq!(page.status, 200);
    assert_eq!(page.header("content-type"), Some("application/rss+xml; charset=utf-8"));
    let page = page.text();
    assert!(page.contains("<fh:archive"), "{page}");
    assert!(
        page.contains("rel=\"prev-archive\"") && page.contains("archive/1.xml"),
        "{page}"
    );
    assert_eq!(page.matches("<item>").count(), 10);
    let json: serde_json::Value = serde_json::from_slice(&get(&serve.url("/sections/sete/feed.json")).body).unwrap();
    assert_eq!(json["next_url"], "http://news.example/sections/sete/archive/3.json");
    let json: serde_json::Value =
        serde_json::from_slice(&get(&serve.url("/sections/sete/archive/1.json")).body).unwrap();
    assert_eq!(json["items"].as_array().unwrap().len(), 10);
    assert!(json.get("next_url").is_none(), "page 1 is the oldest");

    // Valid Atom for the RELAX NG schema; read by feedparser.
    if let Some(clients) = support::clients_dir() {
        let url = serve.url("/sections/sete/archive/2.atom");
        let v = std::process::Command::new(clients.join("validate-atom.sh"))
            .arg(&url)
            .output()
            .unwrap();
        assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
        let fp = support::client(&clients, "feedparser-dump.py", &[&url]);
        assert_eq!(fp["bozo"], false, "{fp:#}");
        let theirs: Vec<&str> = fp["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap())
            .collect();
        assert_eq!(theirs, expect(10..20));
    }

    // Cached long, with validators; pages that do not exist are 404s.
    let first = get(&serve.url("/sections/sete/archive/1.atom"));
    assert_eq!(first.header("cache-control"), Some("public, max-age=604800"));
    let etag = first.header("etag").unwrap().to_string();
    let again = http(
        "GET",
        &serve.url("/sections/sete/archive/1.atom"),
        &[("If-None-Match", &etag)],
    );
    assert_eq!(again.status, 304);
    for missing in [
        "archive/4.atom",
        "archive/0.atom",
        "archive/01.atom",
        "archive/+1.atom",
        "archive/+1.xml",
        "archive/1.html",
        "archive/x.xml",
    ] {
        assert_eq!(
            get(&serve.url(&format!("/sections/sete/{missing}"))).status,
            404,
            "{missing}"
        );
    }

    // Ten newer stories make page 4; pages 1–3 do not change by a byte.
    let before: Vec<Vec<u8>> = (1..=3)
        .map(|n| get(&serve.url(&format!("/sections/sete/archive/{n}.atom"))).body)
        .collect();
    assert!(serve.terminate().success());
    // The origin now lists its newest ten only, as feeds do.
    origin.route("/courrier.xml", Route::feed(rss(35, 45), "application/rss+xml"));
    assert_eq!(site.thau(&["poll"]).code(), 0);
    let serve = serving(&site, 4);
    let pages = crawl(&serve);
    assert_eq!(pages.len(), 5, "{:#?}", pages.iter().map(|p| &p.0).collect::<Vec<_>>());
    assert_eq!(pages[1].1, expect(30..40));
    for n in 1..=3 {
        assert_eq!(
            get(&serve.url(&format!("/sections/sete/archive/{n}.atom"))).body,
            before[n - 1],
            "page {n}"
        );
    }
    assert!(serve.terminate().success());

    // Retention prunes the five oldest: page 1 gets shorter, no page is
    // renumbered, the reader still reaches every story that is kept.
    site.write_config(&config(&origin, "[retention]\nmax_entries = 40\n"));
    let run = site.thau(&["prune"]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    // A static export has the pages too, and writes each once.
    let out = site.dir.path().join("public");
    let run = site.thau(&["export", "--out", out.to_str().unwrap()]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    for n in 1..=4 {
        for ext in ["xml", "atom", "json"] {
            assert!(
                out.join(format!("sections/sete/archive/{n}.{ext}")).exists(),
                "{n}.{ext}"
            );
        }
    }
    let exported = std::fs::read_to_string(out.join("sections/sete/archive/1.atom")).unwrap();
    assert_eq!(atom_parts(&exported).0, expect(5..10));
    let run = site.thau(&["export", "--out", out.to_str().unwrap()]);
    assert!(run.stdout().starts_with("0 files written"), "{}", run.stdout());
    let serve = serving(&site, 4);
    let pages = crawl(&serve);
    assert_eq!(pages.len(), 5);
    assert_eq!(pages[4].1, expect(5..10), "page 1 keeps what is left of it");
    assert_eq!(pages[3].1, expect(10..20));
    let all: BTreeSet<String> = pages.iter().flat_map(|(_, ids)| ids.clone()).collect();
    assert_eq!(all, (5..45).map(id).collect());
}

#[test]
fn an_archive_page_longer_than_the_feed_is_refused() {
    let origin = Origin::start();
    let site = Site::new(&config(&origin, "").replace("archive_page_size = 10", "archive_page_size = 20"));
    let run = site.thau(&["check"]);
    assert_eq!(run.code(), 2);
    assert!(
        run.stderr()
            .contains("feeds.toml:1: [server]: archive_page_size (20) is above page_size (10)"),
        "{}",
        run.stderr()
    );
}
