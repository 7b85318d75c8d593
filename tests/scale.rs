//! Many sources at once, through the real binary: what only shows with
//! hundreds or thousands of sources (deadlocks, quadratic loops).

mod support;

use std::fmt::Write as _;
use std::time::Duration;

use support::{Origin, Route, Site};

/// An RSS feed of `items` stories, distinct per source.
fn feed(source: usize, items: usize) -> String {
    let mut s = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><rss version=\"2.0\"><channel><title>Source {source}</title>\
         <link>https://s{source}.example/</link><description>d</description>"
    );
    for i in 0..items {
        let _ = write!(
            s,
            "<item><title>Source {source}, article {i}</title><link>https://s{source}.example/a/{i}</link>\
             <guid>https://s{source}.example/a/{i}</guid><pubDate>Tue, 24 Nov 2026 {:02}:{:02}:00 +0100</pubDate>\
             <category>Sète</category><description>&lt;p&gt;Résumé de l'article {i} de la source {source}, \
             sur l'étang de Thau.&lt;/p&gt;</description></item>",
            i % 24,
            source % 60
        );
    }
    s.push_str("</channel></rss>");
    s
}

/// sled 0.34 deadlocks for good when flushes run concurrently: hundreds of
/// polls with new entries finishing together used to hang `thau poll` at
/// 0% CPU. The store's group commit makes one flush serve them all.
#[test]
fn hundreds_of_sources_with_new_entries_poll_without_hanging() {
    const SOURCES: usize = 300;
    let hosts: Vec<Origin> = (1..=6).map(|h| Origin::start_on(&format!("127.0.0.{h}"))).collect();
    let mut config = String::from(
        "[poll]\ntimeout = \"20s\"\nconcurrency = 128\nper_host = 64\n\n[[sections]]\nslug = \"sete\"\ntitle = \"Sète\"\ncategories = [\"Sète\"]\n",
    );
    for n in 0..SOURCES {
        let origin = &hosts[n % hosts.len()];
        let path = format!("/feed-{n}.xml");
        origin.route(&path, Route::feed(feed(n, 20), "application/rss+xml"));
        let _ = write!(
            config,
            "\n[[sources]]\nname = \"s{n}\"\nurl = \"{}\"\n",
            origin.url(&path)
        );
    }
    let site = Site::new(&config);
    let run = site.thau_within(&["poll"], Duration::from_secs(120));
    assert_eq!(run.code(), 0, "{}\n{}", run.stdout(), run.stderr());
    for n in 0..SOURCES {
        let (outcome, detail) = run.line(&format!("s{n}"));
        assert_eq!(
            (outcome.as_str(), detail.as_str()),
            ("new", "20 new, 0 updated, 0 unchanged (20 in feed)")
        );
    }
    assert_eq!(site.entries().len(), SOURCES * 20, "every entry stored and flushed");
}

/// Line numbers used to be found by counting newlines from the start of
/// the file for every value: 50,000 sources took minutes to check.
#[test]
fn fifty_thousand_sources_are_checked_quickly_with_the_same_messages() {
    const SOURCES: usize = 50_000;
    let mut config = String::from("[[sections]]\nslug = \"sete\"\ntitle = \"Sète\"\n");
    for n in 0..SOURCES {
        let _ = write!(
            config,
            "\n[[sources]]\nname = \"s{n}\"\nurl = \"http://127.0.0.{}/feed-{n}.xml\"\nsections = [\"sete\"]\n",
            n % 32 + 1
        );
    }
    let site = Site::new(&config);
    let run = site.thau_within(&["check"], Duration::from_secs(30));
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert!(
        run.stdout().contains("ok (50000 sources, 1 sections)"),
        "{}",
        run.stdout()
    );

    // A mistake at the end is found at its line, with its hint.
    let lines = config.lines().count();
    config.push_str("\n[[sources]]\nname = \"last\"\nurl = \"http://127.0.0.1/last.xml\"\nsections = [\"setee\"]\n");
    site.write_config(&config);
    let run = site.thau_within(&["check"], Duration::from_secs(30));
    assert_eq!(run.code(), 2);
    assert_eq!(
        run.stderr().trim(),
        format!(
            "{}:{}: source \"last\": unknown section \"setee\" (did you mean \"sete\"?)",
            site.config_path().display(),
            lines + 5
        )
    );
}
