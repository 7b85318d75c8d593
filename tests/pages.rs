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
    let (_, serve, _site) = polled_and_serving(
        &origin,
        &format!("[site]\ntitle = \"Bassin de Thau\"\nlanguage = \"fr\"\n{SERVER}"),
    );
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
    let mut seen: Vec<String> = Vec::new();
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
    assert!(pages.len() >= 10);

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
            // story page's label has no section heading above it).
            if path == "/" || path.starts_with("/sections/") {
                assert!(!html.contains("class=\"label\""), "{path}");
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
    assert!(status.text().contains("<h1>thau status</h1>"));
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
