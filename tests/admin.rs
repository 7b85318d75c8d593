//! Admin tools in feeds.toml, as an admin meets them through the real
//! binary and a real origin on 127.0.0.1: `include`/`exclude` filters on a
//! source (what is stored) and on a section (what it shows), and
//! `enabled = false` to pause a source without losing anything.

mod support;

use support::{Origin, Route, Site, get};

fn rss() -> String {
    let items = [
        ("Joutes nautiques à Sète", "Sport"),
        ("Achetez nos abonnements", "Publi-reportage"),
        ("Conseil municipal de Mèze", "Politique"),
        ("Agenda du week-end", "Culture"),
    ];
    let mut x = String::from(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Le Courrier</title><link>https://courrier.example/</link>\n",
    );
    for (i, (title, category)) in items.iter().enumerate() {
        x.push_str(&format!(
            "<item><title>{title}</title><link>https://courrier.example/{i}</link><category>{category}</category>\
             <pubDate>Tue, 2{i} Nov 2026 08:00:00 GMT</pubDate><description>Texte {i}.</description></item>\n"
        ));
    }
    x.push_str("</channel></rss>\n");
    x
}

fn config(origin: &Origin, source_extra: &str) -> String {
    format!(
        r#"[server]
listen = "127.0.0.1:0"

[[sections]]
slug = "tout"
title = "Tout"

[[sections]]
slug = "meze"
title = "Mèze"
include = ["meze"]

[[sections]]
slug = "sans-agenda"
title = "Sans agenda"
exclude = ["/^agenda\\b/"]

[[sources]]
name = "courrier"
url = "{}"
sections = ["tout", "meze", "sans-agenda"]
{source_extra}
"#,
        origin.url("/courrier.xml")
    )
}

fn titles(serve: &support::Serve, slug: &str) -> Vec<String> {
    let feed: serde_json::Value =
        serde_json::from_slice(&get(&serve.url(&format!("/sections/{slug}/feed.json"))).body).unwrap();
    let mut t: Vec<String> = feed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["title"].as_str().unwrap().to_string())
        .collect();
    t.sort();
    t
}

#[test]
fn source_filters_keep_stories_out_of_the_store_and_section_filters_out_of_a_section() {
    let origin = Origin::start();
    origin.route("/courrier.xml", Route::feed(rss(), "application/rss+xml"));
    let site = Site::new(&config(&origin, r#"exclude = ["publi-reportage", "/^achetez/"]"#));
    let run = site.thau(&["poll"]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    // Not stored at all.
    let stored: Vec<String> = site.entries().into_iter().map(|e| e.title).collect();
    assert_eq!(stored.len(), 3, "{stored:?}");
    assert!(!stored.iter().any(|t| t.contains("Achetez")));

    let serve = site.serve();
    assert_eq!(
        titles(&serve, "tout"),
        [
            "Agenda du week-end",
            "Conseil municipal de Mèze",
            "Joutes nautiques à Sète"
        ]
    );
    // "meze" matches "Mèze": accents and case do not count.
    assert_eq!(titles(&serve, "meze"), ["Conseil municipal de Mèze"]);
    assert_eq!(
        titles(&serve, "sans-agenda"),
        ["Conseil municipal de Mèze", "Joutes nautiques à Sète"]
    );
    // The status page says how many the source kept out.
    let status = get(&serve.url("/status")).text();
    assert!(
        status.contains("1 of the last document kept out by include/exclude"),
        "{status}"
    );
}

#[test]
fn a_paused_source_is_not_polled_and_keeps_its_entries() {
    let origin = Origin::start();
    origin.route("/courrier.xml", Route::feed(rss(), "application/rss+xml"));
    let site = Site::new(&config(&origin, ""));
    assert_eq!(site.thau(&["poll"]).code(), 0);
    assert_eq!(origin.requests("/courrier.xml").len(), 1);

    site.write_config(&config(&origin, "enabled = false"));
    let run = site.thau(&["poll"]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_eq!(
        origin.requests("/courrier.xml").len(),
        1,
        "a paused source is not polled"
    );
    let serve = site.serve();
    // Nor at the daemon's start; its entries are still published.
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(origin.requests("/courrier.xml").len(), 1);
    assert_eq!(titles(&serve, "tout").len(), 4);
    assert!(get(&serve.url("/status")).text().contains("paused (enabled = false)"));
    let api: serde_json::Value = serde_json::from_slice(&get(&serve.url("/api/sources")).body).unwrap();
    assert_eq!(api["sources"][0]["enabled"], false);
    assert!(api["sources"][0]["next_poll"].is_null());
    drop(serve);

    // Named on the command line, it is polled: the admin asked.
    assert_eq!(site.thau(&["poll", "--source", "courrier"]).code(), 0);
    assert_eq!(origin.requests("/courrier.xml").len(), 2);
}

#[test]
fn check_explains_filter_and_pause_mistakes_with_their_lines() {
    let origin = Origin::start();
    let site = Site::new(
        &config(&origin, "enabled = \"no\"\ninclude = [\"/(unclosed/\", \"  \"]")
            .replace("include = [\"meze\"]", "include = \"meze\""),
    );
    let run = site.thau(&["check"]);
    assert_eq!(run.code(), 2);
    let err = run.stderr();
    let file = site.config_path().display().to_string();
    for expected in [
        format!("{file}:11: section \"meze\": include: expected a list of strings"),
        format!("{file}:22: source \"courrier\": enabled: expected true or false"),
        format!("{file}:23: source \"courrier\": include: \"/(unclosed/\": not a regular expression"),
        format!("{file}:23: source \"courrier\": include: \"  \": a keyword needs a letter or a digit"),
    ] {
        assert!(err.contains(&expected), "missing {expected:?} in:\n{err}");
    }
}
