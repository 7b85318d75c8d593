//! The editorial desk as an admin meets it: a story taken down with `thau
//! hide` (or the admin API) on a running daemon leaves every feed, page,
//! archive page, digest and the export within seconds, stays down across
//! polls and restarts, and comes back with `thau unhide`. The real binary,
//! a real origin on 127.0.0.1.

mod support;

use chrono::{Duration, Utc};
use support::{Origin, Route, Site, get, http, wait_for};

/// RSS with items 0..n, item `i` published `i` hours ago.
fn rss(n: usize) -> String {
    feed("courrier", "Le Courrier", "Article", n, 0)
}

/// RSS of `host`.example with items 0..n titled `{prefix} {i}`, item `i`
/// published `ago + i` hours ago.
fn feed(host: &str, title: &str, prefix: &str, n: usize, ago: i64) -> String {
    let now = Utc::now();
    let mut x = format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>{title}</title><link>https://{host}.example/</link>\n"
    );
    for i in 0..n {
        x.push_str(&format!(
            "<item><title>{prefix} {i}</title><link>https://{host}.example/{i}</link>\
             <guid isPermaLink=\"false\">{host}-{i}</guid><pubDate>{}</pubDate>\
             <description>Texte de l'article {i}.</description></item>\n",
            (now - Duration::hours(ago + i as i64)).to_rfc2822()
        ));
    }
    x.push_str("</channel></rss>\n");
    x
}

const TOKEN: &str = "desk-token-0123456789";

fn config(origin: &Origin) -> String {
    format!(
        r#"# The desk's configuration.
[server]
listen = "127.0.0.1:0"
base_url = "http://news.example"
page_size = 10
archive_page_size = 10
admin_token = "{TOKEN}"

[export]
dir = "public"

[[sections]]
slug = "sete"
title = "Sète"
digest = "daily"

[[sources]]
name = "courrier"
url = "{}"
sections = ["sete"]
"#,
        origin.url("/courrier.xml")
    )
}

/// A POST of `json` to an admin endpoint, with the admin token.
fn admin_post(url: &str, json: &str) -> support::Resp {
    let auth = format!("Bearer {TOKEN}");
    support::http_with_body(
        "POST",
        url,
        &[("Authorization", &auth), ("Content-Type", "application/json")],
        json.as_bytes(),
    )
}

/// The address of the story titled `title` on a page.
fn story_address(page: &str, title: &str) -> String {
    let end = page
        .find(&format!("\">{title}</a>"))
        .unwrap_or_else(|| panic!("{title} is not on the page:\n{page}"));
    let start = page[..end].rfind("href=\"").unwrap() + 6;
    page[start..end].to_string()
}

/// Each archive page of the section (RSS), by number.
fn archive_pages(serve: &support::Serve) -> Vec<(u32, String)> {
    (1..)
        .map(|n| (n, get(&serve.url(&format!("/sections/sete/archive/{n}.xml")))))
        .take_while(|(_, r)| r.status == 200)
        .map(|(n, r)| (n, r.text()))
        .collect()
}

/// Whether `title` is in a document as a title (not as a prefix of another).
fn shows(doc: &str, title: &str) -> bool {
    [">", "\""]
        .iter()
        .any(|open| doc.contains(&format!("{open}{title}<")) || doc.contains(&format!("{open}{title}\"")))
}

#[test]
fn a_story_taken_down_leaves_every_feed_page_archive_digest_and_export_and_stays_down() {
    let origin = Origin::start();
    origin.route("/courrier.xml", Route::feed(rss(35), "application/rss+xml"));
    let site = Site::new(&config(&origin));
    assert_eq!(site.thau(&["poll"]).code(), 0);
    let serve = site.serve();
    let out = site.dir.path().join("public");
    wait_for("the archive pages and the digest", || {
        get(&serve.url("/sections/sete/rss.xml"))
            .text()
            .contains("prev-archive")
            && get(&serve.url("/sections/sete/digest.xml")).text().contains("<item>")
            && out.join("sections/sete/archive/1.xml").exists()
    });

    // A: on the front page, its section's page and feeds (hidden by its
    // page's address). B: an older story, in an archive page and in
    // yesterday's digest (hidden by its link, through the admin API).
    let section_page = get(&serve.url("/sections/sete/")).text();
    let a_address = story_address(&section_page, "Article 3");
    let a_page = a_address.replace("http://news.example", &serve.base);
    assert_eq!(get(&a_page).status, 200);
    let a_file = out.join(a_address.trim_start_matches("http://news.example/"));
    wait_for("A's page in the export", || a_file.exists());
    let digest = get(&serve.url("/sections/sete/digest.xml")).text();
    let b = (10..35).rev().find(|i| digest.contains(&format!("Article {i}<")));
    let b = b.unwrap_or_else(|| panic!("no archived story in the digest:\n{digest}"));
    let b_title = format!("Article {b}");
    let pages_before = archive_pages(&serve);
    let b_page = pages_before
        .iter()
        .find(|(_, xml)| shows(xml, &b_title))
        .map(|(n, _)| *n)
        .unwrap_or_else(|| panic!("{b_title} is in no archive page"));
    assert!(shows(&get(&serve.url("/sections/sete/atom.xml")).text(), "Article 3"));

    let run = site.thau(&["hide", &a_address, "--reason", "Demande de retrait (avocat)"]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert!(run.stdout().contains("hid"), "{}", run.stdout());
    let toml = std::fs::read_to_string(site.config_path()).unwrap();
    assert!(
        toml.starts_with("# The desk's configuration."),
        "comments kept:\n{toml}"
    );
    assert!(
        toml.contains("[[hidden]]") && toml.contains("reason = \"Demande de retrait (avocat)\""),
        "{toml}"
    );

    // The admin API hides B by its link: behind the token.
    let b_link = format!("https://courrier.example/{b}");
    let api = serve.url(&format!(
        "/api/stories/{}/hide",
        b_link.replace(':', "%3A").replace('/', "%2F")
    ));
    assert_eq!(http("POST", &api, &[]).status, 401);
    let auth = format!("Bearer {TOKEN}");
    let hidden = admin_post(&api, r#"{"reason": "Erreur de date"}"#);
    assert_eq!(hidden.status, 200, "{}", hidden.text());

    // Within seconds (the daemon reloads feeds.toml), everywhere.
    wait_for("A to leave the section feed", || {
        !shows(&get(&serve.url("/sections/sete/rss.xml")).text(), "Article 3")
    });
    wait_for("B to leave the digest", || {
        !shows(&get(&serve.url("/sections/sete/digest.xml")).text(), &b_title)
    });
    let gone = |why: &str| {
        for path in [
            "/sections/sete/rss.xml",
            "/sections/sete/atom.xml",
            "/sections/sete/feed.json",
            "/rss.xml",
            "/",
        ] {
            let doc = get(&serve.url(path)).text();
            assert!(!shows(&doc, "Article 3"), "{why}: A is still in {path}:\n{doc}");
        }
        let section_page = get(&serve.url("/sections/sete/")).text();
        assert!(!section_page.contains(&a_address), "{why}: {section_page}");
        assert!(section_page.contains("Article 4"), "{why}: the others stay");
        assert_eq!(get(&a_page).status, 404, "{why}: A's page");
        let digest = get(&serve.url("/sections/sete/digest.xml")).text();
        assert!(!shows(&digest, &b_title), "{why}: B is still in the digest:\n{digest}");
        // Archive pages keep their numbers; B's is one story shorter.
        let pages = archive_pages(&serve);
        assert_eq!(pages.len(), pages_before.len(), "{why}: archive pages renumbered");
        for ((n, xml), (_, before)) in pages.iter().zip(&pages_before) {
            assert!(!shows(xml, &b_title), "{why}: B is still in archive page {n}");
            let removed = usize::from(*n == b_page);
            assert_eq!(
                xml.matches("<item>").count(),
                before.matches("<item>").count() - removed
            );
        }
        let json = get(&serve.url(&format!("/sections/sete/archive/{b_page}.json"))).text();
        assert!(!shows(&json, &b_title), "{why}: {json}");
    };
    gone("once hidden");
    // The export follows: A's page deleted, its feeds and B's archive page
    // rewritten.
    wait_for("the export to drop A and B", || {
        !a_file.exists()
            && std::fs::read_to_string(out.join("sections/sete/rss.xml")).is_ok_and(|x| !shows(&x, "Article 3"))
            && std::fs::read_to_string(out.join(format!("sections/sete/archive/{b_page}.xml")))
                .is_ok_and(|x| !shows(&x, &b_title))
    });
    // The status page says what is hidden, and why.
    let status = get(&serve.url("/status")).text();
    assert!(
        status.contains("Stories handled by hand") && status.contains(">hidden<"),
        "{status}"
    );
    assert!(
        status.contains("Demande de retrait (avocat)") && status.contains("Erreur de date"),
        "{status}"
    );
    assert!(status.contains(&b_link), "{status}");

    // A poll that brings them again does not bring them back.
    let polled = http(
        "POST",
        &serve.url("/api/sources/courrier/poll"),
        &[("Authorization", &auth)],
    );
    assert_eq!(polled.status, 200, "{}", polled.text());
    gone("after a poll");
    // Nor does a restart.
    assert!(serve.terminate().success());
    let serve = site.serve();
    let a_page = a_address.replace("http://news.example", &serve.base);
    assert_eq!(get(&a_page).status, 404);
    assert!(!shows(&get(&serve.url("/sections/sete/rss.xml")).text(), "Article 3"));
    assert!(!shows(&get(&serve.url("/sections/sete/digest.xml")).text(), &b_title));

    // `thau hide` lists them; `thau unhide` brings A back within seconds.
    let listed = site.thau(&["hide"]);
    assert_eq!(listed.code(), 0);
    assert_eq!(listed.stdout().lines().count(), 2, "{}", listed.stdout());
    assert!(listed.stdout().contains(&b_link), "{}", listed.stdout());
    let run = site.thau(&["unhide", &a_address]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    wait_for("A to come back", || {
        shows(&get(&serve.url("/sections/sete/rss.xml")).text(), "Article 3")
    });
    assert_eq!(get(&a_page).status, 200);
    assert!(!shows(&get(&serve.url("/sections/sete/digest.xml")).text(), &b_title));
    // Unhiding what is not hidden says so.
    let run = site.thau(&["unhide", "https://courrier.example/nothing"]);
    assert_eq!(run.code(), 2);
    assert!(run.stderr().contains("is not hidden"), "{}", run.stderr());
}

#[test]
fn a_hidden_story_is_named_once_and_checked_with_its_line() {
    let site = Site::new(
        "[[hidden]]\nstory = \"https://courrier.example/1\"\n\n[[hidden]]\nstory = \"https://courrier.example/1\"\nat = \"yesterday\"\n",
    );
    let run = site.thau(&["check"]);
    assert_eq!(run.code(), 2, "{}", run.stdout());
    let said = format!("{}{}", run.stdout(), run.stderr());
    assert!(said.contains(":5:") || said.contains("line 5"), "{said}");
    assert!(said.contains("already hidden (line 2)"), "{said}");
    assert!(said.contains(":6:") || said.contains("line 6"), "{said}");
    assert!(said.contains("at: expected a date"), "{said}");
}

/// Each section goes out under its own name, language, logo, icon and
/// rights, in every format and on its page; and with `max_per_source` no
/// source fills it on its own.
#[test]
fn a_section_has_its_own_face_and_no_source_fills_it_alone() {
    let origin = Origin::start();
    origin.route("/courrier.xml", Route::feed(rss(6), "application/rss+xml"));
    // The town hall's notices are older than every story of the paper.
    let older = feed("mairie", "La Mairie", "Avis", 3, 72);
    origin.route("/mairie.xml", Route::feed(older, "application/rss+xml"));
    let site = Site::new(&format!(
        r#"[server]
listen = "127.0.0.1:0"
base_url = "http://news.example"

[[sections]]
slug = "sete"
title = "Sète"
description = "Toute l'actualité de Sète"
language = "fr"
logo = "https://news.example/sete-logo.png"
icon = "https://news.example/sete-icon.png"
copyright = "© 2026 Le Bassin de Thau"
max_per_source = 2

[[sources]]
name = "courrier"
url = "{}"
sections = ["sete"]

[[sources]]
name = "mairie"
url = "{}"
sections = ["sete"]
"#,
        origin.url("/courrier.xml"),
        origin.url("/mairie.xml")
    ));
    assert_eq!(site.thau(&["poll"]).code(), 0);
    let serve = site.serve();

    let rss_feed = get(&serve.url("/sections/sete/rss.xml")).text();
    for part in [
        "<copyright>© 2026 Le Bassin de Thau</copyright>",
        "<language>fr</language>",
        "<url>https://news.example/sete-logo.png</url>",
    ] {
        assert!(rss_feed.contains(part), "{part} not in\n{rss_feed}");
    }
    let atom = get(&serve.url("/sections/sete/atom.xml")).text();
    for part in [
        "<rights>© 2026 Le Bassin de Thau</rights>",
        "<icon>https://news.example/sete-icon.png</icon>",
        "<logo>https://news.example/sete-logo.png</logo>",
        "xml:lang=\"fr\"",
    ] {
        assert!(atom.contains(part), "{part} not in\n{atom}");
    }
    let json: serde_json::Value = serde_json::from_slice(&get(&serve.url("/sections/sete/feed.json")).body).unwrap();
    assert_eq!(json["icon"], "https://news.example/sete-logo.png");
    assert_eq!(json["favicon"], "https://news.example/sete-icon.png");
    assert_eq!(json["language"], "fr");
    let page = get(&serve.url("/sections/sete/")).text();
    assert!(
        page.contains("<link rel=\"icon\" href=\"https://news.example/sete-icon.png\">"),
        "{page}"
    );
    assert!(
        page.contains("<img class=\"logo\" src=\"https://news.example/sete-logo.png\""),
        "{page}"
    );
    assert!(page.contains("© 2026 Le Bassin de Thau"), "{page}");
    if let Some(clients) = support::clients_dir() {
        let v = std::process::Command::new(clients.join("validate-atom.sh"))
            .arg(serve.url("/sections/sete/atom.xml"))
            .output()
            .unwrap();
        assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
    }

    // Six stories of the paper, three older notices: two of each, newest first.
    let titles: Vec<String> = json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["title"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(titles, ["Article 0", "Article 1", "Avis 0", "Avis 1"], "{json:#}");
    assert_eq!(rss_feed.matches("<item>").count(), 4);
    assert_eq!(page.matches("<article>").count(), 4, "{page}");
}

/// A source's rewrite rules fix what it publishes before thau stores it:
/// a title prefix dropped, a tracking redirect undone (so the story merges
/// with the same story from another source), a newsletter box cut; `thau
/// test-source` shows before and after; rules that change apply to the
/// stored stories at the next poll; a rule that cannot compile is a
/// `thau check` error with its line.
#[test]
fn rewrite_rules_fix_a_source_before_it_is_stored() {
    let origin = Origin::start();
    origin.route(
        "/courrier.xml",
        Route::feed(
            r#"<?xml version="1.0"?><rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>Le Courrier</title><link>https://courrier.example/</link>
<item><title>[Abonnés] Le port de Sète s'agrandit</title><link>https://track.example/r?u=2026/port</link><guid isPermaLink="false">c-1</guid>
<pubDate>Tue, 01 Dec 2026 08:00:00 GMT</pubDate><description>Les travaux commencent. Lire la suite sur notre site</description>
<content:encoded><![CDATA[<p>Les travaux commencent au printemps.</p><div class="newsletter"><p>Inscrivez-vous à notre lettre</p></div><p>Fin des travaux en 2028.</p>]]></content:encoded></item>
</channel></rss>"#,
            "application/rss+xml",
        ),
    );
    origin.route(
        "/agence.xml",
        Route::feed(
            r#"<?xml version="1.0"?><rss version="2.0"><channel><title>Agence</title><link>https://agence.example/</link>
<item><title>Le port de Sète s'agrandit</title><link>https://courrier.example/2026/port</link><guid isPermaLink="false">a-1</guid>
<pubDate>Tue, 01 Dec 2026 08:05:00 GMT</pubDate><description>Dépêche.</description></item>
</channel></rss>"#,
            "application/rss+xml",
        ),
    );
    let config = |title_rule: &str| {
        format!(
            r#"[server]
listen = "127.0.0.1:0"

[[sections]]
slug = "sete"
title = "Sète"

[[sources]]
name = "courrier"
url = "{}"
sections = ["sete"]
remove = [".newsletter"]

[[sources.rewrite]]
field = "title"
pattern = '{title_rule}'
replace = ""

[[sources.rewrite]]
field = "link"
pattern = '^https://track\.example/r\?u=(.*)$'
replace = "https://courrier.example/$1"

[[sources.rewrite]]
field = "summary"
pattern = '\s*Lire la suite.*$'

[[sources.rewrite]]
field = "content"
pattern = "Fin des travaux"
replace = "<script>alert(1)</script><b>Fin</b> des travaux"

[[sources]]
name = "agence"
url = "{}"
sections = ["sete"]
"#,
            origin.url("/courrier.xml"),
            origin.url("/agence.xml")
        )
    };
    let site = Site::new(&config(r"^\[Abonnés\]\s*"));

    let run = site.thau(&["test-source", "courrier"]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let shown = run.stdout();
    assert!(shown.contains("1. Le port de Sète s'agrandit"), "{shown}");
    assert!(
        shown.contains("rewritten title:\n     before: [Abonnés] Le port de Sète s'agrandit\n     after:  Le port de Sète s'agrandit"),
        "{shown}"
    );
    assert!(shown.contains("after:  https://courrier.example/2026/port"), "{shown}");
    assert!(shown.contains("rewritten content:"), "{shown}");

    assert_eq!(site.thau(&["poll"]).code(), 0);
    let stored = site.entries();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].sources.len(), 2, "{:?}", stored[0].sources);
    let serve = site.serve();
    let json: serde_json::Value = serde_json::from_slice(&get(&serve.url("/sections/sete/feed.json")).body).unwrap();
    let items = json["items"].as_array().unwrap();
    // One story: the paper's, whose link is now the agency's.
    assert_eq!(items.len(), 1, "{json:#}");
    let item = &items[0];
    assert_eq!(item["title"], "Le port de Sète s'agrandit");
    assert_eq!(item["url"], "https://courrier.example/2026/port");
    let html = item["content_html"].as_str().unwrap();
    assert!(!html.contains("Inscrivez-vous"), "{html}");
    // What a rule writes into HTML is sanitized as the source's HTML is.
    assert!(html.contains("<b>Fin</b> des travaux en 2028."), "{html}");
    assert!(!html.contains("script") && !html.contains("alert"), "{html}");
    assert!(
        !item["summary"].as_str().unwrap_or("").contains("Lire la suite"),
        "{item:#}"
    );
    drop(serve);

    // New rules apply to what is stored at the next poll.
    site.write_config(&config(r"^\[Abonnés\]\s*Le port"));
    assert_eq!(site.thau(&["poll"]).code(), 0);
    let titles: Vec<String> = site.entries().into_iter().map(|e| e.title).collect();
    assert_eq!(titles, ["de Sète s'agrandit"]);

    site.write_config(&config(r"^(unclosed"));
    let run = site.thau(&["check"]);
    assert_eq!(run.code(), 2);
    let said = format!("{}{}", run.stdout(), run.stderr());
    assert!(said.contains("feeds.toml:16:"), "{said}");
    assert!(
        said.contains("pattern: \"^(unclosed\": not a regular expression"),
        "{said}"
    );
}

/// `full_text_selector` picks the article element when readability would
/// guess wrong; the source's `remove` selectors cut from it too.
#[test]
fn full_text_selector_picks_the_article_element() {
    let origin = Origin::start();
    let feed = format!(
        r#"<?xml version="1.0"?><rss version="2.0"><channel><title>Mairie</title><link>{base}/</link>
<item><title>Conseil municipal</title><link>{base}/actus/1.html</link><description>Le conseil se réunit…</description><pubDate>Tue, 24 Nov 2026 08:00:00 GMT</pubDate></item>
</channel></rss>"#,
        base = origin.base
    );
    origin.route("/rss.xml", Route::feed(feed, "application/rss+xml"));
    // A long sidebar that readability would take for the article.
    let sidebar =
        "<p>Agenda de la semaine : marché, cinéma, piscine, médiathèque et bien d'autres rendez-vous.</p>".repeat(12);
    let page = format!(
        r#"<!DOCTYPE html><html><body><aside class="agenda">{sidebar}</aside>
<div class="actu-corps"><p>Le conseil municipal se réunira jeudi à 18 h en mairie.</p><p class="partage">Partager sur les réseaux</p></div></body></html>"#
    );
    origin.route("/actus/1.html", Route::feed(page, "text/html; charset=utf-8"));
    let site = Site::new(&format!(
        "[[sources]]\nname = \"mairie\"\nurl = \"{}\"\nfull_text = true\nfull_text_selector = \"div.actu-corps\"\nremove = [\".partage\"]\n",
        origin.url("/rss.xml")
    ));
    let run = site.thau(&["poll"]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let entries = site.entries();
    let content = entries[0].content.as_deref().expect("the article as content");
    assert!(content.contains("se réunira jeudi à 18 h"), "{content}");
    assert!(!content.contains("Agenda de la semaine"), "{content}");
    assert!(!content.contains("Partager"), "{content}");

    // A selector that is not one is a `thau check` error with its line.
    site.write_config(&format!(
        "[[sources]]\nname = \"mairie\"\nurl = \"{}\"\nfull_text = true\nfull_text_selector = \"div[\"\n",
        origin.url("/rss.xml")
    ));
    let run = site.thau(&["check"]);
    assert_eq!(run.code(), 2);
    let said = format!("{}{}", run.stdout(), run.stderr());
    assert!(
        said.contains("feeds.toml:5:") && said.contains("full_text_selector"),
        "{said}"
    );
}

/// The first story title of a feed (RSS) or page.
fn first_title(doc: &str) -> String {
    let at = doc.find("<item>").or_else(|| doc.find("<article>")).expect("a story");
    let rest = &doc[at..];
    let start = rest.find("<title>").map(|i| i + 7).unwrap_or_else(|| {
        let a = rest.find("<a href=").unwrap();
        a + rest[a..].find('>').unwrap() + 1
    });
    let end = start + rest[start..].find('<').unwrap();
    rest[start..end].to_string()
}

/// `thau pin` makes a story lead its section (first in its feeds and on
/// its page) or the front page, until a date; `thau pick` puts a story in
/// a section filled only by hand (`picks = true`); the admin API does the
/// same; the status page lists them.
#[test]
fn pinned_stories_lead_and_picked_stories_fill_a_section_by_hand() {
    let origin = Origin::start();
    origin.route("/courrier.xml", Route::feed(rss(12), "application/rss+xml"));
    let site = Site::new(&format!(
        r#"[server]
listen = "127.0.0.1:0"
base_url = "http://news.example"
admin_token = "{TOKEN}"

[[sections]]
slug = "sete"
title = "Sète"

[[sections]]
slug = "une"
title = "À la une"
picks = true

[[sources]]
name = "courrier"
url = "{}"
sections = ["sete"]
"#,
        origin.url("/courrier.xml")
    ));
    assert_eq!(site.thau(&["poll"]).code(), 0);
    let serve = site.serve();
    let feed = || get(&serve.url("/sections/sete/rss.xml")).text();
    assert_eq!(first_title(&feed()), "Article 0");
    // A section filled by hand is empty until the desk picks.
    assert_eq!(
        get(&serve.url("/sections/une/rss.xml"))
            .text()
            .matches("<item>")
            .count(),
        0
    );

    let run = site.thau(&["pin", "https://courrier.example/7", "--section", "sete"]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    wait_for("Article 7 to lead Sète", || first_title(&feed()) == "Article 7");
    let titles: Vec<String> = feed()
        .split("<item>")
        .skip(1)
        .map(|i| first_title(&format!("<item>{i}")))
        .collect();
    assert_eq!(
        titles[..4],
        ["Article 7", "Article 0", "Article 1", "Article 2"],
        "the others in order"
    );
    assert_eq!(titles.iter().filter(|t| *t == "Article 7").count(), 1, "once");
    assert_eq!(first_title(&get(&serve.url("/sections/sete/")).text()), "Article 7");
    let json: serde_json::Value = serde_json::from_slice(&get(&serve.url("/sections/sete/feed.json")).body).unwrap();
    assert_eq!(json["items"][0]["title"], "Article 7");

    // Pinned on the front page: its lead story, by its page's address.
    let page = get(&serve.url("/sections/sete/")).text();
    let nine = story_address(&page, "Article 9");
    assert_eq!(site.thau(&["pin", &nine, "--section", "front"]).code(), 0);
    wait_for("Article 9 to lead the front page", || {
        let front = get(&serve.url("/")).text();
        front
            .split("<article class=\"lead\">")
            .nth(1)
            .is_some_and(|lead| lead[..lead.find("</article>").unwrap()].contains("Article 9"))
    });

    // Picked into a section filled by hand, through the admin API.
    let api = serve.url(&format!("/api/stories/{}/pick", "https%3A%2F%2Fcourrier.example%2F5"));
    let r = admin_post(&api, r#"{"section": "une"}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    wait_for("Article 5 in À la une", || {
        get(&serve.url("/sections/une/rss.xml"))
            .text()
            .matches("<item>")
            .count()
            == 1
    });
    assert_eq!(
        first_title(&get(&serve.url("/sections/une/rss.xml")).text()),
        "Article 5"
    );
    // An unknown section is refused, with a suggestion.
    let run = site.thau(&["pick", "https://courrier.example/4", "--section", "setee"]);
    assert_eq!(run.code(), 2);
    assert!(run.stderr().contains("did you mean \"sete\""), "{}", run.stderr());

    let listed = site.thau(&["pin"]).stdout();
    assert!(listed.contains("pinned\tsete\thttps://courrier.example/7"), "{listed}");
    assert!(listed.contains("picked\tune\thttps://courrier.example/5"), "{listed}");
    let status = get(&serve.url("/status")).text();
    assert!(
        status.contains("leads Sète") && status.contains("put in À la une"),
        "{status}"
    );

    // A pin with an end: it ends on its own.
    assert_eq!(site.thau(&["unpin", "https://courrier.example/7"]).code(), 0);
    wait_for("the pin to go", || first_title(&feed()) == "Article 0");
    let until = (Utc::now() + Duration::seconds(3)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let run = site.thau(&[
        "pin",
        "https://courrier.example/3",
        "--section",
        "sete",
        "--until",
        &until,
    ]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    wait_for("Article 3 to lead", || first_title(&feed()) == "Article 3");
    wait_for("the pin to end", || first_title(&feed()) == "Article 0");
}

/// A private section's feeds and page need a subscriber's key (`?key=` or
/// the password of Basic authentication), one per subscriber from `thau
/// key add`, kept hashed and revocable; it stays out of everything public:
/// the front page, the "all sections" feed, the OPML, WebSub, the export.
#[test]
fn a_private_section_opens_only_with_a_subscriber_s_key() {
    let origin = Origin::start();
    origin.route("/courrier.xml", Route::feed(rss(3), "application/rss+xml"));
    origin.route(
        "/premium.xml",
        Route::feed(feed("premium", "Premium", "Exclusif", 3, 1), "application/rss+xml"),
    );
    let site = Site::new(&format!(
        r#"[server]
listen = "127.0.0.1:0"

[export]
dir = "public"

[[sections]]
slug = "sete"
title = "Sète"

[[sections]]
slug = "abonnes"
title = "Abonnés"
private = true

[[sources]]
name = "courrier"
url = "{}"
sections = ["sete"]

[[sources]]
name = "premium"
url = "{}"
sections = ["abonnes"]
"#,
        origin.url("/courrier.xml"),
        origin.url("/premium.xml")
    ));
    let run = site.thau(&["key", "add", "alice", "--section", "abonnes"]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let key = run.stdout().lines().nth(1).unwrap().trim().to_string();
    assert_eq!(key.len(), 48, "{}", run.stdout());
    let toml = std::fs::read_to_string(site.config_path()).unwrap();
    assert!(
        toml.contains("sha256 = ") && !toml.contains(&key),
        "only its hash is kept:\n{toml}"
    );
    // A public section cannot be given keys.
    assert_eq!(site.thau(&["key", "add", "bob", "--section", "sete"]).code(), 2);

    assert_eq!(site.thau(&["poll"]).code(), 0);
    let serve = site.serve();
    let feed_url = serve.url("/sections/abonnes/rss.xml");
    let refused = get(&feed_url);
    assert_eq!(refused.status, 401, "{}", refused.text());
    assert!(refused.header("www-authenticate").unwrap().starts_with("Basic"));
    assert_eq!(get(&format!("{feed_url}?key=wrong")).status, 401);
    let opened = get(&format!("{feed_url}?key={key}"));
    assert_eq!(opened.status, 200);
    assert_eq!(opened.header("cache-control"), Some("private, no-cache"));
    assert!(opened.text().contains("Exclusif 0"));
    use base64::Engine;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("alice:{key}"))
    );
    assert_eq!(http("GET", &feed_url, &[("Authorization", &basic)]).status, 200);
    assert_eq!(get(&format!("{feed_url}?limit=1&key={key}")).status, 200);
    assert_eq!(get(&format!("{}?limit=1", feed_url)).status, 401);
    let page_url = serve.url("/sections/abonnes/");
    assert_eq!(get(&page_url).status, 401);
    let page = get(&format!("{page_url}?key={key}"));
    assert_eq!(page.status, 200);
    let story = story_address(&page.text(), "Exclusif 0");
    let story = story.replace("http://127.0.0.1:0", &serve.base);
    let story = if story.starts_with("http") {
        story
    } else {
        serve.url(&story)
    };
    assert_eq!(get(&story).status, 401, "a story only in a private section");
    assert_eq!(get(&format!("{story}?key={key}")).status, 200);

    // Out of everything public.
    for path in ["/", "/feed.xml", "/sections.opml", "/sections/sete/"] {
        let doc = get(&serve.url(path)).text();
        assert!(
            !doc.contains("Exclusif") && !doc.contains("/sections/abonnes/"),
            "{path}:\n{doc}"
        );
    }
    let status = get(&serve.url("/status")).text();
    assert!(
        !status.contains("abonnes/rss.xml") && status.contains("private"),
        "{status}"
    );
    let form = format!(
        "hub.mode=subscribe&hub.topic={}&hub.callback=http%3A%2F%2F127.0.0.1%3A9%2Fcb",
        serve
            .url("/sections/abonnes/atom.xml")
            .replace(':', "%3A")
            .replace('/', "%2F")
    );
    let sub = support::http_with_body(
        "POST",
        &serve.url("/websub"),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        form.as_bytes(),
    );
    assert!(
        (400..500).contains(&sub.status),
        "a private feed is no WebSub topic: {}",
        sub.status
    );
    let out = site.dir.path().join("public");
    wait_for("the export", || out.join("sections/sete/rss.xml").exists());
    assert!(
        !out.join("sections/abonnes").exists(),
        "a private section is not exported"
    );

    // Revoked: the key opens nothing within seconds.
    assert_eq!(site.thau(&["key", "remove", "alice"]).code(), 0);
    wait_for("the key to be revoked", || {
        get(&format!("{feed_url}?key={key}")).status == 401
    });
}

/// An agency story three papers carry under their own URLs is one story
/// with `[dedupe] similarity`: every source kept, one story in the feeds,
/// and the paper's next version of it is still that story. Two stories of
/// one source are never merged, however alike; without the key nothing
/// is merged on text.
#[test]
fn one_story_from_the_wire_whatever_its_urls() {
    const WIRE: &str = "Le préfet de l'Hérault a annoncé mardi la fermeture temporaire de la pêche aux \
        coquillages dans l'étang de Thau après la détection d'une contamination bactérienne dans \
        plusieurs parcs conchylicoles entre Bouzigues et Mèze, une mesure qui devrait durer au moins \
        deux semaines selon les services de l'État, qui procéderont à de nouvelles analyses.";
    let item = |host: &str, n: usize, title: &str, text: &str| {
        format!(
            "<item><title>{title}</title><link>https://{host}/{n}</link><guid isPermaLink=\"false\">{host}-{n}</guid>\
             <pubDate>Tue, 01 Dec 2026 0{n}:00:00 GMT</pubDate><description>{text}</description></item>"
        )
    };
    let channel = |host: &str, items: &[String]| {
        format!(
            "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>{host}</title><link>https://{host}/</link>{}</channel></rss>",
            items.concat()
        )
    };
    let origin = Origin::start();
    origin.route(
        "/agence.xml",
        Route::feed(
            channel(
                "agence.example",
                &[item(
                    "agence.example",
                    1,
                    "Thau : la pêche aux coquillages fermée",
                    WIRE,
                )],
            ),
            "application/rss+xml",
        ),
    );
    let paper = |edit: &str| {
        channel(
            "courrier.example",
            &[
                item(
                    "courrier.example",
                    2,
                    "Étang de Thau : fermeture de la pêche aux coquillages",
                    &format!("{WIRE} Les producteurs de Bouzigues s'inquiètent{edit}. (Avec agence)"),
                ),
                // Its own follow-up, worded like the first: never merged with it.
                item(
                    "courrier.example",
                    3,
                    "Étang de Thau : la pêche aux coquillages rouvre",
                    &WIRE.replace("fermeture temporaire", "réouverture"),
                ),
            ],
        )
    };
    origin.route("/courrier.xml", Route::feed(paper(""), "application/rss+xml"));
    let config = |dedupe: &str| {
        format!(
            "{dedupe}\n[[sections]]\nslug = \"thau\"\ntitle = \"Thau\"\n\n\
             [[sources]]\nname = \"agence\"\nurl = \"{}\"\nsections = [\"thau\"]\n\n\
             [[sources]]\nname = \"courrier\"\nurl = \"{}\"\nsections = [\"thau\"]\n",
            origin.url("/agence.xml"),
            origin.url("/courrier.xml")
        )
    };
    // Without [dedupe]: three stories.
    let plain = Site::new(&config(""));
    assert_eq!(plain.thau(&["poll"]).code(), 0);
    assert_eq!(plain.entries().len(), 3);

    let site = Site::new(&config("[dedupe]\nsimilarity = 0.6\n"));
    assert_eq!(site.thau(&["poll", "--source", "agence"]).code(), 0);
    assert_eq!(site.thau(&["poll", "--source", "courrier"]).code(), 0);
    let stories = site.entries();
    assert_eq!(
        stories.len(),
        2,
        "{:#?}",
        stories.iter().map(|e| &e.title).collect::<Vec<_>>()
    );
    let wire = stories
        .iter()
        .find(|e| e.sources.len() == 2)
        .expect("one story, both sources");
    let names: Vec<&str> = wire.sources.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["agence", "courrier"]);
    assert!(
        stories.iter().any(|e| e.title.contains("rouvre")),
        "the paper's own story stays"
    );

    // The paper edits its copy: still the same story.
    origin.route(
        "/courrier.xml",
        Route::feed(paper(" et demandent des aides"), "application/rss+xml"),
    );
    assert_eq!(site.thau(&["poll", "--source", "courrier"]).code(), 0);
    assert_eq!(site.entries().len(), 2);
    // A bad similarity is a `thau check` error.
    site.write_config(&config("[dedupe]\nsimilarity = 2\n"));
    let run = site.thau(&["check"]);
    assert_eq!(run.code(), 2);
    assert!(format!("{}{}", run.stdout(), run.stderr()).contains("a number from 0.3 to 1"));
}
