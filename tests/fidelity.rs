//! The fidelity round trip (`bench/fidelity.py`) on a sample of the corpus,
//! through the real binary and HTTP: every story republished as Python
//! feedparser reads the original. The full run and every difference with
//! its cause are in CONFORMANCE.md. Skipped, with a message, without the
//! corpus or feedparser.

use std::path::Path;
use std::process::Command;

#[test]
fn a_sample_of_the_corpus_is_republished_as_feedparser_reads_it() {
    let corpus = std::env::var_os("THAU_CORPUS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    if !corpus.is_dir() {
        eprintln!("SKIPPED: no feed corpus at {} (THAU_CORPUS)", corpus.display());
        return;
    }
    if !Command::new("python3")
        .args(["-c", "import feedparser"])
        .status()
        .is_ok_and(|s| s.success())
    {
        eprintln!("SKIPPED: Python feedparser is not installed (pip install feedparser)");
        return;
    }
    let report = tempfile::NamedTempFile::new().unwrap();
    let run = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/fidelity.py"))
        .arg(env!("CARGO_BIN_EXE_thau"))
        .arg(&corpus)
        .args(["--sample", "150", "--json"])
        .arg(report.path())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{said}\n{}", String::from_utf8_lossy(&run.stderr));
    println!("{said}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(report.path()).unwrap()).unwrap();
    assert!(report["documents"].as_u64().unwrap() >= 140, "{said}");
    // No document feedparser reads is refused.
    assert_eq!(report["refused"], 0, "{said}");
    // A little under this sample's figures (100% on every field on
    // 2026-12-03; CONFORMANCE.md has the whole corpus's): one entry, link or
    // text lost of this sample's 60-130 fails here.
    for format in ["atom", "rss"] {
        let figures = &report["figures"][format];
        for (field, floor) in [
            ("entries", 98.5),
            ("title", 99.0),
            ("link", 98.5),
            ("date", 98.5),
            ("content", 98.5),
        ] {
            let got = figures[field].as_f64().unwrap();
            assert!(got >= floor, "{format} {field}: {got}% < {floor}%\n{said}");
        }
    }
}

// ---------------------------------------------------------------------
// What a careful reader sees, kept: each loss of issue #20, through the
// real binary.

mod support;

use support::{Origin, Route, Site, get, wait_for};

/// Polls one source serving `body` into section "s"; the entries stored,
/// and the daemon serving them.
fn served(body: &str, content_type: &str) -> (Vec<thau::model::Entry>, support::Serve, Site, Origin) {
    let origin = Origin::start();
    origin.route("/feed", Route::feed(body.to_string(), content_type));
    let site = Site::new(&format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[[sections]]\nslug = \"s\"\ntitle = \"S\"\n\
         [[sources]]\nname = \"src\"\nurl = \"{}\"\nsections = [\"s\"]\n",
        origin.url("/feed")
    ));
    let run = site.thau(&["poll"]);
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    let entries = site.entries();
    let serve = site.serve();
    wait_for("the section", || get(&serve.url("/sections/s/atom.xml")).status == 200);
    (entries, serve, site, origin)
}

/// One odd element refused the whole feed: a Media RSS description typed
/// `text/html`, Atom content with both `src` and text, an Atom feed
/// wrapped in an XHTML page. Each now costs at most that element, and an
/// entry feed-rs still refuses is left out alone, with a warning.
#[test]
fn one_odd_element_costs_that_element_never_the_feed() {
    let rss = r#"<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel><title>Vidéos</title>
        <item><guid>v1</guid><title>Le port</title><media:description type="text/html">&lt;p&gt;Le &lt;b&gt;port&lt;/b&gt; de Sète&lt;/p&gt;</media:description></item>
        <item><guid>v2</guid><title>La criée</title><description>Texte</description></item>
        <item><guid>v3</guid><title>Étrange</title><media:description type="application/x-odd">?</media:description></item>
        </channel></rss>"#;
    let (_, serve, _site, _origin) = served(rss, "application/rss+xml");
    let atom = get(&serve.url("/sections/s/atom.xml")).text();
    assert!(atom.contains("Le port") && atom.contains("La criée"), "{atom}");
    assert!(atom.contains("de Sète"), "the media description is the text: {atom}");
    assert!(
        !atom.contains("Étrange"),
        "the entry feed-rs refuses is left out: {atom}"
    );
    let status = get(&serve.url("/status")).text();
    assert!(status.contains("warning: 1 of 3 entries could not be read"), "{status}");

    let src = r#"<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>urn:f</id><updated>2026-11-20T10:00:00Z</updated>
        <entry><id>urn:a</id><title>Avec src</title><updated>2026-11-20T10:00:00Z</updated><summary>Résumé</summary>
          <content src="http://example.org/a.pdf" type="application/pdf">texte en trop</content></entry>
        <entry><id>urn:b</id><title>Sans src</title><updated>2026-11-20T09:00:00Z</updated></entry></feed>"#;
    let (_, serve, _site, _origin) = served(src, "application/atom+xml");
    let atom = get(&serve.url("/sections/s/atom.xml")).text();
    assert!(atom.contains("Avec src") && atom.contains("Sans src"), "{atom}");

    let page = r#"<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><head><title>p</title></head><body>
        <feed xmlns="http://www.w3.org/2005/Atom"><title>Dans la page</title><id>urn:p</id><updated>2026-11-20T10:00:00Z</updated>
        <entry><id>urn:p1</id><title>Lue quand même</title><updated>2026-11-20T10:00:00Z</updated><link href="http://example.org/p1"/></entry></feed>
        </body></html>"#;
    let (_, serve, _site, _origin) = served(page, "application/xhtml+xml");
    assert!(
        get(&serve.url("/sections/s/atom.xml"))
            .text()
            .contains("Lue quand même")
    );
}

/// Escaped text was decoded twice (`Vector&lt;T&gt;` became "Vector"), and
/// markup in a text construct cut it (`<title><b>Breaking</b> news</title>`
/// lost its title, `Some <b>bold</b> text` became "Some").
#[test]
fn escaped_text_stays_text_and_markup_keeps_every_word() {
    let rss = r#"<rss version="2.0"><channel><title>t</title>
        <item><guid>a</guid><title>Vector&lt;T&gt; in Rust</title></item>
        <item><guid>b</guid><title><b>Breaking</b> news</title><description>Some <b>bold</b> text</description></item>
        <item><guid>c</guid><title>Nice &lt;gorilla&gt; what's he weigh?</title></item>
        </channel></rss>"#;
    let (entries, _serve, _site, _origin) = served(rss, "application/rss+xml");
    let titles: Vec<&str> = entries.iter().map(|e| e.title.as_str()).collect();
    for title in ["Vector<T> in Rust", "Breaking news", "Nice <gorilla> what's he weigh?"] {
        assert!(titles.contains(&title), "{title:?} in {titles:?}");
    }
    let breaking = entries.iter().find(|e| e.title == "Breaking news").unwrap();
    assert_eq!(breaking.summary.as_deref(), Some("Some <b>bold</b> text"));

    let atom = r#"<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>urn:f</id><updated>2026-11-20T10:00:00Z</updated>
        <entry><id>urn:x</id><updated>2026-11-20T10:00:00Z</updated>
          <title type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>History of the &lt;blink&gt; tag</p></div></title>
          <content type="html">Some <b>bold</b> text</content></entry></feed>"#;
    let (entries, serve, _site, _origin) = served(atom, "application/atom+xml");
    let e = &entries[0];
    assert_eq!(e.title, "History of the <blink> tag");
    assert_eq!(e.content.as_deref(), Some("Some <b>bold</b> text"));
    // Published as text a reader shows as written.
    let feed = get(&serve.url("/sections/s/atom.xml")).text();
    assert!(feed.contains("History of the &lt;blink&gt; tag"), "{feed}");
}

/// A readable date was thrown away: a `published` without seconds was
/// replaced by `updated`, an `issued` with extra spaces by the poll time.
#[test]
fn every_readable_date_is_read() {
    let atom = r#"<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>urn:f</id><updated>2026-11-20T10:00:00Z</updated>
        <entry><id>urn:a</id><title>Sans secondes</title><published>2002-12-31T19:20+01:00</published><updated>2003-01-05T00:00:00Z</updated></entry>
        <entry><id>urn:b</id><title>Espaces</title><published>2003-07-01 T 01:55:07-05:00</published><updated>2003-07-05T00:00:00Z</updated></entry>
        <entry><id>urn:c</id><title>Jour 32</title><published>2003-07-32T15:51:30-05:00</published></entry>
        </feed>"#;
    let (entries, _serve, _site, _origin) = served(atom, "application/atom+xml");
    let published = |title: &str| {
        let e = entries.iter().find(|e| e.title == title).unwrap();
        assert!(e.dated, "{title}");
        e.published.to_rfc3339()
    };
    assert_eq!(published("Sans secondes"), "2002-12-31T18:20:00+00:00");
    assert_eq!(published("Espaces"), "2003-07-01T06:55:07+00:00");
    // Carried into the next month, as feedparser and mktime read it.
    assert_eq!(published("Jour 32"), "2003-08-01T20:51:30+00:00");

    // An RSS item's own pubDate wins over an extension's date beside it,
    // whichever comes first.
    let rss = r#"<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel><title>t</title>
        <item><guid>a</guid><title>Deux dates</title><atom:published>2002-12-31T01:15:07-05:00</atom:published><pubDate>Tue, 31 Dec 2002 14:20:20 GMT</pubDate></item>
        </channel></rss>"#;
    let (entries, _serve, _site, _origin) = served(rss, "application/rss+xml");
    assert_eq!(entries[0].published.to_rfc3339(), "2002-12-31T14:20:20+00:00");
}

/// A visible link was not read: an Atom link under any prefix in an RSS
/// item (.NET's `a10:link`), an RSS `<link href>`, an Atom link written as
/// text. Such items got a `urn:sha256` id and no link.
#[test]
fn a_visible_link_is_read_whatever_its_spelling() {
    let rss = r#"<rss version="2.0" xmlns:a10="http://www.w3.org/2005/Atom"><channel><title>t</title>
        <item><title>Dotnet</title><a10:link href="https://dotnet.example/1"/></item>
        <item><title>Podcast</title><link href="https://podcast.example/2"/></item>
        </channel></rss>"#;
    let (entries, _serve, _site, _origin) = served(rss, "application/rss+xml");
    let link = |title: &str| entries.iter().find(|e| e.title == title).unwrap().link.clone();
    assert_eq!(link("Dotnet").as_deref(), Some("https://dotnet.example/1"));
    assert_eq!(link("Podcast").as_deref(), Some("https://podcast.example/2"));
    assert!(entries.iter().all(|e| !e.id.starts_with("urn:sha256")), "{entries:?}");

    let atom = r#"<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>urn:f</id><updated>2026-11-20T10:00:00Z</updated>
        <entry><id>urn:t</id><title>Texte</title><updated>2026-11-20T10:00:00Z</updated><link>https://text.example/3</link></entry></feed>"#;
    let (entries, _serve, _site, _origin) = served(atom, "application/atom+xml");
    assert_eq!(entries[0].link.as_deref(), Some("https://text.example/3"));
}

/// A date more than a day ahead was replaced by the poll time: an agenda's
/// events were misdated and their order inverted around the 24 h mark.
/// The source's date is published; only a date years ahead sorts as now.
#[test]
fn future_dates_are_published_as_the_source_gives_them() {
    let soon = (chrono::Utc::now() + chrono::Duration::days(10)).to_rfc2822();
    let later = (chrono::Utc::now() + chrono::Duration::days(40)).to_rfc2822();
    let rss = format!(
        r#"<rss version="2.0"><channel><title>Agenda</title>
        <item><guid>a</guid><title>Concert</title><pubDate>{soon}</pubDate></item>
        <item><guid>b</guid><title>Festival</title><pubDate>{later}</pubDate></item>
        <item><guid>c</guid><title>Erreur</title><pubDate>Fri, 01 Jan 2100 00:00:00 GMT</pubDate></item>
        <item><guid>d</guid><title>Hier</title><pubDate>{}</pubDate></item>
        </channel></rss>"#,
        (chrono::Utc::now() - chrono::Duration::days(1)).to_rfc2822()
    );
    let (entries, serve, _site, _origin) = served(&rss, "application/rss+xml");
    let concert = entries.iter().find(|e| e.title == "Concert").unwrap();
    assert_eq!(concert.published.to_rfc2822(), soon);
    let erreur = entries.iter().find(|e| e.title == "Erreur").unwrap();
    assert_eq!(erreur.published.to_rfc3339(), "2100-01-01T00:00:00+00:00");
    let feed = get(&serve.url("/sections/s/rss.xml")).text();
    let at = |t: &str| {
        feed.find(&format!("<title>{t}</title>"))
            .unwrap_or_else(|| panic!("{t}: {feed}"))
    };
    // By date, newest first; the year-2100 mistake sorts as first seen.
    assert!(
        at("Festival") < at("Concert") && at("Concert") < at("Erreur") && at("Erreur") < at("Hier"),
        "{feed}"
    );
    assert!(feed.contains("1 Jan 2100 00:00:00"), "{feed}");
}

/// Unrelated stories of different sources that shared a generic link (a
/// home page) collapsed into one, and a live blog's `#update-N` entries
/// lost their fragments (a relay of one update merged with another).
#[test]
fn stories_are_one_only_when_they_are_the_same_story() {
    let origin = Origin::start();
    let home = "https://mairie.example/";
    origin.route(
        "/mairie.xml",
        Route::feed(
            format!(
                r#"<rss version="2.0"><channel><title>Mairie</title><link>{home}</link>
                <item><guid>m1</guid><title>Collecte des encombrants</title><link>{home}</link></item>
                <item><guid>m2</guid><title>Fermeture de la piscine</title><link>{home}</link></item></channel></rss>"#
            ),
            "application/rss+xml",
        ),
    );
    origin.route(
        "/journal.xml",
        Route::feed(
            format!(
                r#"<rss version="2.0"><channel><title>Journal</title>
                <item><title>Le maire répond</title><link>{home}</link></item></channel></rss>"#
            ),
            "application/rss+xml",
        ),
    );
    let live = "https://live.example/direct";
    origin.route(
        "/live.atom",
        Route::feed(
            format!(
                r#"<feed xmlns="http://www.w3.org/2005/Atom"><title>Direct</title><id>urn:live</id><updated>2026-11-20T12:00:00Z</updated>
                <entry><title>10 h : ouverture</title><link href="{live}#update-1"/><updated>2026-11-20T10:00:00Z</updated></entry>
                <entry><title>11 h : discours</title><link href="{live}#update-2"/><updated>2026-11-20T11:00:00Z</updated></entry>
                <entry><title>12 h : clôture</title><link href="{live}#update-3"/><updated>2026-11-20T12:00:00Z</updated></entry></feed>"#
            ),
            "application/atom+xml",
        ),
    );
    origin.route(
        "/relay.xml",
        Route::feed(
            format!(
                r#"<rss version="2.0"><channel><title>Relais</title>
                <item><guid isPermaLink="false">r1</guid><title>Le discours, repris</title><link>{live}#update-2</link></item></channel></rss>"#
            ),
            "application/rss+xml",
        ),
    );
    let site = Site::new(&format!(
        "[[sources]]\nname = \"mairie\"\nurl = \"{}\"\n[[sources]]\nname = \"journal\"\nurl = \"{}\"\n\
         [[sources]]\nname = \"live\"\nurl = \"{}\"\n[[sources]]\nname = \"relay\"\nurl = \"{}\"\n",
        origin.url("/mairie.xml"),
        origin.url("/journal.xml"),
        origin.url("/live.atom"),
        origin.url("/relay.xml"),
    ));
    assert_eq!(site.thau(&["poll"]).code(), 0);
    let entries = site.entries();
    let titles: Vec<&str> = entries.iter().map(|e| e.title.as_str()).collect();
    for t in [
        "Collecte des encombrants",
        "Fermeture de la piscine",
        "Le maire répond",
        "10 h : ouverture",
        "12 h : clôture",
    ] {
        assert!(titles.contains(&t), "{t} in {titles:?}");
    }
    assert_eq!(entries.len(), 6, "{titles:?}");
    let discours = entries
        .iter()
        .find(|e| e.link.as_deref() == Some("https://live.example/direct#update-2"))
        .unwrap();
    assert_eq!(discours.title, "11 h : discours", "the origin's version");
    assert_eq!(discours.source_names().collect::<Vec<_>>(), ["live", "relay"]);
    let opening = entries.iter().find(|e| e.title == "10 h : ouverture").unwrap();
    assert_eq!(opening.link.as_deref(), Some("https://live.example/direct#update-1"));
}

/// MathML in Atom content came out empty.
#[test]
fn formulas_are_kept() {
    let atom = r#"<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>urn:f</id><updated>2026-11-20T10:00:00Z</updated>
        <entry><id>urn:m</id><title>Aire du disque</title><updated>2026-11-20T10:00:00Z</updated>
        <content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">L'aire vaut <math xmlns="http://www.w3.org/1998/Math/MathML"><mi>π</mi><msup><mi>r</mi><mn>2</mn></msup></math>.</div></content></entry></feed>"#;
    let (entries, serve, _site, _origin) = served(atom, "application/atom+xml");
    let content = entries[0].content.as_deref().unwrap_or_default();
    assert!(content.contains("<msup><mi>r</mi><mn>2</mn></msup>"), "{content}");
    let feed = get(&serve.url("/sections/s/atom.xml")).text();
    assert!(feed.contains("msup"), "{feed}");
}

/// Words a reader sees that the sanitizer or the decoder lost: an SVG
/// logo's letters (`intertwingly.net`'s "W"), an iframe's fallback text
/// (shown as raw tags), a stray `<` (dropped as a broken tag), CDATA in
/// XHTML (a `]]>` left over), a `dc:description` that says more, an
/// Atom-style `<summary>` in RSS, XML content (shown as nothing).
#[test]
fn drawings_fallbacks_and_stray_brackets_keep_their_words() {
    let atom = r##"<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>urn:f</id><updated>2026-11-20T10:00:00Z</updated>
        <entry><id>urn:svg</id><title>Démos</title><updated>2026-11-20T10:00:00Z</updated>
          <content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><svg xmlns="http://www.w3.org/2000/svg" width="100" height="100" viewBox="0 0 100 100" onload="alert(1)"><path d="M4,14h92" stroke="#4682b4"/><text x="50" y="90" font-size="90"><![CDATA[W]]></text></svg><p>chat partage un champ.</p></div></content></entry>
        <entry><id>urn:frame</id><title>Cadre</title><updated>2026-11-20T09:00:00Z</updated>
          <content type="html">vidéo&lt;iframe src="https://video.example/"&gt; &lt;b&gt;en direct&lt;/b&gt;&lt;/iframe&gt;</content></entry>
        <entry><id>urn:lt</id><title type="html">Le signe &lt;a</title><updated>2026-11-20T08:00:00Z</updated>
          <summary type="html">&lt;!' puis &lt;a</summary></entry>
        <entry><id>urn:cdata</id><title>CDATA</title><updated>2026-11-20T07:00:00Z</updated>
          <summary type="xhtml"><![CDATA[<p>Pas du balisage</p>]]></summary></entry>
        <entry><id>urn:xml</id><title>XML</title><updated>2026-11-20T06:00:00Z</updated>
          <content type="application/atom+xml">&lt;x/&gt;</content></entry></feed>"##;
    let (entries, serve, _site, _origin) = served(atom, "application/atom+xml");
    let text_of = |id: &str| {
        let e = entries
            .iter()
            .find(|e| e.id == id)
            .unwrap_or_else(|| panic!("{id} lost"));
        let html = e.content.as_deref().or(e.summary.as_deref()).unwrap_or_default();
        (e.title.clone(), thau::normalize::html_to_text(html))
    };
    let svg = entries
        .iter()
        .find(|e| e.id == "urn:svg")
        .and_then(|e| e.content.clone())
        .unwrap_or_default();
    assert!(svg.contains(">W</text>") && svg.contains("chat partage"), "{svg}");
    let feed = get(&serve.url("/sections/s/atom.xml")).text();
    assert!(
        feed.contains("&lt;svg") && feed.contains("viewBox") && !feed.contains("onload"),
        "{feed}"
    );
    assert_eq!(
        text_of("urn:frame").1.split_whitespace().collect::<Vec<_>>(),
        ["vidéo", "en", "direct"]
    );
    let (title, summary) = text_of("urn:lt");
    assert_eq!((title.as_str(), summary.trim()), ("Le signe <a", "<!' puis <a"));
    assert_eq!(text_of("urn:cdata").1.trim(), "<p>Pas du balisage</p>");
    assert_eq!(text_of("urn:xml").1.trim(), "<x/>");

    let rss = r#"<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>t</title>
        <item><guid>dc</guid><title>DC</title><description>Foo</description><dc:description>Foo, et bien plus</dc:description></item>
        <item><guid>sum</guid><title>Épisode</title><summary>Premier épisode</summary></item>
        </channel></rss>"#;
    let (entries, _serve, _site, _origin) = served(rss, "application/rss+xml");
    let summary = |id: &str| entries.iter().find(|e| e.id == id).and_then(|e| e.summary.clone());
    assert_eq!(summary("dc").as_deref(), Some("Foo, et bien plus"));
    assert_eq!(summary("sum").as_deref(), Some("Premier épisode"));
}

/// Plain text keeps its lines: a video's `media:description` (YouTube's
/// chapters, one per line), Atom `type="text"` content; an RSS
/// description stays HTML, whose line breaks are layout.
#[test]
fn plain_text_keeps_its_lines() {
    let atom = r#"<feed xmlns="http://www.w3.org/2005/Atom" xmlns:media="http://search.yahoo.com/mrss/"><title>t</title><id>urn:f</id><updated>2026-11-20T10:00:00Z</updated>
        <entry><id>yt:video:v1</id><title>Sète vue du ciel</title><updated>2026-11-20T10:00:00Z</updated><link rel="alternate" href="https://video.example/watch?v=v1"/>
          <media:group><media:description>Le port &amp; le mont.

00:00 Intro
01:30 Le port &lt;3</media:description></media:group></entry>
        <entry><id>urn:t</id><title>Notes</title><updated>2026-11-20T09:00:00Z</updated><content type="text">ligne 1
ligne 2</content></entry></feed>"#;
    let (entries, _serve, _site, _origin) = served(atom, "application/atom+xml");
    let html = |id: &str| {
        let e = entries.iter().find(|e| e.id == id).unwrap();
        e.content.clone().or(e.summary.clone()).unwrap_or_default()
    };
    assert_eq!(
        html("yt:video:v1"),
        "Le port &amp; le mont.<br>\n<br>\n00:00 Intro<br>\n01:30 Le port &lt;3"
    );
    assert_eq!(html("urn:t"), "ligne 1<br>\nligne 2");
    let rss = "<rss version=\"2.0\"><channel><title>t</title><item><guid>a</guid><title>A</title><description>une phrase\n  coupée</description></item></channel></rss>";
    let (entries, _serve, _site, _origin) = served(rss, "application/rss+xml");
    assert!(
        !entries[0].summary.as_deref().unwrap_or_default().contains("<br>"),
        "{:?}",
        entries[0].summary
    );
}

/// A feed that says ISO-8859-1 (in its declaration or its HTTP header) but
/// is UTF-8, the commonest mislabel: `isn’t` became `isnâ€™t`.
#[test]
fn a_feed_that_misnames_its_charset_keeps_its_letters() {
    let rss = "<?xml version='1.0' encoding='iso-8859-1'?><rss version=\"2.0\"><channel><title>t</title>\
        <item><guid>a</guid><title>Sète isn’t Mèze</title></item></channel></rss>";
    let (entries, serve, _site, _origin) = served(rss, "application/rss+xml");
    assert_eq!(entries[0].title, "Sète isn’t Mèze");
    assert!(
        get(&serve.url("/sections/s/rss.xml"))
            .text()
            .contains("Sète isn’t Mèze")
    );
    let undeclared = rss.replace("<?xml version='1.0' encoding='iso-8859-1'?>", "");
    let (entries, _serve, _site, _origin) = served(&undeclared, "application/rss+xml; charset=ISO-8859-1");
    assert_eq!(entries[0].title, "Sète isn’t Mèze");
}

/// A JSON Feed whose version is `http://jsonfeed.org/version/1` (not
/// https), or that starts with a byte-order mark, was refused; a scraped
/// summary carried an inline script's text.
#[test]
fn json_feeds_as_written_and_scraped_text_without_scripts() {
    for (name, body) in [
        (
            "http",
            r#"{"version": "http://jsonfeed.org/version/1", "title": "Agenda", "items": [{"id": "e1", "title": "Concert http", "content_text": "x"}]}"#.to_string(),
        ),
        (
            "bom",
            format!("\u{feff}{}", r#"{"version": "https://jsonfeed.org/version/1.1", "title": "Agenda", "items": [{"id": "e2", "title": "Concert BOM", "content_text": "x"}]}"#),
        ),
    ] {
        let (entries, _serve, _site, _origin) = served(&body, "application/feed+json");
        assert_eq!(entries.len(), 1, "{name}");
    }

    let origin = Origin::start();
    origin.route(
        "/page.html",
        Route::feed(
            "<html><body><article class=\"news\"><h2>Travaux</h2><a href=\"/t\">lire</a>\
             <p class=\"chapo\">Les travaux <script>x()</script>commencent.</p></article></body></html>",
            "text/html",
        ),
    );
    let site = Site::new(&format!(
        "[[sources]]\nname = \"page\"\nurl = \"{}\"\n[sources.scrape]\nitem = \"article.news\"\ntitle = \"h2\"\nlink = \"a@href\"\nsummary = \"p.chapo\"\n",
        origin.url("/page.html")
    ));
    assert_eq!(site.thau(&["poll"]).code(), 0);
    let summary = site.entries()[0].summary.clone().unwrap_or_default();
    assert!(
        summary.contains("Les travaux") && summary.contains("commencent."),
        "{summary}"
    );
    assert!(!summary.contains("x()"), "{summary}");
}

/// A 1×1 image or a known beacon became the story's picture on the
/// reading page.
#[test]
fn tracking_pixels_are_never_pictures() {
    let rss = r#"<rss version="2.0"><channel><title>t</title><item><guid>p</guid><title>Avec pixel</title>
        <description>&lt;p&gt;Texte&lt;/p&gt;&lt;img src="https://feeds.feedburner.com/~r/x/~4/abc" height="1" width="1"&gt;&lt;img src="https://cdn.example/bug.gif" width="1" height="1"&gt;&lt;img src="https://cdn.example/photo.jpg" alt="Le port"&gt;</description></item></channel></rss>"#;
    let (entries, serve, _site, _origin) = served(rss, "application/rss+xml");
    let summary = entries[0].summary.clone().unwrap_or_default();
    assert!(
        !summary.contains("feedburner") && !summary.contains("bug.gif"),
        "{summary}"
    );
    let section = get(&serve.url("/sections/s/")).text();
    assert!(section.contains("https://cdn.example/photo.jpg"), "{section}");
    assert!(
        !section.contains("bug.gif") && !section.contains("feedburner"),
        "{section}"
    );
}

/// `media:thumbnail` (in `media:group` too) and `itunes:image` were
/// ignored, and `itunes:duration` left every format: YouTube and podcast
/// entries had no picture, and a section of podcasts was no podcast feed.
#[test]
fn pictures_and_podcasts_reach_every_format() {
    let origin = Origin::start();
    origin.route(
        "/podcast.xml",
        Route::feed(
            r#"<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"><channel><title>Radio Thau</title>
            <item><guid>ep1</guid><title>Épisode 1</title><enclosure url="https://radio.example/ep1.mp3" length="123456" type="audio/mpeg"/>
              <itunes:duration>1:02:03</itunes:duration><itunes:image href="https://radio.example/ep1.jpg"/><pubDate>Tue, 24 Nov 2026 08:00:00 GMT</pubDate></item>
            </channel></rss>"#,
            "application/rss+xml",
        ),
    );
    origin.route(
        "/videos.atom",
        Route::feed(
            r#"<feed xmlns="http://www.w3.org/2005/Atom" xmlns:media="http://search.yahoo.com/mrss/"><title>Vidéos</title><id>urn:v</id><updated>2026-11-24T09:00:00Z</updated>
            <entry><id>urn:v1</id><title>Le port en vidéo</title><link href="https://video.example/v1"/><updated>2026-11-24T09:00:00Z</updated>
              <media:group><media:title>Le port</media:title><media:thumbnail url="https://video.example/v1.jpg" width="480" height="360"/></media:group></entry></feed>"#,
            "application/atom+xml",
        ),
    );
    let site = Site::new(&format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n\
         [[sections]]\nslug = \"podcast\"\ntitle = \"Podcast\"\nlogo = \"https://radio.example/logo.jpg\"\n\
         [[sections]]\nslug = \"videos\"\ntitle = \"Vidéos\"\n\
         [[sources]]\nname = \"radio\"\nurl = \"{}\"\nsections = [\"podcast\"]\n\
         [[sources]]\nname = \"videos\"\nurl = \"{}\"\nsections = [\"videos\"]\n",
        origin.url("/podcast.xml"),
        origin.url("/videos.atom")
    ));
    assert_eq!(site.thau(&["poll"]).code(), 0);
    let serve = site.serve();
    wait_for("the feeds", || {
        get(&serve.url("/sections/videos/atom.xml")).text().contains("Le port")
    });
    let rss = get(&serve.url("/sections/podcast/rss.xml")).text();
    for expected in [
        "<itunes:duration>1:02:03</itunes:duration>",
        "<itunes:image href=\"https://radio.example/ep1.jpg\"",
        "<itunes:image href=\"https://radio.example/logo.jpg\"",
        "<enclosure url=\"https://radio.example/ep1.mp3\"",
        "<media:thumbnail url=\"https://radio.example/ep1.jpg\"",
    ] {
        assert!(rss.contains(expected), "{expected} in {rss}");
    }
    let json: serde_json::Value = serde_json::from_slice(&get(&serve.url("/sections/podcast/feed.json")).body).unwrap();
    assert_eq!(json["icon"], "https://radio.example/logo.jpg");
    assert_eq!(json["items"][0]["image"], "https://radio.example/ep1.jpg");
    assert_eq!(json["items"][0]["attachments"][0]["duration_in_seconds"], 3723);
    let atom = get(&serve.url("/sections/videos/atom.xml")).text();
    assert!(
        atom.contains("<media:thumbnail url=\"https://video.example/v1.jpg\""),
        "{atom}"
    );
    let page = get(&serve.url("/sections/videos/")).text();
    assert!(
        page.contains("https://video.example/v1.jpg"),
        "the picture on the page: {page}"
    );
    // A podcast reader's view of it (feedparser's iTunes support).
    let read = Command::new("python3")
        .args([
            "-c",
            "import feedparser,sys; d=feedparser.parse(sys.argv[1]); e=d.entries[0]; \
             print(e.get('itunes_duration'), e.get('image', {}).get('href'), e.enclosures[0].href, d.feed.get('image', {}).get('href'))",
            &serve.url("/sections/podcast/rss.xml"),
        ])
        .output();
    match read {
        Ok(out) if out.status.success() => assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "1:02:03 https://radio.example/ep1.jpg https://radio.example/ep1.mp3 https://radio.example/logo.jpg"
        ),
        _ => eprintln!("SKIPPED: Python feedparser is not installed"),
    }
}
