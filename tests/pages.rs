//! The reading pages (front page, section pages, story pages), the status
//! page at `/status` (public or private), and the "all sections" feed, as
//! readers and admins meet them: the real binary serving what it polled
//! from a real HTTP origin on 127.0.0.1.

mod support;

use std::collections::BTreeSet;

use support::{Origin, Site, get, http, regional_origin, wait_for};

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
slug = "vide"
title = "Vide"
categories = ["nothing-routes-here"]
"#;

fn config(origin: &Origin, extra: &str) -> String {
    format!(
        r#"{extra}
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

[[sources]]
name = "divers"
url = "{}"
"#,
        origin.url("/courrier.xml"),
        origin.url("/agde.atom"),
        origin.url("/agenda.json"),
        origin.url("/divers.xml")
    )
}

/// The regional origin, and a source whose story no section takes.
fn origin() -> Origin {
    let origin = regional_origin();
    origin.route(
        "/divers.xml",
        support::Route::feed(
            r#"<?xml version="1.0"?><rss version="2.0"><channel><title>Divers</title><link>https://divers.example/</link>
<item><title>Résultats du tournoi de pétanque</title><link>https://divers.example/petanque</link>
<category>Sport</category><pubDate>Tue, 24 Nov 2026 09:00:00 GMT</pubDate><description>Finale à Balaruc.</description></item>
</channel></rss>"#,
            "application/rss+xml",
        ),
    );
    origin
}

const SERVER: &str = "[server]\nlisten = \"127.0.0.1:0\"\n";

/// A new desk's first look: `thau serve` on an empty store does not show
/// an empty site while its first polls run. Its pages say it is starting
/// (503, in the site's language, reloading themselves) until the stories
/// are in. A store that already holds stories is served at once, while a
/// source is still being read.
#[test]
fn a_new_desk_shows_its_stories_from_the_first_page() {
    let origin = Origin::start();
    let feed = r#"<?xml version="1.0"?><rss version="2.0"><channel><title>Mèze</title><link>https://meze.example/</link>
<item><title>Ouverture du marché aux huîtres</title><link>https://meze.example/marche</link>
<pubDate>Tue, 24 Nov 2026 09:00:00 GMT</pubDate><description>Sur le port.</description></item>
</channel></rss>"#;
    // The origin takes a while: the first poll ends well after thau listens.
    origin.route(
        "/meze.xml",
        support::Route::Delayed(
            std::time::Duration::from_millis(1500),
            Box::new(support::Route::feed(feed, "application/rss+xml")),
        ),
    );
    let site = Site::new(&format!(
        "{SERVER}[site]\nlanguage = \"fr\"\n[poll]\ntimeout = \"30s\"\n\
         [[sections]]\nslug = \"meze\"\ntitle = \"Mèze\"\n\
         [[sources]]\nname = \"meze\"\nurl = \"{}\"\nsections = [\"meze\"]\n",
        origin.url("/meze.xml")
    ));
    let serve = support::Serve::spawn(site.command(&["serve"]));
    let mut waited = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let front = loop {
        let r = get(&serve.url("/"));
        if r.status == 200 {
            break r.text();
        }
        assert_eq!(r.status, 503, "{}", r.text());
        waited.push(r);
        assert!(std::time::Instant::now() < deadline, "the front page never came");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(
        front.contains("Ouverture du marché aux huîtres"),
        "the first front page served is empty: {front}"
    );
    // While the first poll ran, pages said so, as pages.
    let starting = waited.first().expect("the first poll ended before any request");
    assert_eq!(starting.header("retry-after"), Some("2"));
    assert_eq!(starting.header("cache-control"), Some("no-store"));
    assert!(starting.header("content-type").unwrap().starts_with("text/html"));
    let text = starting.text();
    assert!(text.contains("<html lang=\"fr\">"), "{text}");
    assert!(text.contains("<meta http-equiv=\"refresh\" content=\"2\">"), "{text}");
    assert!(text.contains("thau lit ses sources"), "{text}");
    let section = get(&serve.url("/sections/meze/")).text();
    assert!(section.contains("Ouverture du marché aux huîtres"), "{section}");
    assert!(serve.terminate().success());

    // Restarted with its story stored, while the source hangs: served at
    // once, with what is stored.
    origin.route("/meze.xml", support::Route::Slow(std::time::Duration::from_secs(60)));
    let serve = site.serve();
    let front = get(&serve.url("/")).text();
    assert!(front.contains("Ouverture du marché aux huîtres"), "{front}");
}

/// Polls, then serves: every page then shows what the poll stored.
/// Also says how many entries the poll stored.
fn polled_and_serving(origin: &Origin, extra: &str) -> (usize, support::Serve, Site) {
    let site = Site::new(&config(origin, extra));
    let run = site.thau(&["poll"]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let stored = site.entries().len();
    let serve = site.serve();
    (stored, serve, site)
}

/// The JSON Feed of `path`: (id, title, url) of each item, in order.
fn json_items(serve: &support::Serve, path: &str) -> Vec<(String, String, String)> {
    let feed: serde_json::Value = serde_json::from_slice(&get(&serve.url(path)).body).unwrap();
    feed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["id"].as_str().unwrap().to_string(),
                i["title"].as_str().unwrap().to_string(),
                i["url"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// What `<a href="…">` targets a page has that start with `prefix`, in order.
fn links(html: &str, prefix: &str) -> Vec<String> {
    html.split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|href| href.starts_with(prefix))
        .map(str::to_owned)
        .collect()
}

/// The text of each `<hN><a …>title</a></hN>` in a list of stories.
fn story_titles(html: &str) -> Vec<String> {
    html.split("<article>")
        .skip(1)
        .filter_map(|a| {
            let h = a.find("<h")?;
            let start = h + a[h..].find("\">")? + 2;
            let end = start + a[start..].find("</a>")?;
            Some(unescape(&a[start..end]))
        })
        .collect()
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[test]
fn the_front_page_shows_every_section_s_latest_stories_in_french() {
    let origin = origin();
    let site = Site::new(&config(
        &origin,
        &format!("[site]\ntitle = \"Bassin de Thau\"\nlanguage = \"fr\"\n{SERVER}"),
    ));
    assert_eq!(site.thau(&["poll"]).code(), 0);
    // (Read before serving: the daemon holds the store.)
    let entries = site.entries();
    let serve = site.serve();
    let front = get(&serve.url("/"));
    assert_eq!(front.status, 200);
    assert_eq!(front.header("content-type"), Some("text/html; charset=utf-8"));
    let html = front.text();
    assert!(html.contains("<html lang=\"fr\">"), "{html}");
    assert!(html.contains("<title>Bassin de Thau</title>"));
    // Labels and ages in French ("il y a 3 jours"), never in English.
    assert!(html.contains(">il y a "), "{html}");
    assert!(!html.contains(" ago<"), "{html}");
    assert!(html.contains("aria-label=\"Rubriques\""));
    // Each section's block, in page order, shows its latest stories as its
    // feed lists them, skipping those shown in a block above: each story
    // once on the page. An empty section has no block.
    let blocks: Vec<(String, Vec<String>)> = html
        .split("<section aria-labelledby=\"s-")
        .skip(1)
        .map(|b| {
            let slug = b[..b.find('"').unwrap()].to_string();
            (slug, story_titles(&b[..b.find("</section>").unwrap()]))
        })
        .collect();
    // The lead story, above the sections: its picture, its section, a large
    // headline and its intro; the newest with a picture of the page.
    let lead = &html[html.find("<article class=\"lead\">").expect("a lead story")..];
    let lead = &lead[..lead.find("</article>").unwrap()];
    assert!(lead.contains("<img src=\""), "{lead}");
    assert!(lead.contains("class=\"label\" href=\""), "{lead}");
    assert!(lead.contains("<p class=\"intro\">"), "{lead}");
    assert!(html.find("<article class=\"lead\">") < html.find("<section "));
    let h2 = &lead[lead.find("<h2><a href=\"").unwrap()..];
    let lead_title = unescape(&h2[h2.find("\">").unwrap() + 2..h2.find("</a>").unwrap()]);
    // Of the stories on the page, the lead is a dated one (a story dated
    // when thau first saw it is not news) with a picture, the newest such.
    let on_page: Vec<String> = story_titles(&html);
    let rank = |title: &str| {
        let e = entries.iter().find(|e| e.title == title).unwrap();
        (e.dated, thau::publish::image(e).is_some(), e.published)
    };
    let lead_rank = rank(&lead_title);
    assert!(lead_rank.0 && lead_rank.1, "{lead_title}: {lead_rank:?}");
    for title in &on_page {
        assert!(rank(title) <= lead_rank, "{title} should lead rather than {lead_title}");
    }
    let mut seen: Vec<String> = vec![lead_title];
    for (slug, shown) in &blocks {
        let feed = json_items(&serve, &format!("/sections/{slug}/feed.json"));
        let expected: Vec<String> = feed
            .iter()
            .map(|(_, t, _)| t.clone())
            .filter(|t| !seen.contains(t))
            .take(4)
            .collect();
        assert!(!expected.is_empty(), "{slug}: a block with nothing new");
        assert_eq!(shown, &expected, "{slug}");
        seen.extend(expected);
    }
    let slugs: Vec<&str> = blocks.iter().map(|(s, _)| s.as_str()).collect();
    for slug in ["sete", "agde", "culture"] {
        assert!(slugs.contains(&slug), "{slug} in {slugs:?}");
    }
    let titles = story_titles(&html);
    let unique: std::collections::HashSet<&String> = titles.iter().collect();
    assert_eq!(
        unique.len(),
        titles.len(),
        "a story twice on the front page: {titles:?}"
    );
    assert!(!html.contains("s-vide"), "{html}");
    // Feeds are discoverable from the page: the "all sections" ones.
    for path in ["/feed.xml", "/atom.xml", "/feed.json"] {
        assert!(
            html.contains("rel=\"alternate\" type=") && html.contains(&format!("{}\">", serve.url(path))),
            "{path} not linked:\n{html}"
        );
    }
}

#[test]
fn section_and_story_pages_carry_the_stories_their_sources_and_the_original_link() {
    let origin = origin();
    let (_, serve, _site) = polled_and_serving(&origin, SERVER);
    // English when [site] does not say otherwise.
    let page = get(&serve.url("/sections/sete/"));
    assert_eq!(page.status, 200);
    let html = page.text();
    assert!(html.contains("<html lang=\"en\">"));
    assert!(html.contains("<h1>Sète</h1>"));
    assert!(html.contains("Toute l'actualité de Sète") || html.contains("Toute l&#39;actualité de Sète"));
    let feed = json_items(&serve, "/sections/sete/feed.json");
    assert_eq!(
        story_titles(&html),
        feed.iter().map(|(_, t, _)| t.clone()).collect::<Vec<_>>()
    );
    assert!(
        html.contains(" ago</time>") || html.contains("just now</time>"),
        "{html}"
    );
    // The section's own feeds, then the site's, are discoverable.
    let alternates: Vec<&str> = html
        .lines()
        .filter(|l| l.starts_with("<link rel=\"alternate\""))
        .collect();
    assert_eq!(alternates.len(), 6, "{alternates:#?}");
    assert!(alternates[0].contains(&serve.url("/sections/sete/rss.xml")));

    // Every story the page lists has its page: title, text, the sections
    // it is in, where it came from and the original.
    let stories = links(&html, &serve.url("/stories/"));
    assert_eq!(stories.len(), feed.len());
    for (url, (_, title, original)) in stories.iter().zip(&feed) {
        let story = get(url);
        assert_eq!(story.status, 200, "{url}");
        let text = story.text();
        assert!(
            text.contains(&format!("<h1>{}</h1>", title.replace('\'', "&#39;")))
                || text.contains(&format!("<h1>{title}</h1>")),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "<a class=\"original\" href=\"{original}\">Read the original</a>"
            )),
            "{text}"
        );
        assert!(text.contains("<p class=\"sources\">Sources:"), "{text}");
        assert!(
            text.contains(&format!("href=\"{}\">Sète</a>", serve.url("/sections/sete/"))),
            "{text}"
        );
        assert!(text.contains("<div class=\"content\">"), "{text}");
    }
    // The Saint-Louis story is in three sections and credits its paper.
    let saint_louis = stories
        .iter()
        .zip(&feed)
        .find(|(_, (_, t, _))| t.contains("Saint-Louis"))
        .map(|(u, _)| get(u).text())
        .expect("the Saint-Louis story");
    assert!(saint_louis.contains("Le Courrier du Bassin de Thau"), "{saint_louis}");
    assert!(saint_louis.contains(&format!(
        "href=\"{}\">Le Courrier</a>",
        serve.url("/sections/courrier/")
    )));

    // A story id that is not on the site, a section that does not exist.
    let gone = get(&serve.url("/stories/0123456789abcdef0123.html"));
    assert_eq!(gone.status, 404);
    assert!(gone.text().contains("no longer on the site"));
    assert_eq!(get(&serve.url("/sections/nope/")).status, 404);
    // The page without its slash is sent to it.
    let moved = get(&serve.url("/sections/sete"));
    assert_eq!(moved.status, 301);
    assert_eq!(moved.header("location"), Some("/sections/sete/"));
    // Feeds beside the page are untouched.
    assert_eq!(get(&serve.url("/sections/sete/rss.xml")).status, 200);
}

/// Pages told dates as `2026-11-24 17:30 UTC`: a reader in Sète reads
/// "24 novembre 2026 à 18 h 30", in the desk's time zone, in tooltips on
/// the live pages, on story pages and on exported pages.
#[test]
fn dates_are_told_in_the_site_s_language_and_time_zone() {
    let origin = origin();
    let text = config(&origin, &format!("[site]\nlanguage = \"fr\"\n{SERVER}"))
        .replace("[poll]\n", "[poll]\ntimezone = \"Europe/Paris\"\n");
    let site = Site::new(&text);
    assert_eq!(site.thau(&["poll"]).code(), 0);
    let out = site.dir.path().join("public");
    assert_eq!(site.thau(&["export", "--out", out.to_str().unwrap()]).code(), 0);
    let serve = site.serve();
    // The paper's "Saint-Louis" story: 2026-11-24T17:30:00Z, 18:30 in Paris.
    let said = "24 novembre 2026 à 18 h 30";
    let front = get(&serve.url("/")).text();
    assert!(
        front.contains(&format!(
            "<time datetime=\"2026-11-24T17:30:00Z\" title=\"{said}\">il y a "
        )),
        "the age, with the date as its tooltip:\n{front}"
    );
    let story = links(&front, &serve.url("/stories/"))
        .into_iter()
        .map(|u| get(&u).text())
        .find(|h| h.contains("Saint-Louis"))
        .unwrap();
    assert!(story.contains(said), "{story}");
    let exported = std::fs::read_to_string(out.join("sections/sete/index.html")).unwrap();
    assert!(
        exported.contains(&format!("<time datetime=\"2026-11-24T17:30:00Z\">{said}</time>")),
        "an exported page has the date itself (an age would go stale):\n{exported}"
    );
    assert!(!exported.contains(" UTC<"), "{exported}");
}

#[test]
fn pages_are_valid_html_with_accessible_structure() {
    let origin = origin();
    let (_, serve, _site) = polled_and_serving(&origin, &format!("[site]\nlanguage = \"fr\"\n{SERVER}"));
    let front = get(&serve.url("/")).text();
    let mut pages = vec![("/".to_string(), front.clone())];
    for slug in ["sete", "agde", "culture", "courrier", "vide"] {
        let path = format!("/sections/{slug}/");
        pages.push((path.clone(), get(&serve.url(&path)).text()));
    }
    for url in links(&pages[1].1, &serve.url("/stories/")) {
        pages.push((url.clone(), get(&url).text()));
    }
    pages.push(("/status".into(), get(&serve.url("/status")).text()));
    pages.push(("not found".into(), get(&serve.url("/stories/none.html")).text()));
    // A feed opened in a browser is a page too.
    let opened = http(
        "GET",
        &serve.url("/sections/sete/rss.xml"),
        &[("Sec-Fetch-Dest", "document")],
    );
    pages.push(("feed page".into(), opened.text()));
    assert!(pages.len() >= 11);

    for (path, html) in &pages {
        // Structure a screen reader relies on.
        assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\""), "{path}");
        assert_eq!(html.matches("<h1").count(), 1, "{path}: one h1\n{html}");
        assert!(html.contains("<meta name=\"viewport\""), "{path}");
        for img in html.split("<img ").skip(1) {
            let tag = &img[..img.find('>').unwrap()];
            assert!(
                tag.contains(" alt=\"") || tag.starts_with("alt=\""),
                "{path}: <img {tag}>"
            );
        }
        let mut last = 0;
        for level in html.split("<h").skip(1).filter_map(|h| h[..1].parse::<u32>().ok()) {
            assert!(level <= last + 1, "{path}: h{level} after h{last}");
            last = level;
        }
        for a in html.split("<a ").skip(1) {
            let text = &a[a.find('>').unwrap() + 1..a.find("</a>").unwrap()];
            assert!(!text.trim().is_empty(), "{path}: a link without text");
        }
        if path != "/status" {
            assert!(html.contains("<nav aria-label=\"Rubriques\">"), "{path}");
            assert!(html.contains("<main id=\"main\">"), "{path}");
            // A keyboard user skips the navigation; a dark system gets a
            // dark page.
            assert!(
                html.contains("<a class=\"skip\" href=\"#main\">Aller aux articles</a>"),
                "{path}"
            );
            assert!(html.contains("@media (prefers-color-scheme:dark)"), "{path}");
            // No section label repeating the heading just above it (a
            // story page's label has no section heading above it; the front
            // page's lead story is above every section heading).
            if path.starts_with("/sections/") {
                assert!(!html.contains("class=\"label\""), "{path}");
            }
            if path == "/" {
                let lead = &html[html.find("<article class=\"lead\">").unwrap()..];
                let lead_end = lead.find("</article>").unwrap();
                assert_eq!(html.matches("class=\"label\"").count(), 1, "{path}");
                assert!(lead[..lead_end].contains("class=\"label\""), "{path}");
            }
        }
        // The navigation marks the section a section page is, and only it.
        if let Some(slug) = path.strip_prefix("/sections/").and_then(|p| p.strip_suffix('/')) {
            assert_eq!(html.matches("aria-current=\"page\"").count(), 1, "{path}");
            assert!(
                html.contains(&format!("/sections/{slug}/\" aria-current=\"page\">")),
                "{path}"
            );
        } else {
            assert!(!html.contains("aria-current=\""), "{path}");
        }
    }

    // HTML Tidy: no error and no warning (but for `loading="lazy"` and
    // WAI-ARIA 1.1's `aria-current`, which Tidy 5.6 predates).
    if std::process::Command::new("tidy").arg("-v").output().is_err() {
        eprintln!("SKIPPED the Tidy check: tidy is not installed (.ci/run installs it)");
        return;
    }
    for (path, html) in &pages {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), html).unwrap();
        let out = std::process::Command::new("tidy")
            .args(["-q", "-e", "--show-warnings", "yes"])
            .arg(file.path())
            .output()
            .unwrap();
        let report = String::from_utf8_lossy(&out.stderr);
        let problems: Vec<&str> = report
            .lines()
            .filter(|l| {
                !l.trim().is_empty()
                    && !l.contains("proprietary attribute \"loading\"")
                    && !l.contains("proprietary attribute \"aria-current\"")
            })
            .collect();
        assert!(problems.is_empty(), "{path}:\n{}\n{html}", problems.join("\n"));
    }
}

#[test]
fn the_all_sections_feed_holds_each_story_of_every_section_once() {
    let origin = origin();
    let (stored, serve, _site) = polled_and_serving(&origin, SERVER);
    let mut union = BTreeSet::new();
    let mut listed = 0;
    for slug in ["sete", "agde", "culture", "courrier", "vide"] {
        let items = json_items(&serve, &format!("/sections/{slug}/feed.json"));
        listed += items.len();
        union.extend(items.into_iter().map(|(id, _, _)| id));
    }
    let all = json_items(&serve, "/feed.json");
    let ids: Vec<String> = all.iter().map(|(id, _, _)| id.clone()).collect();
    let unique: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(unique.len(), ids.len(), "a story twice: {ids:#?}");
    assert_eq!(unique, union);
    assert!(listed > union.len(), "the fixture has stories in several sections");
    // The pétanque story is in no section (no category matches): it is
    // stored, and not published.
    assert!(stored > unique.len(), "{stored} stored, {} published", unique.len());

    // The same stories in RSS and Atom, with their own self links.
    let rss = get(&serve.url("/feed.xml"));
    assert_eq!(rss.status, 200);
    assert_eq!(rss.header("content-type"), Some("application/rss+xml; charset=utf-8"));
    assert_eq!(rss.text().matches("<item>").count(), ids.len());
    assert!(
        rss.text()
            .contains(&format!("<atom:link href=\"{}\" rel=\"self\"", serve.url("/feed.xml")))
    );
    let atom = get(&serve.url("/atom.xml")).text();
    assert_eq!(atom.matches("<entry>").count(), ids.len());
    assert!(atom.contains("<id>tag:thau,2026:all</id>"), "{atom}");
    assert!(atom.contains(&format!("<link href=\"{}\" rel=\"self\"", serve.url("/atom.xml"))));

    // Served like section feeds: CORS for browser readers, validators,
    // 304s, ?limit.
    for path in [
        "/feed.xml",
        "/atom.xml",
        "/feed.json",
        "/sections/sete/feed.json",
        "/sections.opml",
    ] {
        let r = get(&serve.url(path));
        assert_eq!(r.header("access-control-allow-origin"), Some("*"), "{path}");
    }
    let etag = rss.header("etag").unwrap().to_string();
    let again = http("GET", &serve.url("/feed.xml"), &[("If-None-Match", &etag)]);
    assert_eq!(again.status, 304);
    let two = json_items(&serve, "/feed.json?limit=2");
    assert_eq!(two, all[..2].to_vec());

    if let Some(clients) = support::clients_dir() {
        for (url, version) in [(serve.url("/feed.xml"), "rss20"), (serve.url("/atom.xml"), "atom10")] {
            let fp = support::client(&clients, "feedparser-dump.py", &["--summary", &url]);
            assert_eq!(fp["version"], version, "{url}");
            assert_eq!(fp["bozo"], false, "{url}: {fp:#}");
            let theirs: Vec<&str> = fp["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].as_str().unwrap())
                .collect();
            assert_eq!(theirs, ids, "{url}");
        }
        let v = std::process::Command::new(clients.join("validate-atom.sh"))
            .arg(serve.url("/atom.xml"))
            .output()
            .unwrap();
        assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
    }
}

#[test]
fn the_status_page_moves_to_status_and_can_be_kept_private() {
    let origin = origin();
    let token = "s3cret-token-for-the-desk";
    let site = Site::new(&config(&origin, SERVER));
    let serve = site.serve();
    let status = get(&serve.url("/status"));
    assert_eq!(status.status, 200);
    assert!(status.text().contains("<h1>Status</h1>"));
    assert!(status.text().contains("agde-ville"));
    assert_eq!(get(&serve.url("/api/sources")).status, 200);
    drop(serve);

    site.write_config(&config(
        &origin,
        &format!("{SERVER}admin_token = \"{token}\"\nstatus = \"private\"\n"),
    ));
    let serve = site.serve();
    for path in ["/status", "/api/sources"] {
        let refused = get(&serve.url(path));
        assert_eq!(refused.status, 401, "{path}");
        assert!(
            refused
                .header("www-authenticate")
                .unwrap()
                .starts_with("Basic realm=\"thau status\"")
        );
        assert!(!refused.text().contains("agde-ville"));
        let wrong = http(
            "GET",
            &serve.url(path),
            &[("Authorization", "Bearer not-the-token-at-all")],
        );
        assert_eq!(wrong.status, 401, "{path}");
        let bearer = http(
            "GET",
            &serve.url(path),
            &[("Authorization", &format!("Bearer {token}"))],
        );
        assert_eq!(bearer.status, 200, "{path}");
        assert!(bearer.text().contains("agde-ville"), "{path}");
        // What a browser sends once the admin typed the token as password.
        use base64::Engine;
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("admin:{token}"));
        let browser = http("GET", &serve.url(path), &[("Authorization", &format!("Basic {basic}"))]);
        assert_eq!(browser.status, 200, "{path}");
    }
    // The reading pages and feeds stay public.
    wait_for("the front page", || get(&serve.url("/")).status == 200);
    assert_eq!(get(&serve.url("/feed.xml")).status, 200);
}

#[test]
fn check_explains_site_and_status_mistakes_with_their_lines() {
    let origin = origin();
    let site = Site::new(&config(
        &origin,
        "[site]\nlanguage = \"de\"\ntitle = \"  \"\ncolour = \"blue\"\n[server]\nstatus = \"private\"\n",
    ));
    let run = site.thau(&["check"]);
    assert_eq!(run.code(), 2);
    let err = run.stderr();
    let file = site.config_path().display().to_string();
    assert!(
        err.contains(&format!(
            "{file}:2: [site] language: expected \"en\" or \"fr\", not \"de\""
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("{file}:3: [site] title: must not be blank")),
        "{err}"
    );
    assert!(
        err.contains(&format!("{file}:4: [site]: unknown key \"colour\"")),
        "{err}"
    );
    assert!(
        err.contains(&format!("{file}:6: [server] status = \"private\" needs an admin_token")),
        "{err}"
    );
}

/// A feed opened in a browser (a top-level navigation, `Sec-Fetch-Dest:
/// document`) is a page that says how to subscribe and lists the stories;
/// a feed reader, and a script in a page, get the feed's bytes as before.
#[test]
fn a_feed_opened_in_a_browser_says_how_to_subscribe_and_readers_get_the_feed() {
    let origin = origin();
    let (_, serve, _site) = polled_and_serving(&origin, &format!("[site]\nlanguage = \"fr\"\n{SERVER}"));
    for (path, name) in [
        ("/sections/sete/rss.xml", "RSS de Sète"),
        ("/sections/agde/atom.xml", "Atom d'Agde"),
        ("/feed.json", "JSON Feed de "),
    ] {
        let url = serve.url(path);
        let reader = get(&url);
        assert_eq!(reader.status, 200);
        assert!(
            !reader.header("content-type").unwrap().starts_with("text/html"),
            "{path}"
        );
        // What a browser's navigation sends (Chromium's headers).
        let browser = http(
            "GET",
            &url,
            &[
                (
                    "Accept",
                    "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
                ),
                ("Sec-Fetch-Dest", "document"),
                ("Sec-Fetch-Mode", "navigate"),
            ],
        );
        assert_eq!(browser.status, 200, "{path}");
        assert_eq!(browser.header("content-type"), Some("text/html; charset=utf-8"));
        assert_eq!(browser.header("vary"), Some("sec-fetch-dest"), "{path}");
        let page = browser.text();
        assert!(page.contains(&format!("<h1>{name}")), "{path}:\n{page}");
        assert!(
            page.contains("copiez cette adresse dans votre lecteur de flux"),
            "{path}"
        );
        assert!(page.contains(&format!("<code>{url}</code>")), "{path}:\n{page}");
        // The feed's own stories, as the feed lists them.
        let feed_titles: Vec<String> = json_items(
            &serve,
            &path.replace("rss.xml", "feed.json").replace("atom.xml", "feed.json"),
        )
        .into_iter()
        .map(|(_, t, _)| t)
        .collect();
        assert_eq!(story_titles(&page), feed_titles, "{path}");
        // A script's request (or a reader's) is never given the page: the
        // same bytes as without the header.
        let fetched = http("GET", &url, &[("Sec-Fetch-Dest", "empty"), ("Sec-Fetch-Mode", "cors")]);
        assert_eq!(fetched.body, reader.body, "{path}");
    }
}

/// The status page speaks the site's language and tells dates in its zone.
#[test]
fn the_status_page_is_in_the_site_s_language() {
    let origin = origin();
    origin.route("/agenda.json", support::Route::status(503, &[]));
    let site = Site::new(
        &config(&origin, &format!("[site]\nlanguage = \"fr\"\n{SERVER}"))
            .replace("timeout = \"5s\"", "timeout = \"5s\"\ntimezone = \"Europe/Paris\""),
    );
    site.thau(&["poll"]);
    let serve = site.serve();
    let html = get(&serve.url("/status")).text();
    assert!(html.contains("<html lang=\"fr\">"), "{html}");
    assert!(html.contains("<h1>État des sources</h1>"), "{html}");
    assert!(
        html.contains("<strong>1 source sur 4 en échec :</strong> agenda-sete."),
        "{html}"
    );
    assert!(html.contains("<th scope=\"col\">Dernier relevé</th>"), "{html}");
    assert!(html.contains(">erreur</td>"), "{html}");
    // "3 décembre 2026 à 5 h 12": French months, Paris time.
    let months = [
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ];
    assert!(months.iter().any(|m| html.contains(&format!(" {m} 20"))), "{html}");
    for english in ["Last poll", "never", "failing", "Entries"] {
        assert!(!html.contains(english), "{english}: {html}");
    }
    // Link texts that say whose feed each is.
    assert!(html.contains(">RSS de Sète</a>"), "{html}");
    assert!(html.contains(">Atom d'Agde</a>"), "{html}");
}

/// Each feed link says whose feed it is; a picture has the words its
/// source gave it.
#[test]
fn feed_links_are_distinct_and_pictures_keep_their_words() {
    let origin = origin();
    let (_, serve, _site) = polled_and_serving(&origin, &format!("[site]\nlanguage = \"fr\"\n{SERVER}"));
    let sete = get(&serve.url("/sections/sete/")).text();
    for text in ["RSS de Sète", "Atom de Sète", "JSON Feed de Sète"] {
        assert!(sete.contains(&format!(">{text}</a>")), "{text}: {sete}");
    }
    // The courrier's joutes story shows its picture with its own alt.
    let courrier = get(&serve.url("/sections/courrier/")).text();
    assert!(
        courrier.contains("alt=\"Deux barques de joutes sur le canal\""),
        "{courrier}"
    );
}

/// A tiny PNG (1×1), as the origin serves it.
const PNG: &[u8] = &[
    0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1A, b'\n', 0, 0, 0, 13, b'I', b'H', b'D', b'R', 0, 0, 0, 1, 0, 0, 0, 1, 8,
    2, 0, 0, 0, 0x90, 0x77, 0x53, 0xDE, 0, 0, 0, 12, b'I', b'D', b'A', b'T', 8, 0xD7, 0x63, 0xF8, 0xCF, 0xC0, 0, 0, 3,
    1, 1, 0, 0x18, 0xDD, 0x8D, 0xB0, 0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xAE, 0x42, 0x60, 0x82,
];

/// With `[site] image_proxy = true`, the pages load pictures from thau
/// only: fetched once through the outgoing policy, checked to be pictures,
/// and only those of stories on the site.
#[test]
fn the_image_proxy_keeps_readers_browsers_off_the_sources_hosts() {
    // (The pictures are on the source's own origin: an internal address,
    // which the policy allows for the source the admin configured there,
    // and for it only; the next test shows another internal host refused.)
    let origin = origin();
    let pictures = &origin;
    let pic = pictures.url("/photo.png");
    let fake = pictures.url("/fake.png");
    pictures.route("/photo.png", support::Route::feed(PNG, "image/png"));
    pictures.route(
        "/fake.png",
        support::Route::feed("<script>alert(1)</script>", "image/png"),
    );
    origin.route(
        "/divers.xml",
        support::Route::feed(
            format!(
                r#"<?xml version="1.0"?><rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel><title>Divers</title><link>{base}</link>
<item><title>Photo du port</title><link>{base}port</link><pubDate>Tue, 24 Nov 2026 09:00:00 GMT</pubDate>
<media:thumbnail url="{pic}"/><description>&lt;p&gt;Le port.&lt;/p&gt;&lt;img src="{fake}" alt="faux"&gt;</description></item>
</channel></rss>"#,
                base = pictures.url("/")
            ),
            "application/rss+xml",
        ),
    );
    let extra = format!("[site]\nimage_proxy = true\n{SERVER}");
    let site = Site::new(
        &config(&origin, &extra).replace("name = \"divers\"", "name = \"divers\"\nsections = [\"courrier\"]"),
    );
    let run = site.thau(&["poll"]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let serve = site.serve();
    let page = get(&serve.url("/sections/courrier/")).text();
    assert!(!page.contains(&pic) && !page.contains(&fake), "{page}");
    let srcs: Vec<String> = page
        .split("<img src=\"")
        .skip(1)
        .map(|s| s[..s.find('"').unwrap()].to_string())
        .collect();
    assert!(!srcs.is_empty(), "{page}");
    for src in &srcs {
        assert!(
            src.starts_with(&serve.url("/img/")),
            "a picture not through thau: {src}"
        );
    }
    // The story page's text is proxied too.
    let story = links(&page, &serve.url("/stories/"))
        .into_iter()
        .map(|u| get(&u).text())
        .find(|t| t.contains("Photo du port"))
        .unwrap();
    assert!(!story.contains(&fake), "{story}");
    let served: Vec<String> = story
        .split("src=\"")
        .skip(1)
        .map(|s| s[..s.find('"').unwrap()].to_string())
        .filter(|s| s.contains("/img/"))
        .collect();
    assert_eq!(served.len(), 2, "{story}");

    // The picture itself: fetched once, served as a PNG with its bytes.
    let photo = served.iter().find(|u| get(u).status == 200).unwrap().clone();
    let first = get(&photo);
    assert_eq!(first.header("content-type"), Some("image/png"));
    assert_eq!(first.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(first.body, PNG);
    assert_eq!(get(&photo).body, PNG);
    assert_eq!(pictures.requests("/photo.png").len(), 1, "fetched once, then kept");
    // What is not a picture is not served under the site's name.
    let not_picture = served.iter().find(|u| **u != photo).unwrap();
    assert_eq!(get(not_picture).status, 502);
    // Only the site's pictures: no open proxy.
    assert_eq!(get(&serve.url("/img/0123456789abcdef01234567")).status, 404);
}

/// A picture on another internal host than its source's is never fetched:
/// a feed cannot make thau's proxy reach into the network it runs in.
#[test]
fn the_image_proxy_never_reaches_an_internal_host_for_a_feed() {
    let origin = origin();
    let inside = Origin::start_on("127.0.0.2");
    inside.route("/admin.png", support::Route::feed(PNG, "image/png"));
    origin.route(
        "/divers.xml",
        support::Route::feed(
            format!(
                r#"<?xml version="1.0"?><rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel><title>Divers</title><link>https://divers.example/</link>
<item><title>Photo</title><link>https://divers.example/photo</link><media:thumbnail url="{}"/></item>
</channel></rss>"#,
                inside.url("/admin.png")
            ),
            "application/rss+xml",
        ),
    );
    let extra = format!("[site]\nimage_proxy = true\n{SERVER}");
    let site = Site::new(
        &config(&origin, &extra).replace("name = \"divers\"", "name = \"divers\"\nsections = [\"courrier\"]"),
    );
    site.thau(&["poll"]);
    let serve = site.serve();
    let page = get(&serve.url("/sections/courrier/")).text();
    let src = page
        .split("<img src=\"")
        .skip(1)
        .map(|s| s[..s.find('"').unwrap()].to_string())
        .find(|s| s.contains("/img/"))
        .expect("the picture through thau");
    assert_eq!(get(&src).status, 502);
    assert!(inside.all_requests().is_empty(), "the internal host was reached");
}

/// Without the proxy, pictures load from where the source put them, and
/// `/img/` is not there.
#[test]
fn without_the_image_proxy_pictures_are_their_own_and_assets_are_served() {
    let origin = origin();
    let assets = tempfile::tempdir().unwrap();
    std::fs::write(assets.path().join("logo.png"), PNG).unwrap();
    std::fs::write(assets.path().join(".secret"), "no").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink("/etc/passwd", assets.path().join("passwd.png")).unwrap();
    let extra = format!("[site]\nassets = \"{}\"\n{SERVER}", assets.path().display());
    let (_, serve, _site) = polled_and_serving(&origin, &extra);
    let courrier = get(&serve.url("/sections/courrier/")).text();
    assert!(
        courrier.contains("<img src=\"http://127.0.0.1:8080/assets/joutes.png\""),
        "{courrier}"
    );
    assert_eq!(get(&serve.url("/img/0123456789abcdef01234567")).status, 404);
    let logo = get(&serve.url("/assets/logo.png"));
    assert_eq!(logo.status, 200);
    assert_eq!(logo.header("content-type"), Some("image/png"));
    assert_eq!(logo.body, PNG);
    for path in [
        "/assets/.secret",
        "/assets/passwd.png",
        "/assets/..%2Ffeeds.toml",
        "/assets/missing.png",
    ] {
        assert_eq!(get(&serve.url(path)).status, 404, "{path}");
    }
}
