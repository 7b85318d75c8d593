//! `thau serve` and `thau export` as readers and admins meet them: the real
//! binary serving section feeds polled from a real HTTP origin on
//! 127.0.0.1, read back over raw HTTP and by real feed readers.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::{Origin, Route, Serve, Site, get, http, regional_origin, wait_for};

const SECTIONS: &str = r#"
[[sections]]
slug = "sete"
title = "Sète"
description = "Toute l'actualité de Sète"
categories = ["Sète"]

[[sections]]
slug = "agde"
title = "Agde"
categories = ["agde"]

[[sections]]
slug = "culture"
title = "Culture"
categories = ["Culture"]

[[sections]]
slug = "courrier"
title = "Le Courrier"

[[sections]]
slug = "joutes"
title = "Joutes"
keywords = ["joutes nautiques"]
"#;

fn config(origin: &Origin, extra_server: &str) -> String {
    format!(
        r#"[server]
listen = "127.0.0.1:0"
{extra_server}
[poll]
timeout = "5s"
{SECTIONS}
[[sources]]
name = "courrier"
url = "{}"
sections = ["courrier"]

[[sources]]
name = "agde-ville"
url = "{}"

[[sources]]
name = "agenda-sete"
url = "{}"
"#,
        origin.url("/courrier.xml"),
        origin.url("/agde.atom"),
        origin.url("/agenda.json")
    )
}

/// Items in an RSS document (a count good enough to wait on).
fn items(rss: &str) -> usize {
    rss.matches("<item>").count()
}

/// Starts serving and waits until the startup poll reached the feeds:
/// each `(section, items)` in `expect`, or all three sources by default.
/// (Each section is served as soon as it is rendered: every one is
/// waited for.)
fn serving(site: &Site) -> Serve {
    serving_until(site, &[("sete", 3), ("agde", 1), ("culture", 4), ("joutes", 1)])
}

fn serving_until(site: &Site, expect: &[(&str, usize)]) -> Serve {
    let serve = site.serve();
    for (slug, n) in expect {
        let url = serve.url(&format!("/sections/{slug}/rss.xml?limit=100"));
        wait_for(&format!("section {slug} to have {n} items"), || {
            items(&get(&url).text()) == *n
        });
    }
    serve
}

#[test]
fn section_feeds_route_by_source_category_and_keyword() {
    let origin = regional_origin();
    let site = Site::new(&config(&origin, ""));
    let serve = serving(&site);
    let sete = get(&serve.url("/sections/sete/rss.xml")).text();
    // "Sète" and "SÈTE" both route to Sète; the paper's stories are in its own section.
    assert_eq!(items(&sete), 3, "{sete}");
    assert!(sete.contains("Hommage à Brassens") && sete.contains("Exposition « La mer »"));
    // The Agde budget, carried by the town hall and the paper, appears once.
    let agde = get(&serve.url("/sections/agde/rss.xml")).text();
    assert_eq!(agde.matches("budget-2027</link>").count(), 1, "{agde}");
    let joutes = get(&serve.url("/sections/joutes/atom.xml")).text();
    assert_eq!(joutes.matches("<entry>").count(), 1, "{joutes}");
    assert!(joutes.contains("Saint-Louis"));
    let json: serde_json::Value = serde_json::from_slice(&get(&serve.url("/sections/culture/feed.json")).body).unwrap();
    assert_eq!(json["version"], "https://jsonfeed.org/version/1.1");
    assert_eq!(json["items"].as_array().unwrap().len(), 4, "{json:#}");
}

#[test]
fn http_semantics_of_section_feeds() {
    let origin = regional_origin();
    let site = Site::new(&config(&origin, "cache_max_age = \"90s\"\npage_size = 3"));
    let serve = serving(&site);
    let url = serve.url("/sections/courrier/atom.xml");

    let plain = get(&url);
    assert_eq!(plain.status, 200);
    assert_eq!(
        plain.header("content-type"),
        Some("application/atom+xml; charset=utf-8")
    );
    assert_eq!(plain.header("cache-control"), Some("public, max-age=90"));
    assert_eq!(plain.text().matches("<entry>").count(), 3, "page_size");
    let etag = plain.header("etag").unwrap().to_string();
    let last_modified = plain.header("last-modified").unwrap().to_string();
    assert!(
        etag.starts_with('"') && etag.len() == 34,
        "128 bits of the content's hash: {etag}"
    );

    // Conditional requests.
    let r = http("GET", &url, &[("If-None-Match", &etag)]);
    assert_eq!((r.status, r.body.len()), (304, 0));
    assert_eq!(r.header("etag"), Some(etag.as_str()));
    let r = http("GET", &url, &[("If-Modified-Since", &last_modified)]);
    assert_eq!(r.status, 304);
    let r = http(
        "GET",
        &url,
        &[("If-None-Match", "\"stale\""), ("If-Modified-Since", &last_modified)],
    );
    assert_eq!(r.status, 200, "If-None-Match wins over If-Modified-Since");

    // Compressed once, negotiated per request, each with its own strong ETag.
    let gz = http("GET", &url, &[("Accept-Encoding", "gzip")]);
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    assert_ne!(gz.header("etag"), Some(etag.as_str()));
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(&gz.body[..])
        .read_to_end(&mut unzipped)
        .unwrap();
    assert_eq!(unzipped, plain.body);
    let br = http("GET", &url, &[("Accept-Encoding", "gzip, br")]);
    assert_eq!(br.header("content-encoding"), Some("br"));
    let mut unbrotli = Vec::new();
    brotli::BrotliDecompress(&mut &br.body[..], &mut unbrotli).unwrap();
    assert_eq!(unbrotli, plain.body);
    assert_eq!(
        http(
            "GET",
            &url,
            &[
                ("Accept-Encoding", "gzip"),
                ("If-None-Match", gz.header("etag").unwrap())
            ]
        )
        .status,
        304
    );
    assert_eq!(plain.header("vary"), Some("accept-encoding"));

    // HEAD: the same headers, no body.
    let head = http("HEAD", &url, &[]);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("etag"), Some(etag.as_str()));
    assert!(head.body.is_empty());

    // Same store, same bytes.
    assert_eq!(get(&url).body, plain.body);

    // Parameters, and what is refused.
    let one = get(&format!("{url}?limit=1"));
    assert_eq!(one.text().matches("<entry>").count(), 1);
    let recent = get(&serve.url("/sections/courrier/rss.xml?limit=10&since=2026-11-24T08:30:00Z"));
    assert_eq!(items(&recent.text()), 2, "{}", recent.text());
    assert_eq!(
        http(
            "GET",
            &format!("{url}?limit=1"),
            &[("If-None-Match", one.header("etag").unwrap())]
        )
        .status,
        304
    );
    // A variant honours Accept-Encoding as the plain feed does: a client
    // that refuses gzip never gets it.
    for (accept, expected) in [
        ("br", None),
        ("br, gzip;q=0", None),
        ("gzip;q=0", None),
        ("identity", None),
        ("gzip", Some("gzip")),
        ("br, gzip", Some("gzip")),
    ] {
        let r = http("GET", &format!("{url}?limit=1"), &[("Accept-Encoding", accept)]);
        assert_eq!(r.status, 200, "{accept}");
        assert_eq!(r.header("content-encoding"), expected, "Accept-Encoding: {accept}");
        if expected.is_none() {
            assert_eq!(r.body, one.body, "Accept-Encoding: {accept}");
        }
    }
    for bad in ["limit=0", "limit=9999", "limit=ten", "since=yesterday"] {
        let r = get(&format!("{url}?{bad}"));
        assert_eq!(r.status, 400, "{bad}");
        assert!(r.text().contains(bad.split('=').next().unwrap()), "{}", r.text());
    }
    assert_eq!(get(&serve.url("/sections/nowhere/rss.xml")).status, 404);
    assert_eq!(get(&serve.url("/sections/sete/feed.xml")).status, 404);
    assert_eq!(get(&serve.url("/nothing")).status, 404);
    // Feeds are read-only: other methods are refused, not served.
    let post = http("POST", &url, &[("Content-Length", "0")]);
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET,HEAD"));
}

#[test]
fn index_opml_health_and_source_status() {
    let origin = regional_origin();
    origin.route("/agenda.json", Route::status(503, &[]));
    let site = Site::new(&config(&origin, ""));
    let serve = serving_until(&site, &[("sete", 1), ("agde", 1)]);
    wait_for("the failing source to be recorded", || {
        get(&serve.url("/api/sources")).text().contains("HTTP 503")
    });

    let index = get(&serve.url("/status"));
    assert_eq!(index.header("content-type"), Some("text/html; charset=utf-8"));
    let html = index.text();
    assert!(html.contains(&format!(
        r#"<link rel="alternate" type="application/atom+xml" title="Sète (Atom)" href="{}/sections/sete/atom.xml">"#,
        serve.base
    )));
    assert!(!html.contains("<script"));
    assert!(
        html.contains("HTTP 503 Service Unavailable"),
        "the failing source and why"
    );
    // What needs the admin comes first: a summary naming the failing
    // source, then its row above the others; a way back to the site; no
    // "0% of polls not modified" on sources that never had a 304.
    assert!(
        html.contains("<strong>1 of 3 sources failing:</strong> agenda-sete.</p>"),
        "{html}"
    );
    let row = |name: &str| html.find(&format!("<tr><td><strong>{name}</strong>")).unwrap();
    assert!(row("agenda-sete") < row("courrier") && row("agenda-sete") < row("agde-ville"));
    assert!(html.contains(&format!("<a href=\"{}/\">", serve.base)), "{html}");
    assert!(!html.contains("0% of polls"), "{html}");
    // Table headers say what they head, for screen readers.
    assert!(
        html.contains("<th scope=\"col\">Source</th>") && !html.contains("<th>"),
        "{html}"
    );

    let opml = get(&serve.url("/sections.opml")).text();
    assert_eq!(opml.matches("xmlUrl=").count(), 10, "RSS and Atom of 5 sections");
    assert!(opml.contains(&format!("xmlUrl=\"{}/sections/joutes/atom.xml\"", serve.base)));

    let health: serde_json::Value = serde_json::from_slice(&get(&serve.url("/healthz")).body).unwrap();
    assert_eq!(health["status"], "ok");
    let sources: serde_json::Value = serde_json::from_slice(&get(&serve.url("/api/sources")).body).unwrap();
    assert_eq!(sources["config_error"], serde_json::Value::Null);
    let agenda = sources["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "agenda-sete")
        .unwrap();
    assert_eq!(agenda["last_outcome"], "error");
    assert_eq!(agenda["last_error"], "HTTP 503 Service Unavailable");
}

#[test]
fn sigterm_stops_cleanly_and_the_store_is_left_whole() {
    let origin = regional_origin();
    let site = Site::new(&config(&origin, ""));
    let serve = serving(&site);
    // Neither a reader holding a keep-alive connection nor a client that
    // connected and never spoke keeps the daemon from stopping.
    let mut keep_alive = TcpStream::connect(serve.url("").trim_start_matches("http://")).unwrap();
    let request = "GET /sections/sete/rss.xml HTTP/1.1\r\nHost: thau\r\n\r\n";
    keep_alive.write_all(request.as_bytes()).unwrap();
    let mut first = [0; 12];
    keep_alive.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    let _silent = TcpStream::connect(serve.url("").trim_start_matches("http://")).unwrap();
    let asked = Instant::now();
    let status = serve.terminate();
    assert!(status.success(), "{status}");
    assert!(
        asked.elapsed() < Duration::from_secs(8),
        "idle connections held the shutdown for {:?}",
        asked.elapsed()
    );
    // The lock is released and every stored entry is there.
    assert_eq!(site.entries().len(), 8);
}

#[test]
fn export_writes_the_site_and_an_unchanged_store_changes_no_file() {
    let origin = regional_origin();
    let site = Site::new(&config(&origin, "base_url = \"https://news.example/thau\""));
    assert_eq!(site.thau(&["poll"]).code(), 0);
    let out = site.dir.path().join("public");
    let run = site.thau(&["export", "--out", out.to_str().unwrap()]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    // 5 sections and the "all sections" feed × 3 formats and the OPML,
    // each with .gz and .br; the front page, 5 section pages, a page per
    // story they list, and status.html.
    let stories = std::fs::read_dir(out.join("stories")).unwrap().count();
    assert!(stories >= 8, "{stories} story pages");
    let files = 6 * 3 * 3 + 3 + 1 + 5 + stories + 1;
    // One summary line, not a line per file.
    assert_eq!(run.stdout(), format!("{files} files written, 0 unchanged\n"));
    let front = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(
        front.contains("href=\"https://news.example/thau/sections/sete/\""),
        "{front}"
    );
    assert!(out.join("sections/sete/index.html").exists());
    assert!(
        std::fs::read_to_string(out.join("status.html"))
            .unwrap()
            .contains("<h1>Status</h1>")
    );
    let gz = std::fs::read(out.join("sections/sete/rss.xml.gz")).unwrap();
    let mut unzipped = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut unzipped).unwrap();
    assert_eq!(
        unzipped,
        std::fs::read_to_string(out.join("sections/sete/rss.xml")).unwrap()
    );
    assert!(out.join("sections/sete/rss.xml.br").exists());
    let rss = std::fs::read_to_string(out.join("sections/sete/rss.xml")).unwrap();
    assert!(rss.contains("<atom:link href=\"https://news.example/thau/sections/sete/rss.xml\" rel=\"self\""));
    let mtime = |p: &str| std::fs::metadata(out.join(p)).unwrap().modified().unwrap();
    let before = mtime("sections/agde/atom.xml");

    let run = site.thau(&["export", "--out", out.to_str().unwrap()]);
    assert_eq!(run.stdout(), format!("0 files written, {files} unchanged\n"));
    assert_eq!(mtime("sections/agde/atom.xml"), before);

    // Links planted in the folder are never followed: a file that is a
    // link to /dev/zero is replaced, not read; a folder that is a link is
    // refused. No temporary is left behind.
    let planted = out.join("sections/agde/rss.xml");
    std::fs::remove_file(&planted).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &planted).unwrap();
    let run = site.thau(&["export", "--out", out.to_str().unwrap()]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert!(!std::fs::symlink_metadata(&planted).unwrap().file_type().is_symlink());
    assert!(std::fs::read_to_string(&planted).unwrap().starts_with("<?xml"));
    let elsewhere = site.dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::fs::remove_dir_all(out.join("sections/culture")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, out.join("sections/culture")).unwrap();
    let run = site.thau(&["export", "--out", out.to_str().unwrap()]);
    assert_eq!(run.code(), 2);
    assert!(
        run.stderr().contains("refusing to write through the symbolic link"),
        "{}",
        run.stderr()
    );
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
    let leftovers: Vec<_> = walk(&out)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(".thau-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if e.file_type().unwrap().is_dir() {
            out.extend(walk(&p));
        }
        out.push(p);
    }
    out
}

/// `thau export` cannot run beside `thau serve` (the store is held): with
/// `[export] dir` the daemon writes the static site after each change.
#[test]
fn the_daemon_exports_the_site_itself_with_export_dir() {
    let origin = regional_origin();
    let site = Site::new(&format!("[export]\ndir = \"public\"\n{}", config(&origin, "")));
    let serve = serving(&site);
    let out = site.dir.path().join("public");
    wait_for("the exported feeds", || {
        std::fs::read_to_string(out.join("sections/sete/rss.xml")).is_ok_and(|rss| items(&rss) == 3)
    });
    // (Each file is written whole, one after the other.)
    wait_for("the compressed copies", || {
        out.join("sections/sete/rss.xml.gz").exists() && out.join("sections.opml.br").exists()
    });
    // Once every source was polled, the same bytes as served.
    wait_for("the export to catch up with what is served", || {
        std::fs::read(out.join("sections/agde/atom.xml")).ok() == Some(get(&serve.url("/sections/agde/atom.xml")).body)
    });
    let run = site.thau(&["export", "--out", "elsewhere"]);
    assert_eq!(run.code(), 2);
    assert!(run.stderr().contains("[export] dir"), "{}", run.stderr());
}

#[test]
fn entries_of_a_removed_source_leave_its_sections() {
    let origin = regional_origin();
    let site = Site::new(&config(&origin, ""));
    assert_eq!(site.thau(&["poll"]).code(), 0);
    let without_agenda = config(&origin, "").replace(
        &format!(
            "\n[[sources]]\nname = \"agenda-sete\"\nurl = \"{}\"\n",
            origin.url("/agenda.json")
        ),
        "",
    );
    site.write_config(&without_agenda);
    let out = site.dir.path().join("public");
    assert_eq!(site.thau(&["export", "--out", out.to_str().unwrap()]).code(), 0);
    let sete = std::fs::read_to_string(out.join("sections/sete/rss.xml")).unwrap();
    assert_eq!(items(&sete), 1, "{sete}");
    assert!(!sete.contains("Brassens"));
}

/// Every section feed read by real readers: feedparser (RSS and Atom),
/// newsboat (RSS), rss2email (Atom), and the Atom RELAX NG schema.
#[test]
fn real_readers_read_every_section_feed() {
    let Some(clients) = support::clients_dir() else { return };
    let origin = regional_origin();
    let site = Site::new(&config(&origin, ""));
    let serve = serving(&site);

    for slug in ["sete", "agde", "culture", "courrier", "joutes"] {
        let rss_url = serve.url(&format!("/sections/{slug}/rss.xml"));
        let atom_url = serve.url(&format!("/sections/{slug}/atom.xml"));
        let ours: serde_json::Value =
            serde_json::from_slice(&get(&serve.url(&format!("/sections/{slug}/feed.json"))).body).unwrap();
        let ours = ours["items"].as_array().unwrap().clone();
        // (The feedparser release the clients use, 6.0, does not read JSON Feed.)
        for (url, version) in [(&rss_url, "rss20"), (&atom_url, "atom10")] {
            let fp = support::client(&clients, "feedparser-dump.py", &["--summary", url]);
            assert_eq!(fp["version"], version, "{url}");
            assert_eq!(fp["bozo"], false, "{url}: {fp:#}");
            let entries = fp["entries"].as_array().unwrap();
            assert_eq!(entries.len(), ours.len(), "{url}");
            for (theirs, mine) in entries.iter().zip(&ours) {
                assert_eq!(theirs["id"], mine["id"], "{url}");
                assert_eq!(theirs["title"], mine["title"], "{url}");
                assert_eq!(theirs["link"], mine["url"], "{url}");
                let published = chrono::DateTime::parse_from_rfc3339(mine["date_published"].as_str().unwrap()).unwrap();
                assert_eq!(
                    theirs["published_utc"].as_str().unwrap(),
                    published
                        .with_timezone(&chrono::Utc)
                        .format("%Y-%m-%dT%H:%M:%SZ")
                        .to_string(),
                    "{url}"
                );
            }
        }
        // sfeed (TSV: time, title, link, id, ...) on both XML formats.
        for url in [&rss_url, &atom_url] {
            let out = std::process::Command::new(clients.join("sfeed-read.sh"))
                .arg(url)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "sfeed {url}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let tsv = String::from_utf8(out.stdout).unwrap();
            let items: Vec<Vec<&str>> = tsv.lines().skip(1).map(|l| l.split('\t').collect()).collect();
            assert_eq!(items.len(), ours.len(), "sfeed {url}:\n{tsv}");
            for (theirs, mine) in items.iter().zip(&ours) {
                assert_eq!(theirs[1], mine["title"].as_str().unwrap(), "sfeed {url}");
                assert_eq!(theirs[2], mine["url"].as_str().unwrap(), "sfeed {url}");
                assert_eq!(theirs[3], mine["id"].as_str().unwrap(), "sfeed {url}");
            }
        }
        let nb = support::client(&clients, "newsboat-read.sh", &[&rss_url]);
        assert_eq!(
            nb["items"].as_array().unwrap().len(),
            ours.len(),
            "newsboat {rss_url}: {nb:#}"
        );
        let v = std::process::Command::new(clients.join("validate-atom.sh"))
            .arg(&atom_url)
            .output()
            .unwrap();
        assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
    }

    // rss2email: one mail per entry with our ids and links; nothing twice.
    let state = site.dir.path().join("r2e");
    let url = serve.url("/sections/sete/atom.xml");
    let mail = support::client(&clients, "rss2email-read.sh", &["-s", state.to_str().unwrap(), &url]);
    assert_eq!(mail["new_message_count"], 3, "{mail:#}");
    let subjects: Vec<&str> = mail["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["subject"].as_str())
        .collect();
    assert!(
        subjects.iter().any(|s| s.contains("Sète : la Saint-Louis")),
        "{subjects:?}"
    );
    let again = support::client(&clients, "rss2email-read.sh", &["-s", state.to_str().unwrap(), &url]);
    assert_eq!(again["new_message_count"], 0, "{again:#}");
}

fn rss_with(items: &[(&str, &str)]) -> String {
    let mut rss =
        String::from("<rss version=\"2.0\"><channel><title>Mairie</title><link>https://mairie.example/</link>");
    for (guid, date) in items {
        rss.push_str(&format!(
            "<item><guid>https://mairie.example/{guid}</guid><title>Avis {guid}</title><pubDate>{date}</pubDate></item>"
        ));
    }
    rss.push_str("</channel></rss>");
    rss
}

/// A `?limit=` variant used to carry its newest entry's date as
/// `Last-Modified`: after a poll added an older entry its bytes and ETag
/// changed, but `If-Modified-Since` still got a 304. It now carries the
/// section's last change.
#[test]
fn a_variant_changes_its_last_modified_when_an_older_entry_arrives() {
    let origin = Origin::start();
    let three = [
        ("a", "Fri, 20 Nov 2026 08:00:00 GMT"),
        ("b", "Sat, 21 Nov 2026 08:00:00 GMT"),
        ("c", "Sun, 22 Nov 2026 08:00:00 GMT"),
    ];
    origin.route("/mairie.xml", Route::feed(rss_with(&three), "application/rss+xml"));
    let token = "a-long-enough-admin-token";
    let site = Site::new(&format!(
        "[server]\nlisten = \"127.0.0.1:0\"\npage_size = 2\nadmin_token = \"{token}\"\n\
         [[sections]]\nslug = \"mairie\"\ntitle = \"Mairie\"\n\
         [[sources]]\nname = \"mairie\"\nurl = \"{}\"\nsections = [\"mairie\"]\n",
        origin.url("/mairie.xml")
    ));
    let serve = site.serve();
    let variant = serve.url("/sections/mairie/rss.xml?limit=10");
    wait_for("three items", || items(&get(&variant).text()) == 3);
    let first = get(&variant);
    let last_modified = first.header("last-modified").unwrap().to_string();
    assert_eq!(
        http("GET", &variant, &[("If-Modified-Since", &last_modified)]).status,
        304
    );

    // Last-Modified has whole seconds: let the clock pass one.
    std::thread::sleep(Duration::from_millis(1100));
    let mut four = three.to_vec();
    four.push(("older", "Tue, 10 Nov 2026 08:00:00 GMT"));
    origin.route("/mairie.xml", Route::feed(rss_with(&four), "application/rss+xml"));
    let auth = format!("Bearer {token}");
    let polled = http(
        "POST",
        &serve.url("/api/sources/mairie/poll"),
        &[("Authorization", &auth)],
    );
    assert_eq!(polled.status, 200, "{}", polled.text());
    wait_for("the older entry", || items(&get(&variant).text()) == 4);
    let again = http("GET", &variant, &[("If-Modified-Since", &last_modified)]);
    assert_eq!(again.status, 200, "the variant changed since {last_modified}");
    assert_ne!(again.header("etag"), first.header("etag"));
    assert_ne!(again.header("last-modified").unwrap(), last_modified);
    // The default page (the newest two) did not change.
    let page = serve.url("/sections/mairie/rss.xml");
    assert_eq!(items(&get(&page).text()), 2);
}
