//! `thau check` and `thau poll` as an admin meets them: the real binary, a
//! real sled store in a temporary folder, and a real HTTP origin on
//! 127.0.0.1 serving regional French fixtures and misbehaving on purpose.

mod support;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use support::{Origin, Route, Site, fixture, get, regional_origin};

const SECTIONS: &str = r#"
[[sections]]
slug = "sete"
title = "Sète"
categories = ["Sète"]

[[sections]]
slug = "agde"
title = "Agde"

[[sections]]
slug = "culture"
title = "Culture"
categories = ["Culture"]
"#;

/// A config polling `sources` (name, url) with `poll` settings (a 3 s
/// timeout unless they say otherwise).
fn config(sources: &[(&str, String)], poll: &str) -> String {
    let timeout = if poll.contains("timeout") {
        ""
    } else {
        "timeout = \"3s\""
    };
    let mut s = format!("[poll]\n{timeout}\n{poll}\n{SECTIONS}");
    for (name, url) in sources {
        s.push_str(&format!("\n[[sources]]\nname = \"{name}\"\nurl = \"{url}\"\n"));
    }
    s
}

fn regional_sources(origin: &Origin) -> Vec<(&'static str, String)> {
    vec![
        ("courrier", origin.url("/courrier.xml")),
        ("agde-ville", origin.url("/agde.atom")),
        ("agenda-sete", origin.url("/agenda.json")),
    ]
}

fn by_title<'a>(entries: &'a [thau::model::Entry], start: &str) -> &'a thau::model::Entry {
    entries.iter().find(|e| e.title.starts_with(start)).unwrap_or_else(|| {
        panic!(
            "no entry titled {start:?} in {:#?}",
            entries.iter().map(|e| &e.title).collect::<Vec<_>>()
        )
    })
}

#[test]
fn check_accepts_the_shipped_feeds_toml() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_thau"))
        .args(["--config", concat!(env!("CARGO_MANIFEST_DIR"), "/feeds.toml"), "check"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn check_reports_every_problem_with_its_line_and_exits_2() {
    let site = Site::new(
        r#"[poll]
concurency = 4
timeout = "soon"

[[sections]]
slug = "sete"
title = "Sète"

[[sources]]
name = "mairie"
url = "https://mairie.example/feed.xml"
sections = ["setee"]
schedule = "every tuesday"
"#,
    );
    let run = site.thau(&["check"]);
    assert_eq!(run.code(), 2);
    let file = site.config_path().display().to_string();
    let lines: Vec<String> = run
        .stderr()
        .lines()
        .map(|l| l.replacen(&file, "feeds.toml", 1))
        .collect();
    assert_eq!(lines.len(), 4, "{lines:#?}");
    assert_eq!(
        lines[0],
        r#"feeds.toml:2: [poll]: unknown key "concurency" (did you mean "concurrency"?)"#
    );
    assert!(
        lines[1].starts_with(r#"feeds.toml:3: [poll] timeout: "soon": expected a duration"#),
        "{}",
        lines[1]
    );
    assert_eq!(
        lines[2],
        r#"feeds.toml:12: source "mairie": unknown section "setee" (did you mean "sete"?)"#
    );
    assert!(
        lines[3].starts_with(r#"feeds.toml:13: source "mairie": schedule: "every tuesday": "#),
        "{}",
        lines[3]
    );
}

#[test]
fn poll_stores_each_story_once_with_clean_fields() {
    let origin = regional_origin();
    let site = Site::new(&config(&regional_sources(&origin), ""));
    let run = site.thau(&["poll"]);
    assert_eq!(run.code(), 0, "{}\n{}", run.stdout(), run.stderr());
    for source in ["courrier", "agde-ville", "agenda-sete"] {
        assert_eq!(run.line(source).0, "new", "{}", run.stdout());
    }

    let entries = site.entries();
    // 5 + 2 + 2 entries, one story carried by two sources.
    assert_eq!(
        entries.len(),
        8,
        "{:#?}",
        entries.iter().map(|e| &e.title).collect::<Vec<_>>()
    );

    // windows-1252 decoded; tracking parameters gone; relative content links absolute; no script.
    let stlouis = by_title(&entries, "Sète : la Saint-Louis");
    assert_eq!(
        stlouis.link.as_deref(),
        Some("https://courrier-thau.example/sete/saint-louis-2026.html")
    );
    assert_eq!(stlouis.id, "courrier-thau-4102");
    assert_eq!(stlouis.published.to_rfc3339(), "2026-11-24T17:30:00+00:00");
    // A French CMS's date, with a zone name chrono and feed-rs do not know.
    let etang = by_title(&entries, "Mèze : l’étang de Thau");
    assert_eq!(etang.published.to_rfc3339(), "2026-11-24T08:15:00+00:00");
    assert!(etang.dated);
    assert_eq!(stlouis.authors[0].name, "Camille Roux");
    let content = stlouis.content.as_deref().unwrap();
    assert!(
        content.contains(r#"href="https://courrier-thau.example/sete/joutes-palmares.html""#),
        "{content}"
    );
    assert!(
        content.contains(r#"src="http://127.0.0.1:8080/assets/joutes.png""#),
        "{content}"
    );
    assert!(!content.contains("script") && !content.contains("track()"), "{content}");
    let meze = by_title(
        &entries,
        "Mèze : l’étang de Thau classé « zone conchylicole exemplaire »",
    );
    assert!(meze.summary.as_deref().unwrap().contains("2 M€"));

    // The Agde budget: one entry, both sources, categories united, the
    // origin's text and the Atom id kept.
    let budget: Vec<_> = entries
        .iter()
        .filter(|e| e.link.as_deref() == Some("https://www.agde-ville.example/actualites/budget-2027"))
        .collect();
    assert_eq!(budget.len(), 1, "{budget:#?}");
    let mut sources: Vec<&str> = budget[0].source_names().collect();
    sources.sort();
    assert_eq!(sources, ["agde-ville", "courrier"]);
    for c in ["Agde", "Politique", "Société"] {
        assert!(
            budget[0].categories.iter().any(|x| x == c),
            "{:?}",
            budget[0].categories
        );
    }

    // Atom: HTML title to text; xml:base resolved for links, content and enclosures; iframe gone.
    let budget_atom = by_title(&entries, "Budget 2027 : les priorités de la ville");
    assert!(
        budget_atom
            .summary
            .as_deref()
            .unwrap()
            .contains(r#"href="https://www.agde-ville.example/documents/budget.pdf""#)
    );
    let festival = by_title(&entries, "Festival des arts de la rue");
    assert_eq!(
        festival.link.as_deref(),
        Some("https://www.agde-ville.example/culture/festival-rue")
    );
    // (The demo's poster is served by the demo itself: `[site] assets`.)
    assert_eq!(festival.enclosures[0].url, "http://127.0.0.1:8080/assets/affiche.png");
    // The entry's own xml:base resolves its text's links too.
    assert!(
        festival
            .content
            .as_deref()
            .unwrap()
            .contains(r#"href="https://www.agde-ville.example/culture/programme.pdf""#)
    );
    assert!(!festival.content.as_deref().unwrap().contains("iframe"));
    assert_eq!(festival.authors[0].name, "Service communication");

    // JSON Feed: tags become categories; relative links resolved against the home page.
    let brassens = by_title(&entries, "Hommage à Brassens");
    assert!(brassens.categories.iter().any(|c| c == "SÈTE"));
    assert!(
        brassens
            .content
            .as_deref()
            .unwrap()
            .contains("https://agenda-sete.example/billetterie")
    );

    // RSS enclosure kept; fragment dropped; undated entry dated when first seen.
    let sommet = by_title(&entries, "Monde : sommet");
    assert_eq!(sommet.enclosures[0].length, Some(4812345));
    let olive = by_title(&entries, "Montbazin");
    assert_eq!(
        olive.link.as_deref(),
        Some("https://courrier-thau.example/montbazin/fete-olive.html")
    );
    assert!(!olive.dated);
    assert_eq!(olive.published, olive.first_seen);

    // Indexes ready for sections: by source and by folded category.
    let store = site.store();
    let recent: Vec<thau::store::IndexRow> = store.recent().collect::<Result<_, _>>().unwrap();
    assert_eq!(recent.len(), 8);
    let from = |source: &str| {
        recent
            .iter()
            .filter(|r| r.routing.sources.iter().any(|s| s == source))
            .count()
    };
    assert_eq!(from("courrier"), 5);
    let sete = recent
        .iter()
        .filter(|r| r.routing.categories.iter().any(|c| c == "sete"))
        .count();
    assert_eq!(sete, 3);
    assert!(
        recent
            .windows(2)
            .all(|w| w[0].published >= w[1].published && w[0].key != w[1].key)
    );
    assert_eq!(store.listed_keys().unwrap().len(), 8);
}

#[test]
fn repoll_sends_validators_back_and_a_304_is_a_success() {
    let origin = regional_origin();
    let site = Site::new(&config(&regional_sources(&origin), ""));
    assert_eq!(site.thau(&["poll"]).code(), 0);
    let first = site.entries();

    let run = site.thau(&["poll"]);
    assert_eq!(run.code(), 0, "{}", run.stdout());
    assert_eq!(run.line("courrier").0, "not-modified");
    let seen = origin.requests("/courrier.xml");
    assert_eq!(seen.len(), 2);
    assert!(!seen[0].headers.contains_key("if-none-match"));
    assert_eq!(
        seen[1].headers.get("if-none-match").map(String::as_str),
        Some("\"c-1\"")
    );
    assert_eq!(
        seen[1].headers.get("if-modified-since").map(String::as_str),
        Some("Tue, 24 Nov 2026 18:31:00 GMT")
    );
    assert!(
        seen[0].headers["user-agent"].starts_with("thau/"),
        "{:?}",
        seen[0].headers
    );
    assert!(seen[0].headers["accept-encoding"].contains("gzip"));

    // The origins without validators are fetched again: nothing new, nothing
    // duplicated, the undated entry keeps its first-seen date.
    assert_eq!(run.line("agde-ville").0, "unchanged");
    assert_eq!(site.entries(), first);
}

/// A town hall that writes dates without a zone means its own local time:
/// with `timezone` (here from `[poll]`), Paris time; a source that says
/// `timezone = "UTC"` keeps feedparser's reading. A date with a zone is
/// read as written either way.
#[test]
fn dates_without_a_zone_are_read_in_the_publishers_timezone() {
    let site = Site::new("");
    let feed = |id: &str| {
        format!(
            r#"<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>Mairie</title>
<item><guid>https://{id}.example/conseil</guid><title>Conseil municipal</title><pubDate>24 nov. 2026 10:00</pubDate></item>
<item><guid>https://{id}.example/feu</guid><title>Feu d'artifice</title><dc:date>2026-07-14T22:30:00</dc:date></item>
<item><guid>https://{id}.example/marche</guid><title>Marché</title><pubDate>Tue, 24 Nov 2026 07:00:00 GMT</pubDate></item>
</channel></rss>"#
        )
    };
    for id in ["sete", "ailleurs"] {
        std::fs::write(site.dir.path().join(format!("{id}.xml")), feed(id)).unwrap();
    }
    site.write_config(
        "[poll]\ntimezone = \"Europe/Paris\"\n\
         [[sources]]\nname = \"sete\"\npath = \"sete.xml\"\n\
         [[sources]]\nname = \"ailleurs\"\npath = \"ailleurs.xml\"\ntimezone = \"UTC\"\n",
    );
    let run = site.thau(&["poll"]);
    assert_eq!(run.code(), 0, "{}\n{}", run.stdout(), run.stderr());
    let entries = site.entries();
    let published = |id: &str| {
        let e = entries.iter().find(|e| e.id == id).unwrap_or_else(|| panic!("no {id}"));
        assert!(e.dated, "{id} dated by the feed");
        e.published.to_rfc3339()
    };
    assert_eq!(published("https://sete.example/conseil"), "2026-11-24T09:00:00+00:00");
    assert_eq!(published("https://sete.example/feu"), "2026-07-14T20:30:00+00:00");
    assert_eq!(published("https://sete.example/marche"), "2026-11-24T07:00:00+00:00");
    assert_eq!(
        published("https://ailleurs.example/conseil"),
        "2026-11-24T10:00:00+00:00"
    );
    assert_eq!(published("https://ailleurs.example/feu"), "2026-07-14T22:30:00+00:00");
    assert_eq!(
        published("https://ailleurs.example/marche"),
        "2026-11-24T07:00:00+00:00"
    );

    // Changing a source's zone re-dates what it stored at the next poll.
    site.write_config("[[sources]]\nname = \"ailleurs\"\npath = \"ailleurs.xml\"\ntimezone = \"Europe/Paris\"\n");
    let run = site.thau(&["poll"]);
    assert_eq!(run.code(), 0, "{}\n{}", run.stdout(), run.stderr());
    let entries = site.entries();
    let conseil = entries
        .iter()
        .find(|e| e.id == "https://ailleurs.example/conseil")
        .unwrap();
    assert_eq!(conseil.published.to_rfc3339(), "2026-11-24T09:00:00+00:00");

    // A name that is no time zone is a config error with its line.
    site.write_config("[[sources]]\nname = \"sete\"\npath = \"sete.xml\"\ntimezone = \"Europe/Pari\"\n");
    let run = site.thau(&["check"]);
    assert_eq!(run.code(), 2);
    assert!(
        run.stderr().contains(
            r#"feeds.toml:4: source "sete": timezone: "Europe/Pari": not a time zone name such as "Europe/Paris" (did you mean "Europe/Paris"?)"#
        ),
        "{}",
        run.stderr()
    );
}

#[test]
fn a_changed_entry_is_updated_in_place() {
    let origin = regional_origin();
    let site = Site::new(&config(&regional_sources(&origin), ""));
    assert_eq!(site.thau(&["poll"]).code(), 0);
    let before = by_title(&site.entries(), "Festival des arts de la rue").clone();

    let edited = String::from_utf8(fixture("demo/agde-ville.atom"))
        .unwrap()
        .replace("Programme à télécharger", "Programme complet à télécharger");
    origin.route("/agde.atom", Route::feed(edited, "application/atom+xml"));
    let typo = site.thau(&["poll", "--source", "agde-vile"]);
    assert_eq!(typo.code(), 2);
    assert!(
        typo.stderr()
            .ends_with("no source named \"agde-vile\" (did you mean \"agde-ville\"?)\n"),
        "{}",
        typo.stderr()
    );
    let run = site.thau(&["poll", "--source", "agde-ville"]);
    assert_eq!(
        run.line("agde-ville"),
        ("updated".into(), "0 new, 1 updated, 1 unchanged (2 in feed)".into())
    );

    let entries = site.entries();
    assert_eq!(entries.len(), 8);
    let after = by_title(&entries, "Festival des arts de la rue");
    assert_eq!(after.key, before.key);
    assert!(after.content.as_deref().unwrap().contains("Programme complet"));
    assert!(
        after.updated > before.updated,
        "{} !> {}",
        after.updated,
        before.updated
    );
    assert_eq!(after.published, before.published);
}

#[test]
fn compressed_bodies_and_http_charsets_are_decoded() {
    let origin = Origin::start();
    // ISO-8859-1 named only in the HTTP header; the XML declaration says nothing.
    let latin1: Vec<u8> = "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Mèze</title><item><title>Fête à Mèze</title><link>https://meze.example/fete</link></item></channel></rss>"
        .chars()
        .map(|c| c as u32 as u8)
        .collect();
    origin.route("/latin1.xml", Route::feed(latin1, "text/xml; charset=ISO-8859-1"));
    // UTF-16 with a BOM.
    let mut utf16 = vec![0xFF, 0xFE];
    for unit in "<?xml version=\"1.0\" encoding=\"utf-16\"?><feed xmlns=\"http://www.w3.org/2005/Atom\"><title>Sète</title><id>urn:x</id><updated>2026-11-01T00:00:00Z</updated><entry><title>Joutes à Sète</title><id>urn:joutes</id><updated>2026-11-01T00:00:00Z</updated></entry></feed>".encode_utf16() {
        utf16.extend_from_slice(&unit.to_le_bytes());
    }
    origin.route("/utf16.atom", Route::feed(utf16, "application/atom+xml"));
    let site = Site::new(&config(
        &[
            ("latin1", origin.url("/latin1.xml")),
            ("utf16", origin.url("/utf16.atom")),
        ],
        "",
    ));
    let run = site.thau(&["poll"]);
    assert_eq!(run.code(), 0, "{}", run.stdout());
    let entries = site.entries();
    let titles: Vec<&str> = entries.iter().map(|e| e.title.as_str()).collect();
    assert!(
        titles.contains(&"Fête à Mèze") && titles.contains(&"Joutes à Sète"),
        "{titles:?}"
    );
    // The origin compressed both bodies (brotli preferred when offered).
    let seen = origin.requests("/latin1.xml");
    assert!(
        seen[0].headers["accept-encoding"].contains("br"),
        "{:?}",
        seen[0].headers
    );
}

#[test]
fn failing_sources_are_reported_and_lose_nothing() {
    let origin = regional_origin();
    let site = Site::new(&config(&regional_sources(&origin), ""));
    assert_eq!(site.thau(&["poll"]).code(), 0);
    let stored = site.entries();

    let cases: Vec<(Route, &str)> = vec![
        (Route::status(500, &[]), "HTTP 500"),
        (Route::status(404, &[]), "HTTP 404"),
        (Route::status(410, &[]), "gone (HTTP 410)"),
        (
            Route::feed("<html><body>Maintenance</body></html>", "text/html"),
            "not a feed but an HTML page (it links to no feed)",
        ),
        (
            // The site's address instead of its feed's: say which URL to use.
            Route::feed(
                "<!DOCTYPE html><html><head><title>Agde</title>\n<link rel=\"alternate\" type=\"application/atom+xml\" title=\"Actualités\" href=\"/actualites.atom\"></head></html>",
                "text/html; charset=utf-8",
            ),
            "not a feed but an HTML page; its feed is http://127.0.0.1",
        ),
        (
            Route::feed("<rss version=\"2.0\"><channel><item><title>cut", "application/rss+xml"),
            "not a feed",
        ),
        (Route::feed("", "application/rss+xml"), "empty document"),
        (Route::Reset, "connection failed"),
        (Route::Slow(Duration::from_secs(10)), "timed out after 3s"),
        (
            Route::Redirect {
                code: 302,
                location: "/courrier.xml-loop".into(),
            },
            "HTTP 404",
        ),
    ];
    origin.route("/courrier.xml-loop", Route::status(404, &[]));
    for (route, reason) in cases {
        origin.route("/agde.atom", route.clone());
        let run = site.thau(&["poll"]);
        assert_eq!(run.code(), 1, "{route:?}: {}", run.stdout());
        let (outcome, detail) = run.line("agde-ville");
        assert_eq!(outcome, "error", "{route:?}");
        assert!(detail.contains(reason), "{route:?}: expected {reason:?} in {detail:?}");
        // Other sources still polled, and nothing stored was removed.
        assert_eq!(run.line("courrier").0, "not-modified");
        assert_eq!(site.entries().len(), stored.len());
    }
    let state = site.store().fetch_state("agde-ville").unwrap().unwrap();
    assert_eq!(state.consecutive_failures, 10);
    assert!(state.last_error.is_some());
}

#[test]
fn rate_limited_source_is_deferred_until_retry_after() {
    let origin = regional_origin();
    origin.route("/agde.atom", Route::status(429, &[("Retry-After", "3600")]));
    let site = Site::new(&config(&regional_sources(&origin), ""));
    let run = site.thau(&["poll"]);
    assert_eq!(run.code(), 1);
    let (outcome, detail) = run.line("agde-ville");
    assert_eq!(outcome, "error");
    assert!(
        detail.starts_with("HTTP 429 Too Many Requests, retry after "),
        "{detail}"
    );

    // Asked to wait an hour: the next poll does not knock.
    let run = site.thau(&["poll"]);
    assert_eq!(run.code(), 0, "{}", run.stdout());
    assert_eq!(run.line("agde-ville").0, "deferred");
    assert_eq!(origin.requests("/agde.atom").len(), 1);
}

#[test]
fn permanent_redirects_are_followed_and_reported() {
    let origin = regional_origin();
    origin.route(
        "/old-agde.atom",
        Route::Redirect {
            code: 301,
            location: "/moved.atom".into(),
        },
    );
    origin.route(
        "/moved.atom",
        Route::Redirect {
            code: 308,
            location: origin.url("/agde.atom"),
        },
    );
    origin.route(
        "/temp-agenda.json",
        Route::Redirect {
            code: 302,
            location: "/agenda.json".into(),
        },
    );
    let site = Site::new(&config(
        &[
            ("agde-ville", origin.url("/old-agde.atom")),
            ("agenda-sete", origin.url("/temp-agenda.json")),
        ],
        "",
    ));
    let run = site.thau(&["poll"]);
    assert_eq!(run.code(), 0, "{}", run.stdout());
    let (outcome, detail) = run.line("agde-ville");
    assert_eq!(outcome, "new");
    assert!(
        detail.ends_with(&format!(
            "moved permanently to {} (update feeds.toml)",
            origin.url("/agde.atom")
        )),
        "{detail}"
    );
    assert!(!run.line("agenda-sete").1.contains("moved"));
    let state = site.store().fetch_state("agde-ville").unwrap().unwrap();
    assert_eq!(state.permanent_redirect, Some(origin.url("/agde.atom")));

    for i in 0..6 {
        origin.route(
            &format!("/loop{i}"),
            Route::Redirect {
                code: 302,
                location: format!("/loop{}", i + 1),
            },
        );
    }
    site.write_config(&config(&[("loop", origin.url("/loop0"))], ""));
    assert_eq!(site.thau(&["poll"]).line("loop").1, "more than 5 redirects");
}

#[test]
fn a_huge_body_is_refused_while_streaming() {
    let origin = regional_origin();
    origin.route("/huge.xml", Route::Huge(64 << 20));
    let mut sources = regional_sources(&origin);
    sources.push(("huge", origin.url("/huge.xml")));
    let site = Site::new(&config(&sources, "max_body = \"1MiB\""));
    let run = site.thau(&["poll"]);
    assert_eq!(run.code(), 1);
    assert_eq!(
        run.line("huge").1,
        "body larger than the 1048576 byte limit (poll.max_body)"
    );
    assert_eq!(run.line("courrier").0, "new");
    // thau hung up long before the origin could send 64 MiB.
    let written = origin.huge_bytes_written();
    assert!(written < 16 << 20, "origin wrote {written} bytes");
}

/// With thousands of sources the last poll ends minutes after the first:
/// each source's line is printed as its poll ends, then a summary.
#[test]
fn poll_prints_each_source_as_it_finishes() {
    let origin = regional_origin();
    origin.route("/slow.xml", Route::Slow(Duration::from_secs(4)));
    let mut sources = regional_sources(&origin);
    sources.push(("slow", origin.url("/slow.xml")));
    let site = Site::new(&config(&sources, "timeout = \"10s\""));
    let mut child = site.command(&["poll"]).stdout(Stdio::piped()).spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert!(!line.starts_with("slow"), "{line}");
    assert!(
        child.try_wait().unwrap().is_none(),
        "the first line came while the slow source was still being polled"
    );
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert!(child.wait().unwrap().success());
    let lines: Vec<&str> = rest.lines().collect();
    assert!(lines[lines.len() - 2].starts_with("slow "), "{rest}");
    let summary = lines[lines.len() - 1];
    assert!(summary.starts_with("4 sources polled in "), "{summary}");
    assert!(summary.ends_with(": 3 new, 1 unchanged"), "{summary}");
}

/// `thau test-source` on a feed printed its title and a count: now each
/// entry as thau would store it, and still nothing stored.
#[test]
fn test_source_shows_a_feed_s_entries_as_they_would_be_stored() {
    let origin = regional_origin();
    let site = Site::new(&config(&regional_sources(&origin), ""));
    let run = site.thau(&["test-source", "courrier"]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let out = run.stdout();
    // (windows-1252 decoded, the date in UTC, the texts as a reader sees
    // them, categories kept.)
    assert!(
        out.contains(
            "1. Sète : la Saint-Louis attire 200 000 visiteurs sur le canal\n   \
             link:     https://courrier-thau.example/sete/saint-louis-2026.html\n   \
             date:     2026-11-24T17:30:00+00:00\n   id:       courrier-thau-4102\n   \
             summary:  Les joutes nautiques ont réuni une foule record sur le canal royal.\n   \
             content:  Les joutes nautiques ont réuni une foule record. Le palmarès complet.\n   \
             category: Sète, Culture\n"
        ),
        "{out}"
    );
    assert!(out.contains("   date:     (none: dated when first seen)\n"), "{out}");
    let entries = out.lines().filter(|l| l.starts_with("   link:")).count();
    assert!(
        out.ends_with(&format!("({entries} entries); nothing stored\n")),
        "{out}"
    );
    assert!(!site.store_path().exists(), "test-source stores nothing");
}

/// `thau poll` said each failure twice (a log line and its row) and
/// counted "2 error".
#[test]
fn poll_says_each_failure_once_with_plural_counts() {
    let origin = regional_origin();
    origin.route("/down.xml", Route::status(503, &[]));
    origin.route("/gone.xml", Route::status(500, &[]));
    let mut sources = regional_sources(&origin);
    sources.push(("down", origin.url("/down.xml")));
    sources.push(("gone", origin.url("/gone.xml")));
    let site = Site::new(&config(&sources, ""));
    let run = site.thau(&["poll"]);
    assert_eq!(run.code(), 1);
    let (out, err) = (run.stdout(), run.stderr());
    assert_eq!(out.matches("HTTP 503").count(), 1, "{out}");
    assert_eq!(out.matches("HTTP 500").count(), 1, "{out}");
    assert!(!err.contains("HTTP 50"), "the failures only in their rows: {err}");
    let summary = out.lines().rev().find(|l| l.contains(" polled in ")).unwrap();
    assert!(summary.ends_with(": 2 errors, 3 new"), "{summary}");
    assert!(out.ends_with("failed: down, gone\n"), "{out}");
}

#[test]
fn a_second_process_is_told_the_store_is_in_use() {
    let origin = regional_origin();
    let site = Site::new(&config(&regional_sources(&origin), ""));
    let held = thau::store::Store::open(&site.store_path()).unwrap();
    let run = site.thau(&["poll"]);
    assert_eq!(run.code(), 2);
    assert!(
        run.stderr().contains("is in use by another thau process"),
        "{}",
        run.stderr()
    );
    drop(held);
    assert_eq!(site.thau(&["poll"]).code(), 0);
}

#[test]
fn kill_9_mid_poll_keeps_every_committed_source() {
    let origin = regional_origin();
    origin.route("/stuck.xml", Route::Slow(Duration::from_secs(30)));
    let mut sources = regional_sources(&origin);
    sources.push(("stuck", origin.url("/stuck.xml")));
    let site = Site::new(&config(&sources, "timeout = \"60s\""));
    let mut child = site
        .command(&["poll"])
        .env("RUST_LOG", "thau=info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A source is logged as polled only after its batch is flushed: once the
    // three quick ones are, kill -9 while the fourth is still in flight.
    let mut polled = 0;
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        if line.contains("polled") {
            polled += 1;
            if polled == 3 {
                break;
            }
        }
    }
    assert_eq!(polled, 3, "thau stopped early");
    support::wait_for("the slow source to be requested", || {
        origin.requests("/stuck.xml").len() == 1
    });
    child.kill().unwrap();
    child.wait().unwrap();

    let entries = site.entries();
    assert_eq!(entries.len(), 8);
    let store = site.store();
    assert!(store.fetch_state("stuck").unwrap().is_none());
    assert!(store.fetch_state("courrier").unwrap().unwrap().etag.is_some());
    drop(store);
    origin.route(
        "/stuck.xml",
        Route::feed(fixture("demo/courrier-thau.xml"), "application/rss+xml"),
    );
    let run = site.thau(&["poll"]);
    assert_eq!(run.code(), 0, "{}", run.stdout());
}

#[test]
fn unknown_source_and_missing_config_are_clear_errors() {
    let site = Site::new(&config(&[("a", "http://127.0.0.1:9/a".into())], ""));
    let run = site.thau(&["poll", "--source", "b"]);
    assert_eq!(run.code(), 2);
    assert!(run.stderr().contains("no source named \"b\""), "{}", run.stderr());
    std::fs::remove_file(site.config_path()).unwrap();
    let run = site.thau(&["check"]);
    assert_eq!(run.code(), 2);
    assert!(run.stderr().starts_with("thau: cannot read "), "{}", run.stderr());
    assert!(
        run.stderr().contains("--config FILE"),
        "a hint at --config: {}",
        run.stderr()
    );
}

#[test]
fn two_notices_sharing_a_link_stay_two_entries() {
    let origin = Origin::start();
    origin.route(
        "/mairie.xml",
        Route::feed(
            r#"<rss version="2.0"><channel><title>Mairie de Montbazin</title><link>https://montbazin.example/</link>
<item><guid isPermaLink="false">avis-1</guid><title>Coupure d'eau lundi</title><link>https://montbazin.example/</link></item>
<item><guid isPermaLink="false">avis-2</guid><title>Collecte des encombrants</title><link>https://montbazin.example/</link></item>
</channel></rss>"#,
            "application/rss+xml",
        ),
    );
    let site = Site::new(&config(&[("mairie", origin.url("/mairie.xml"))], ""));
    assert_eq!(
        site.thau(&["poll"]).line("mairie").1,
        "2 new, 0 updated, 0 unchanged (2 in feed)"
    );
    assert_eq!(
        site.thau(&["poll"]).line("mairie").1,
        "0 new, 0 updated, 2 unchanged (2 in feed)"
    );
    let mut titles: Vec<String> = site.entries().into_iter().map(|e| e.title).collect();
    titles.sort();
    assert_eq!(titles, ["Collecte des encombrants", "Coupure d'eau lundi"]);
}

/// A full disk: the poll that cannot be written says so and fails, nothing
/// committed before is lost, and once there is room again polling resumes.
/// Needs root to mount a small tmpfs for the store; says so and passes
/// otherwise.
#[test]
fn a_full_disk_is_a_clear_error_that_loses_nothing() {
    struct Mount(std::path::PathBuf);
    impl Drop for Mount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let site = Site::new("");
    let store_dir = site.dir.path().join("data");
    std::fs::create_dir_all(&store_dir).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
        .arg(&store_dir)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("SKIPPED: cannot mount a small tmpfs here (needs root)");
        return;
    }
    let _mount = Mount(store_dir.clone());

    // Distinct 80 KB feeds, polled one by one until the disk is full.
    let mut config = String::new();
    for n in 0..40 {
        let items: String = (0..40)
            .map(|i| {
                format!(
                    "<item><guid>https://ex.example/{n}/{i}</guid><title>F{n} A{i}</title><description>{}</description></item>",
                    format!("{n} {i} ").repeat(300)
                )
            })
            .collect();
        let path = site.dir.path().join(format!("feed{n}.xml"));
        std::fs::write(
            &path,
            format!("<rss version=\"2.0\"><channel><title>t</title>{items}</channel></rss>"),
        )
        .unwrap();
        config.push_str(&format!(
            "[[sources]]\nname = \"f{n}\"\npath = \"{}\"\n",
            path.display()
        ));
    }
    site.write_config(&config);
    let mut stored = 0;
    let mut failure = None;
    for n in 0..40 {
        let run = site.thau(&["poll", "--source", &format!("f{n}")]);
        if run.code() == 0 {
            stored += 40;
            continue;
        }
        failure = Some((n, run));
        break;
    }
    let (failed_source, run) = failure.expect("2 MiB filled up");
    assert!([1, 2].contains(&run.code()), "{}", run.code());
    let said = format!("{}{}", run.stdout(), run.stderr());
    assert!(said.contains("No space left on device"), "{said}");

    // Room again: everything committed is there, the failed poll is all or nothing.
    std::process::Command::new("mount")
        .args(["-o", "remount,size=64m"])
        .arg(&store_dir)
        .status()
        .unwrap();
    let entries = site.entries();
    assert!(
        entries.len() >= stored && entries.len().is_multiple_of(40),
        "{} entries after {stored}",
        entries.len()
    );
    let run = site.thau(&["poll", "--source", &format!("f{failed_source}")]);
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    assert_eq!(site.entries().len(), stored + 40);
}

#[test]
fn a_store_of_another_schema_version_is_refused_clearly() {
    let site = Site::new("");
    drop(site.store());
    let db = sled::open(site.store_path()).unwrap();
    db.insert(b"meta\0schema", &b"999"[..]).unwrap();
    db.flush().unwrap();
    drop(db);
    let run = site.thau(&["poll"]);
    assert_eq!(run.code(), 2);
    assert!(
        run.stderr()
            .contains("has schema version 999, but this thau reads version 3"),
        "{}",
        run.stderr()
    );
}

/// Logs written to a file or journald carried ANSI colours, and one entry
/// of badly nested tables made the HTML parser log a warning per table.
#[test]
fn logs_are_plain_text_off_a_terminal_and_the_html_parser_keeps_quiet() {
    let origin = Origin::start();
    let tables = "&lt;table&gt;&lt;b&gt;&lt;tr&gt;&lt;td&gt;x&lt;/b&gt;&lt;/table&gt;".repeat(2000);
    let rss = format!(
        "<rss version=\"2.0\"><channel><title>t</title><item><guid>g</guid><title>Tables</title><description>{tables}</description></item></channel></rss>"
    );
    origin.route("/tables.xml", Route::feed(rss, "application/rss+xml"));
    origin.route("/broken.xml", Route::status(500, &[]));
    let site = Site::new(&config(
        &[
            ("tables", origin.url("/tables.xml")),
            ("broken", origin.url("/broken.xml")),
        ],
        "",
    ));
    let run = site.command(&["poll"]).env("RUST_LOG", "thau=info").output().unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("poll failed"), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "no colour codes when stderr is not a terminal: {stderr:?}"
    );
    assert!(stderr.lines().count() < 20, "{} lines of log", stderr.lines().count());
}

/// Odd inputs readers used to get wrong: a JSON Feed attachment without a
/// url (it became the link), an item with no text (invalid JSON Feed), one
/// invalid byte in UTF-8 (mojibake), a text title holding markup (a tag in
/// RSS readers), `&amp;` in a feed URL suggested from a web page, and a
/// source's configured title (never used).
#[test]
fn odd_inputs_are_republished_faithfully() {
    let origin = Origin::start();
    let json = r#"{"version": "https://jsonfeed.org/version/1.1", "title": "Podcast de l'étang", "items": [
        {"id": "ep1", "title": "Épisode 1", "attachments": [{"url": "https://podcast.example/ep1.mp3", "mime_type": "audio/mpeg", "size_in_bytes": 1234}]},
        {"id": "ep2", "title": "Épisode 2"}]}"#;
    origin.route("/podcast.json", Route::feed(json, "application/feed+json"));
    let mut utf8 = "<?xml version=\"1.0\" encoding=\"utf-8\"?><rss version=\"2.0\"><channel><title>t</title><item><guid>u1</guid><title>Mèze et Sète @</title></item></channel></rss>".as_bytes().to_vec();
    let at = utf8.iter().position(|&b| b == b'@').unwrap();
    utf8[at] = 0xff;
    origin.route("/utf8.xml", Route::feed(utf8, "application/rss+xml"));
    let atom = r#"<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>urn:t</id><updated>2026-11-20T10:00:00Z</updated>
        <entry><id>urn:b</id><title type="text">History of the &lt;blink&gt; tag</title><updated>2026-11-20T10:00:00Z</updated></entry></feed>"#;
    origin.route("/blink.atom", Route::feed(atom, "application/atom+xml"));
    let page = r#"<!doctype html><html><head><link rel="alternate" type="application/rss+xml" href="/rss?lang=fr&amp;rubrique=sete"></head></html>"#;
    origin.route("/page", Route::feed(page, "text/html"));
    let mut text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[[sections]]\nslug = \"all\"\ntitle = \"Tout\"\n\n\
         [[sources]]\nname = \"podcast\"\nurl = \"{}\"\nsections = [\"all\"]\ntitle = \"Le podcast du Bassin\"\n\n\
         [[sources]]\nname = \"utf8\"\nurl = \"{}\"\nsections = [\"all\"]\n\n\
         [[sources]]\nname = \"blink\"\nurl = \"{}\"\nsections = [\"all\"]\n\n\
         [[sources]]\nname = \"page\"\nurl = \"{}\"\n",
        origin.url("/podcast.json"),
        origin.url("/utf8.xml"),
        origin.url("/blink.atom"),
        origin.url("/page")
    );
    let site = Site::new(&text);
    let run = site.thau(&["poll"]);
    assert_eq!(
        run.line("page").1,
        format!(
            "not a feed but an HTML page; its feed is {}: use that URL",
            origin.url("/rss?lang=fr&rubrique=sete")
        )
    );

    text = text.replace(
        &format!("[[sources]]\nname = \"page\"\nurl = \"{}\"\n", origin.url("/page")),
        "",
    );
    site.write_config(&text);
    let serve = site.serve();
    let feed: serde_json::Value = serde_json::from_slice(&get(&serve.url("/sections/all/feed.json")).body).unwrap();
    let items = feed["items"].as_array().unwrap();
    let item = |title: &str| {
        items
            .iter()
            .find(|i| i["title"] == title)
            .unwrap_or_else(|| panic!("{title}: {feed:#}"))
    };
    let ep1 = item("Épisode 1");
    assert!(
        ep1.get("url").is_none(),
        "an attachment is not the item's link: {ep1:#}"
    );
    assert_eq!(ep1["attachments"][0]["url"], "https://podcast.example/ep1.mp3");
    assert_eq!(ep1["attachments"][0]["mime_type"], "audio/mpeg");
    let ep2 = item("Épisode 2");
    assert!(
        ep2.get("content_html").is_some() || ep2.get("content_text").is_some(),
        "{ep2:#}"
    );
    item("Mèze et Sète \u{fffd}");
    assert_eq!(ep1["_thau"]["sources"][0]["feed_title"], "Le podcast du Bassin");
    let rss = get(&serve.url("/sections/all/rss.xml")).text();
    assert!(rss.contains(">Le podcast du Bassin</source>"), "{rss}");
    // Readers that take RSS titles for HTML see text, not a <blink> tag.
    assert!(
        rss.contains("<title>History of the &amp;lt;blink&amp;gt; tag</title>"),
        "{rss}"
    );
    let atom = get(&serve.url("/sections/all/atom.xml")).text();
    assert!(
        atom.contains("<title>History of the &lt;blink&gt; tag</title>"),
        "Atom says it is text: {atom}"
    );
}

/// Two sources relaying each other's stories used to publish different ids
/// and titles depending on which poll finished first. What is published is
/// now a function of the versions alone.
#[test]
fn relayed_stories_publish_the_same_ids_and_texts_whatever_the_poll_order() {
    let origin = Origin::start();
    let journal = r#"<rss version="2.0"><channel><title>Le Journal</title>
        <item><guid isPermaLink="false">j-1</guid><title>Budget : ce qu'en dit le journal</title><link>https://mairie.example/budget-2027</link><description>Bref.</description></item>
        <item><guid isPermaLink="false">j-2</guid><title>Marché : version du journal</title><link>https://marche.example/jeudi</link><description>Le marché du jeudi.</description></item>
        </channel></rss>"#;
    let mairie = r#"<feed xmlns="http://www.w3.org/2005/Atom"><title>Mairie</title><id>urn:mairie</id><updated>2026-11-20T10:00:00Z</updated>
        <entry><id>https://mairie.example/budget-2027</id><title>Budget 2027 adopté</title><updated>2026-11-20T10:00:00Z</updated>
        <link href="https://mairie.example/budget-2027"/><content type="html">&lt;p&gt;Le texte complet.&lt;/p&gt;</content></entry></feed>"#;
    let agenda = r#"<rss version="2.0"><channel><title>Agenda</title>
        <item><guid isPermaLink="false">a-9</guid><title>Marché : version de l'agenda</title><link>https://marche.example/jeudi</link><description>Le marché, jeudi matin.</description></item>
        </channel></rss>"#;
    origin.route("/journal.xml", Route::feed(journal, "application/rss+xml"));
    origin.route("/mairie.atom", Route::feed(mairie, "application/atom+xml"));
    origin.route("/agenda.xml", Route::feed(agenda, "application/rss+xml"));
    let sources = [
        ("journal", origin.url("/journal.xml")),
        ("mairie", origin.url("/mairie.atom")),
        ("agenda", origin.url("/agenda.xml")),
    ];
    let published = |order: &[&[&str]]| {
        let site = Site::new(&config(&sources, ""));
        for batch in order {
            let mut args = vec!["poll"];
            if let [one] = batch {
                args.extend(["--source", one]);
            }
            assert_eq!(site.thau(&args).code(), 0);
        }
        let mut entries: Vec<(String, String, Option<String>, Vec<String>)> = site
            .entries()
            .into_iter()
            .map(|e| {
                let sources = e.source_names().map(str::to_owned).collect();
                (e.id, e.title, e.link, sources)
            })
            .collect();
        entries.sort();
        entries
    };
    let all_at_once = published(&[&["journal", "mairie", "agenda"]]);
    assert_eq!(all_at_once.len(), 2, "{all_at_once:#?}");
    let budget = all_at_once.iter().find(|e| e.0.contains("budget")).unwrap();
    assert_eq!(
        budget.1, "Budget 2027 adopté",
        "the publisher's permalink version speaks for the story"
    );
    assert_eq!(budget.3, ["mairie", "journal"]);
    let market = all_at_once.iter().find(|e| e.1.starts_with("Marché")).unwrap();
    assert_eq!(market.3, ["agenda", "journal"], "equal claims: alphabetical");
    for order in [
        &[&["journal"][..], &["mairie"], &["agenda"]][..],
        &[&["agenda"], &["mairie"], &["journal"]],
        &[&["mairie"], &["journal"], &["agenda"]],
    ] {
        assert_eq!(published(order), all_at_once, "polled in the order {order:?}");
    }
}
