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
    // And how many each section keeps out: Mèze two, "sans agenda" one.
    assert!(
        status.contains("1<br><small>2 kept out by include/exclude</small>"),
        "{status}"
    );
    assert!(
        status.contains("2<br><small>1 kept out by include/exclude</small>"),
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

const COMMENTED: &str = r#"# Bassin de Thau desk: every key is described in README.md.

[server]
listen = "127.0.0.1:0"   # any free port

[[sections]]
slug = "sete"
title = "Sète"

[[sections]]
slug = "culture"
title = "Culture"

# The paper, polled every 15 minutes.
[[sources]]
name = "courrier"
url = "https://courrier-thau.example/rss"
sections = ["sete"]
"#;

/// An export of another reader (FreshRSS writes folders as outlines).
const OTHER_READER: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head><title>Abonnements de Camille</title></head>
  <body>
    <outline text="Sète">
      <outline text="Le Courrier" type="rss" xmlUrl="https://courrier-thau.example/rss" htmlUrl="https://courrier-thau.example/"/>
      <outline text="Ville de Sète — Actualités" type="rss" xmlUrl="https://www.sete.fr/actualites/rss" htmlUrl="https://www.sete.fr/"/>
    </outline>
    <outline text="CULTURE">
      <outline text="Théâtre Molière" type="rss" xmlUrl="https://theatre-moliere.example/feed.atom"/>
      <outline text="Podcast" type="rss" xmlUrl="ftp://old.example/podcast.xml"/>
    </outline>
    <outline text="Midi &amp; Sud" type="rss" xmlUrl="https://midi-sud.example/rss.xml"/>
  </body>
</opml>
"#;

#[test]
fn import_adds_another_reader_s_opml_keeping_comments_and_skipping_known_feeds() {
    let site = Site::new(COMMENTED);
    let opml = site.dir.path().join("camille.opml");
    std::fs::write(&opml, OTHER_READER).unwrap();
    let run = site.thau(&["import", opml.to_str().unwrap()]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let out = run.stdout();
    assert!(out.ends_with("3 added, 2 skipped; feeds.toml written\n"), "{out}");
    // Each skipped feed says why.
    assert!(
        out.contains("skipped https://courrier-thau.example/rss  (already followed by source \"courrier\")"),
        "{out}"
    );
    assert!(
        out.contains("skipped ftp://old.example/podcast.xml  (scheme ftp is not http or https)"),
        "{out}"
    );
    // A feed no folder places is said to land in no section.
    let note = run.stderr();
    assert!(note.contains("1 new source is in no section"), "{note}");
    assert!(note.contains(": midi-sud."), "{note}");

    let text = std::fs::read_to_string(site.config_path()).unwrap();
    // The file as the admin wrote it, comments and all, then the new tables.
    assert!(text.starts_with(COMMENTED), "{text}");
    let added = &text[COMMENTED.len()..];
    assert!(added.contains("name = \"ville-de-sete-actualites\"\nurl = \"https://www.sete.fr/actualites/rss\"\ntitle = \"Ville de Sète — Actualités\"\nsections = [\"sete\"]"), "{added}");
    // A folder named like a section (any case, any accents) puts its feeds there.
    assert!(added.contains("name = \"theatre-moliere\"\nurl = \"https://theatre-moliere.example/feed.atom\"\ntitle = \"Théâtre Molière\"\nsections = [\"culture\"]"), "{added}");
    assert!(
        added.contains("name = \"midi-sud\"\nurl = \"https://midi-sud.example/rss.xml\"\ntitle = \"Midi & Sud\"\n"),
        "{added}"
    );
    assert_eq!(site.thau(&["check"]).code(), 0);

    // Again: nothing new, nothing written.
    let before = std::fs::read_to_string(site.config_path()).unwrap();
    let run = site.thau(&["import", opml.to_str().unwrap(), "--section", "culture"]);
    assert!(
        run.stdout().ends_with("0 added, 5 skipped; nothing written\n"),
        "{}",
        run.stdout()
    );
    assert_eq!(std::fs::read_to_string(site.config_path()).unwrap(), before);
    // An unknown section is refused before anything is read.
    let run = site.thau(&["import", opml.to_str().unwrap(), "--section", "nope"]);
    assert_eq!(run.code(), 2);
    assert!(
        run.stderr().contains("--section nope: no such section"),
        "{}",
        run.stderr()
    );
    let run = site.thau(&["import", opml.to_str().unwrap(), "--section", "cultur"]);
    assert_eq!(run.code(), 2);
    assert!(
        run.stderr().contains("--section cultur: no such section in ")
            && run.stderr().ends_with("feeds.toml (did you mean \"culture\"?)\n"),
        "{}",
        run.stderr()
    );
    let run = site.thau(&["remove", "theatre-molier"]);
    assert_eq!(run.code(), 2);
    assert!(
        run.stderr()
            .contains("no source named \"theatre-molier\" (did you mean \"theatre-moliere\"?)"),
        "{}",
        run.stderr()
    );

    // The subscription list goes out as OPML, and another desk imports it whole.
    let run = site.thau(&["sources", "--opml"]);
    assert_eq!(run.code(), 0);
    let exported = run.stdout();
    assert!(exported.contains("<outline text=\"Sète\">"), "{exported}");
    assert_eq!(exported.matches("xmlUrl=").count(), 4, "{exported}");
    let other = Site::new("[server]\nlisten = \"127.0.0.1:0\"\n");
    let file = other.dir.path().join("thau.opml");
    std::fs::write(&file, &exported).unwrap();
    let run = other.thau(&["import", file.to_str().unwrap()]);
    assert!(
        run.stdout().ends_with("4 added, 0 skipped; feeds.toml written\n"),
        "{}",
        run.stdout()
    );
    assert_eq!(other.thau(&["check"]).code(), 0);
}

#[test]
fn remove_takes_a_source_out_of_feeds_toml_and_nothing_else() {
    let site = Site::new(COMMENTED);
    let opml = site.dir.path().join("camille.opml");
    std::fs::write(&opml, OTHER_READER).unwrap();
    assert_eq!(site.thau(&["import", opml.to_str().unwrap()]).code(), 0);
    let run = site.thau(&["remove", "courrier"]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let text = std::fs::read_to_string(site.config_path()).unwrap();
    assert!(!text.contains("name = \"courrier\""), "{text}");
    assert!(text.starts_with("# Bassin de Thau desk"), "{text}");
    assert!(text.contains("listen = \"127.0.0.1:0\"   # any free port"));
    assert!(text.contains("name = \"midi-sud\""));
    let before = text;
    let run = site.thau(&["remove", "courrier"]);
    assert_eq!(run.code(), 2);
    assert!(
        run.stderr().contains("no source named \"courrier\""),
        "{}",
        run.stderr()
    );
    assert_eq!(
        std::fs::read_to_string(site.config_path()).unwrap(),
        before,
        "untouched"
    );
    // No temporary left beside it.
    let leftovers: Vec<_> = std::fs::read_dir(site.dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".feeds-"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn add_finds_the_feed_behind_a_page_and_appends_a_checked_source() {
    let origin = Origin::start();
    let atom = "<?xml version=\"1.0\"?><feed xmlns=\"http://www.w3.org/2005/Atom\"><title>Mairie de Mèze — Actualités</title><id>urn:meze</id><updated>2026-11-24T08:00:00Z</updated></feed>";
    origin.route("/actus.atom", Route::feed(atom, "application/atom+xml"));
    origin.route("/actus.rss", Route::feed(rss(), "application/rss+xml"));
    let page = r#"<!DOCTYPE html><html><head><title>Actualités</title>
        <link rel="alternate" type="application/rss+xml" href="/actus.rss">
        <link rel="alternate" type="application/atom+xml" href="actus.atom">
        </head><body>…</body></html>"#;
    origin.route("/actus", Route::feed(page, "text/html; charset=utf-8"));
    origin.route("/rss.xml", Route::feed(rss(), "application/rss+xml"));
    origin.route(
        "/sans-lien",
        Route::feed("<!DOCTYPE html><html><body>Rien</body></html>", "text/html"),
    );
    let site = Site::new(COMMENTED);

    // Two feeds announced: the admin is asked to pick.
    let run = site.thau(&["add", &origin.url("/actus")]);
    assert_eq!(run.code(), 2);
    let err = run.stderr();
    assert!(err.contains("has 2 feeds; run again with --pick N"), "{err}");
    assert!(
        err.contains(&format!("1. {}  Le Courrier", origin.url("/actus.rss"))),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "2. {}  Mairie de Mèze — Actualités",
            origin.url("/actus.atom")
        )),
        "{err}"
    );
    let run = site.thau(&["add", &origin.url("/actus"), "--pick", "2", "--section", "sete"]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_eq!(
        run.stdout(),
        format!("added mairie-de-meze-actualites  {}\n", origin.url("/actus.atom"))
    );
    let text = std::fs::read_to_string(site.config_path()).unwrap();
    assert!(text.starts_with(COMMENTED));
    assert!(text.ends_with(&format!(
        "\n[[sources]]\nname = \"mairie-de-meze-actualites\"\nurl = \"{}\"\ntitle = \"Mairie de Mèze — Actualités\"\nsections = [\"sete\"]\n",
        origin.url("/actus.atom")
    )), "{text}");

    // A page that announces nothing: the site's common paths are tried.
    let run = site.thau(&["add", &origin.url("/sans-lien"), "--name", "courrier-bis"]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert!(run.stdout().contains(&origin.url("/rss.xml")), "{}", run.stdout());
    // A feed already followed is not added twice.
    let run = site.thau(&["add", &origin.url("/rss.xml")]);
    assert_eq!(run.code(), 2);
    assert!(
        run.stderr().contains("is already followed as \"courrier-bis\""),
        "{}",
        run.stderr()
    );
    // An address written without its scheme: a suggestion, nothing added.
    let bare = origin.url("/rss.xml").trim_start_matches("http://").to_string();
    for given in [bare.clone(), format!("localhost:{}", bare.split_once(':').unwrap().1)] {
        let run = site.thau(&["add", &given]);
        assert_eq!(run.code(), 2);
        assert!(
            run.stderr()
                .contains(&format!("did you mean http://{given} (or https://…)?")),
            "{}",
            run.stderr()
        );
    }
    assert_eq!(site.thau(&["check"]).code(), 0);
    // And the new sources are polled like any other.
    let run = site.thau(&["poll", "--source", "courrier-bis"]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
}

#[test]
fn per_source_headers_auth_and_encoding_are_used_and_never_shown() {
    let origin = Origin::start();
    // A feed whose bytes are windows-1252 while it claims UTF-8.
    let mut lying = b"<?xml version=\"1.0\" encoding=\"utf-8\"?><rss version=\"2.0\"><channel><title>Mairie</title><link>https://mairie.example/</link><item><title>F\xeate \xe0 S\xe8te</title><link>https://mairie.example/1</link></item></channel></rss>".to_vec();
    lying.shrink_to_fit();
    origin.route("/private.xml", Route::feed(lying, "application/rss+xml; charset=utf-8"));
    // Elsewhere (another loopback address): where a redirect leads.
    let elsewhere = Origin::start_on("127.0.0.2");
    elsewhere.route("/moved.xml", Route::feed(rss(), "application/rss+xml"));
    origin.route(
        "/jump.xml",
        Route::Redirect {
            code: 302,
            location: elsewhere.url("/moved.xml"),
        },
    );
    let site = Site::new(&format!(
        r#"[server]
listen = "127.0.0.1:0"

[[sections]]
slug = "tout"
title = "Tout"

[[sources]]
name = "mairie"
url = "{}"
sections = ["tout"]
encoding = "windows-1252"
headers = {{ "User-Agent" = "Desk/1.0 (+https://thau.example)", Cookie = "$THAU_TEST_COOKIE" }}
auth = {{ bearer = "$THAU_TEST_TOKEN" }}

[[sources]]
name = "jump"
url = "{}"
sections = ["tout"]
auth = {{ user = "desk", password = "$THAU_TEST_TOKEN" }}
"#,
        origin.url("/private.xml"),
        origin.url("/jump.xml")
    ));
    let with_env = |args: &[&str]| {
        let mut cmd = site.command(args);
        cmd.env("THAU_TEST_TOKEN", "t0ken-from-env")
            .env("THAU_TEST_COOKIE", "session=abc");
        support::Run(cmd.output().unwrap())
    };
    let run = with_env(&["poll"]);
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    let seen = &origin.requests("/private.xml")[0].headers;
    assert_eq!(seen["authorization"], "Bearer t0ken-from-env");
    assert_eq!(seen["cookie"], "session=abc");
    assert_eq!(seen["user-agent"], "Desk/1.0 (+https://thau.example)");
    // Basic auth to the source's host; nothing of it to the host a
    // redirect leads to.
    assert!(origin.requests("/jump.xml")[0].headers["authorization"].starts_with("Basic "));
    assert!(
        !elsewhere.requests("/moved.xml")[0]
            .headers
            .contains_key("authorization")
    );
    // The declared UTF-8 was a lie: read as windows-1252.
    let titles: Vec<String> = site.entries().into_iter().map(|e| e.title).collect();
    assert!(titles.contains(&"Fête à Sète".to_string()), "{titles:?}");

    // Secrets never shown: not by check, the status page or the API.
    let mut cmd = site.command(&["serve"]);
    cmd.env("THAU_TEST_TOKEN", "t0ken-from-env")
        .env("THAU_TEST_COOKIE", "session=abc");
    let serve = support::Serve::start(cmd);
    for path in ["/status", "/api/sources", "/sections/tout/rss.xml"] {
        let body = get(&serve.url(path)).text();
        assert!(
            !body.contains("t0ken") && !body.contains("session=abc"),
            "{path}: {body}"
        );
    }
    drop(serve);

    // A missing variable is a config error with its line.
    let run = site.thau(&["check"]);
    assert_eq!(run.code(), 2);
    let file = site.config_path().display().to_string();
    assert!(
        run.stderr().contains(&format!(
            "{file}:13: source \"mairie\": headers.Cookie: the environment variable THAU_TEST_COOKIE is not set"
        )),
        "{}",
        run.stderr()
    );
    assert!(run.stderr().contains(&format!(
        "{file}:14: source \"mairie\": auth.bearer: the environment variable THAU_TEST_TOKEN is not set"
    )));
}

const SCRAPE: &str = r#"[sources.scrape]
item = "article.news"
title = "h2"
link = "a@href"
summary = "p.chapo"
date = ".date"
image = "img@src"
category = ".rubrique"
"#;

#[test]
fn a_page_without_a_feed_is_read_with_selectors_and_published_like_a_feed() {
    let origin = Origin::start();
    origin.route(
        "/actualites",
        Route::feed_with_validators(
            support::fixture("demo/mairie-meze.html"),
            "text/html; charset=utf-8",
            "\"page-1\"",
            "Tue, 24 Nov 2026 18:31:00 GMT",
        ),
    );
    let site = Site::new(&format!(
        r#"[server]
listen = "127.0.0.1:0"
[poll]
timezone = "Europe/Paris"

[[sections]]
slug = "meze"
title = "Mèze"

[[sections]]
slug = "culture"
title = "Culture"
categories = ["Culture"]

[[sources]]
name = "mairie-meze"
url = "{}"
sections = ["meze"]
{SCRAPE}"#,
        origin.url("/actualites")
    ));
    // What the selectors read, without storing anything.
    let run = site.thau(&["test-source", "mairie-meze"]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let out = run.stdout();
    assert!(out.contains("1. Mèze : réfection du quai Baptiste-Guitard\n   link:     https://www.ville-meze.example/actualites/travaux/quai-baptiste-guitard\n   date:     2026-11-23T23:00:00+00:00"), "{out}");
    assert!(
        out.contains("\"il y a 2 semaines\" is not a date: dated when first seen"),
        "{out}"
    );
    assert!(
        out.ends_with("3 stories extracted by [sources.scrape]; nothing stored\n"),
        "{out}"
    );
    assert!(!site.store_path().exists(), "test-source stores nothing");

    let run = site.thau(&["poll"]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert!(run.stdout().contains("3 new"), "{}", run.stdout());
    let entries = site.entries();
    let quai = entries.iter().find(|e| e.title.contains("quai")).unwrap();
    assert_eq!(
        quai.id,
        "https://www.ville-meze.example/actualites/travaux/quai-baptiste-guitard"
    );
    assert_eq!(quai.published.to_rfc3339(), "2026-11-23T23:00:00+00:00");
    assert!(quai.dated);
    assert!(
        quai.summary
            .as_deref()
            .unwrap()
            .contains("<img src=\"http://127.0.0.1:8080/assets/quai.png\"")
    );
    let festival = entries.iter().find(|e| e.title.contains("festival")).unwrap();
    assert!(!festival.dated, "a relative age is no date");
    assert_eq!(festival.categories, ["Culture"]);
    let conseil = entries.iter().find(|e| e.title.contains("conseil")).unwrap();
    assert_eq!(conseil.published.to_rfc3339(), "2026-11-20T17:30:00+00:00");

    // Polled again: a 304 (the page's validators), nothing changes.
    let run = site.thau(&["poll"]);
    assert!(run.stdout().contains("not-modified"), "{}", run.stdout());
    assert_eq!(
        origin.requests("/actualites").last().unwrap().headers["if-none-match"],
        "\"page-1\""
    );

    // Published like any feed, routed by its labels too.
    let serve = site.serve();
    assert_eq!(titles(&serve, "meze").len(), 3);
    assert_eq!(
        titles(&serve, "culture"),
        ["Mèze : le festival de Thau dévoile sa programmation"]
    );
}

#[test]
fn check_explains_scrape_mistakes_with_their_lines() {
    let site = Site::new(
        r#"[[sources]]
name = "mairie"
url = "https://mairie.example/actualites"
[sources.scrape]
item = "article["
link = "@"
summery = "p"
"#,
    );
    let run = site.thau(&["check"]);
    assert_eq!(run.code(), 2);
    let err = run.stderr();
    let file = site.config_path().display().to_string();
    for expected in [
        format!("{file}:5: source \"mairie\" scrape: item: \"article[\": not a CSS selector"),
        format!(
            "{file}:6: source \"mairie\" scrape: link: \"@\": give a CSS selector, selector@attribute, or @attribute"
        ),
        format!("{file}:7: source \"mairie\" scrape: unknown key \"summery\" (did you mean \"summary\"?)"),
        format!("{file}:4: source \"mairie\" scrape: missing title"),
    ] {
        assert!(err.contains(&expected), "missing {expected:?} in:\n{err}");
    }
}

#[test]
fn id_link_or_content_keeps_one_story_when_a_source_s_guids_change_on_every_poll() {
    // A publisher whose guids are new on every poll (and, for the second
    // source, whose links are too): the same stories each time.
    let feed = |poll: usize| {
        format!(
            r#"<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>https://x.example/</link>
<item><title>Marché de Noël</title><guid isPermaLink="false">gen-{poll}-1</guid><link>https://x.example/noel</link><description>Place Aristide-Briand.</description></item>
</channel></rss>"#
        )
    };
    let moving = |poll: usize| {
        format!(
            r#"<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>https://y.example/</link>
<item><title>Collecte des encombrants</title><guid isPermaLink="false">gen-{poll}</guid><link>https://y.example/a?session={poll}</link><description>Le jeudi.</description></item>
</channel></rss>"#
        )
    };
    let origin = Origin::start();
    let publish = |poll: usize| {
        origin.route("/guid.xml", Route::feed(feed(poll), "application/rss+xml"));
        origin.route("/moving.xml", Route::feed(moving(poll), "application/rss+xml"));
    };
    let config = |id_link: &str, id_content: &str| {
        format!(
            "[[sources]]\nname = \"guid\"\nurl = \"{}\"\n{id_link}\n\n[[sources]]\nname = \"moving\"\nurl = \"{}\"\n{id_content}\n",
            origin.url("/guid.xml"),
            origin.url("/moving.xml")
        )
    };
    // By default (guids): every poll adds the same stories again.
    let site = Site::new(&config("", ""));
    for poll in 1..=2 {
        publish(poll);
        assert_eq!(site.thau(&["poll"]).code(), 0);
    }
    assert_eq!(site.entries().len(), 4);
    // With id = "link" and id = "content": one story each, however often polled.
    let site = Site::new(&config("id = \"link\"", "id = \"content\""));
    for poll in 1..=3 {
        publish(poll);
        let run = site.thau(&["poll"]);
        assert_eq!(run.code(), 0, "{}", run.stderr());
    }
    let entries = site.entries();
    assert_eq!(
        entries.len(),
        2,
        "{:#?}",
        entries.iter().map(|e| &e.id).collect::<Vec<_>>()
    );
    assert!(entries.iter().any(|e| e.id == "https://x.example/noel"));
    assert!(entries.iter().any(|e| e.id.starts_with("urn:sha256:")));
    // A wrong value is a clear error.
    let bad = Site::new(&config("id = \"uuid\"", ""));
    let run = bad.thau(&["check"]);
    assert!(
        run.stderr()
            .contains("source \"guid\": id: expected \"guid\", \"link\" or \"content\", not \"uuid\""),
        "{}",
        run.stderr()
    );
}

#[test]
fn a_running_daemon_picks_up_a_source_added_by_thau_add() {
    let origin = Origin::start();
    origin.route("/courrier.xml", Route::feed(rss(), "application/rss+xml"));
    let atom = "<?xml version=\"1.0\"?><feed xmlns=\"http://www.w3.org/2005/Atom\"><title>Mairie de Mèze</title><id>urn:meze</id><updated>2026-11-24T08:00:00Z</updated><entry><title>Quai</title><id>https://meze.example/quai</id><link href=\"https://meze.example/quai\"/><updated>2026-11-24T08:00:00Z</updated></entry></feed>";
    origin.route("/meze.atom", Route::feed(atom, "application/atom+xml"));
    let site = Site::new(&config(&origin, ""));
    let serve = site.serve();
    let names = || -> Vec<String> {
        let api: serde_json::Value = serde_json::from_slice(&get(&serve.url("/api/sources")).body).unwrap();
        api["sources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(), ["courrier"]);
    // thau add edits feeds.toml beside the daemon (it does not open the store).
    let run = site.thau(&["add", &origin.url("/meze.atom"), "--section", "tout"]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    support::wait_for("the daemon to reload", || names() == ["courrier", "mairie-de-meze"]);
    // And to poll the new source: its story is in the section.
    support::wait_for("the new source's story", || {
        titles(&serve, "tout").contains(&"Quai".to_string())
    });
}

#[test]
fn full_text_fetches_each_new_teaser_s_article_once_and_keeps_the_teaser_when_it_fails() {
    let origin = Origin::start();
    let feed = format!(
        r#"<?xml version="1.0"?><rss version="2.0"><channel><title>Le Courrier</title><link>{base}/</link>
<item><title>Le quai rénové</title><link>{base}/articles/1.html</link><description>Début de l'article…</description><pubDate>Tue, 24 Nov 2026 08:00:00 GMT</pubDate></item>
<item><title>Page en panne</title><link>{base}/articles/2.html</link><description>Un autre début…</description><pubDate>Tue, 24 Nov 2026 09:00:00 GMT</pubDate></item>
</channel></rss>"#,
        base = origin.base
    );
    origin.route("/rss.xml", Route::feed(feed, "application/rss+xml"));
    let paragraph = "Les travaux du quai Baptiste-Guitard se sont achevés cette semaine après huit mois de chantier. \
        Les pêcheurs retrouvent leurs amarrages et les promeneurs une large esplanade le long de l'étang de Thau.";
    let article = format!(
        r#"<!DOCTYPE html><html><head><title>Le quai rénové</title><script>track()</script></head><body>
<nav><a href="/">Accueil</a> <a href="/sport">Sport</a> <a href="/culture">Culture</a></nav>
<article><h1>Le quai rénové</h1>{}</article>
<footer>© Le Courrier — mentions légales</footer></body></html>"#,
        (0..6).map(|i| format!("<p>{paragraph} ({i})</p>")).collect::<String>()
    );
    origin.route("/articles/1.html", Route::feed(article, "text/html; charset=utf-8"));
    origin.route("/articles/2.html", Route::status(500, &[]));
    let site = Site::new(&format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[[sections]]\nslug = \"tout\"\ntitle = \"Tout\"\n\n[[sources]]\nname = \"courrier\"\nurl = \"{}\"\nsections = [\"tout\"]\nfull_text = true\n",
        origin.url("/rss.xml")
    ));
    let run = site.thau(&["poll"]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let entries = site.entries();
    let quai = entries.iter().find(|e| e.title == "Le quai rénové").unwrap();
    let content = quai.content.as_deref().expect("the article as content");
    assert!(content.contains("huit mois de chantier"), "{content}");
    assert!(
        !content.contains("track()") && !content.contains("mentions légales"),
        "{content}"
    );
    assert_eq!(
        quai.summary.as_deref(),
        Some("Début de l'article…"),
        "the feed's summary is kept"
    );
    let panne = entries.iter().find(|e| e.title == "Page en panne").unwrap();
    assert!(panne.content.is_none(), "a failed extraction keeps the teaser");
    assert_eq!(origin.requests("/articles/1.html").len(), 1);
    assert_eq!(origin.requests("/articles/2.html").len(), 1);

    // Never twice for one entry: the next poll fetches no article.
    assert_eq!(site.thau(&["poll"]).code(), 0);
    assert_eq!(origin.requests("/articles/1.html").len(), 1);
    assert_eq!(origin.requests("/articles/2.html").len(), 1);
    let serve = site.serve();
    let status = get(&serve.url("/status")).text();
    assert!(
        status.contains("1 full-text extractions failed (the teaser was kept); last:"),
        "{status}"
    );
    let rss = get(&serve.url("/sections/tout/rss.xml")).text();
    assert!(rss.contains("huit mois de chantier"), "published as the content");
}

#[test]
fn a_source_behind_a_proxy_is_fetched_through_it() {
    // The proxy is a real HTTP server on 127.0.0.1: it sees the absolute
    // URL of the feed (a proxy request) and answers for a host that does
    // not resolve.
    let proxy = Origin::start();
    proxy.route(
        "http://courrier.invalid/rss.xml",
        Route::feed(rss(), "application/rss+xml"),
    );
    let own = Origin::start();
    own.route(
        "http://mairie.invalid/rss.xml",
        Route::feed(rss(), "application/rss+xml"),
    );
    let site = Site::new(&format!(
        "[poll]\nproxy = \"{}\"\n\n[[sources]]\nname = \"courrier\"\nurl = \"http://courrier.invalid/rss.xml\"\n\n[[sources]]\nname = \"mairie\"\nurl = \"http://mairie.invalid/rss.xml\"\nproxy = \"{}\"\n",
        proxy.base, own.base
    ));
    let run = site.thau(&["poll"]);
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    assert_eq!(proxy.requests("http://courrier.invalid/rss.xml").len(), 1);
    // A source's own proxy wins over [poll]'s.
    assert_eq!(own.requests("http://mairie.invalid/rss.xml").len(), 1);
    assert!(proxy.requests("http://mairie.invalid/rss.xml").is_empty());
    // A bad proxy is a config error.
    let bad = Site::new("[[sources]]\nname = \"x\"\nurl = \"https://x.example/rss\"\nproxy = \"ftp://p\"\n");
    let run = bad.thau(&["check"]);
    assert!(
        run.stderr().contains("source \"x\": proxy: expected a proxy URL"),
        "{}",
        run.stderr()
    );
    // SOCKS passed check, then every poll failed: refused with its line.
    let socks = Site::new("[[sources]]\nname = \"x\"\nurl = \"https://x.example/rss\"\nproxy = \"socks5://p:1080\"\n");
    let run = socks.thau(&["check"]);
    assert_eq!(run.code(), 2);
    assert!(
        run.stderr()
            .contains("feeds.toml:4: source \"x\": proxy: \"socks5://p:1080\": SOCKS proxies are not supported"),
        "{}",
        run.stderr()
    );

    // "$NAME", as the README says of every secret (a proxy URL may carry
    // a password), read from the environment; unset, a check error.
    let from_env = Site::new(&format!(
        "[poll]\nproxy = \"$THAU_TEST_PROXY\"\n\n[[sources]]\nname = \"courrier\"\nurl = \"http://courrier.invalid/rss.xml\"\n"
    ));
    let run = from_env
        .command(&["check"])
        .env_remove("THAU_TEST_PROXY")
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&run.stderr)
            .contains("feeds.toml:2: [poll] proxy: the environment variable THAU_TEST_PROXY is not set"),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let before = proxy.requests("http://courrier.invalid/rss.xml").len();
    let run = from_env
        .command(&["poll"])
        .env("THAU_TEST_PROXY", &proxy.base)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stdout));
    assert_eq!(proxy.requests("http://courrier.invalid/rss.xml").len(), before + 1);
}

/// `thau sources | head -1`: a listing whose reader has gone ends quietly
/// (as `ls` does), not with a panic about a broken pipe.
#[test]
fn a_listing_ends_quietly_when_its_reader_has_gone() {
    let origin = support::regional_origin();
    let site = Site::new(&support::regional_sources(&origin));
    for args in [&["sources"][..], &["sources", "--opml"][..]] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = site
            .command(args)
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(out.status.signal(), Some(libc_sigpipe()), "{args:?}: {:?}", out.status);
    }
}

/// SIGPIPE's number on Linux.
fn libc_sigpipe() -> i32 {
    13
}
