//! The reading pages in a real browser: headless Chromium (Debian's
//! package, installed by `.ci/run`) loads the demo desk's front page, a
//! section, a story, a feed opened directly, and the status page at a
//! phone's width (390 px). A page served next to them by the same thau
//! (`[site] assets`, same origin) opens each in a frame and checks its DOM:
//! one `h1`, the lead story, no broken picture, nothing wider than the
//! screen. Screenshots are kept in `target/browser/` for a person to look at.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{Site, get};

/// The checks, run in the browser on each page (in a 390 px frame).
const CHECK_PAGE: &str = r#"<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>check</title></head>
<body style="margin:0">
<pre id="result">pending</pre>
<script>
const page = new URLSearchParams(location.search).get("page");
const frame = document.createElement("iframe");
frame.style.cssText = "width:390px;height:30000px;border:0";
frame.src = page;
// (Tall enough that every lazy picture is in view, so each one loads
// before the frame's load event, which the top page's waits for.)
frame.onload = () => {
  const d = frame.contentDocument;
  const images = [...d.images];
  const broken = images.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.currentSrc || i.src);
  const root = d.documentElement;
  document.getElementById("result").textContent = JSON.stringify({
    h1: d.querySelectorAll("h1").length,
    lead: !!d.querySelector("article.lead"),
    images: images.length,
    broken,
    scroll_width: root.scrollWidth,
    width: root.clientWidth,
    lang: root.lang,
  });
};
document.body.appendChild(frame);
</script></body></html>
"#;

fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find_map(|name| {
            Command::new(name)
                .arg("--version")
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|_| PathBuf::from(name))
        });
    if found.is_none() {
        assert!(
            std::env::var_os("THAU_REQUIRE_BROWSER").is_none(),
            "THAU_REQUIRE_BROWSER is set and no chromium was found"
        );
        eprintln!("SKIPPED: no chromium (apt-get install chromium; .ci/run installs it)");
    }
    found
}

fn headless(browser: &Path, profile: &Path) -> Command {
    let mut cmd = Command::new(browser);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
        "--hide-scrollbars",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    cmd
}

/// A free port on 127.0.0.1 (the demo's pictures name the address thau
/// serves them at, so it must be known before thau starts).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The shipped demo (`feeds.toml` and `fixtures/demo`), in a folder of its
/// own, served on `port`.
fn demo_site(port: u16) -> Site {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let site = Site::new("");
    let dir = site.dir.path();
    let address = format!("127.0.0.1:{port}");
    std::fs::create_dir_all(dir.join("fixtures/demo/assets")).unwrap();
    for entry in std::fs::read_dir(repo.join("fixtures/demo")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            // The demo's pictures are at the demo's own address.
            let text = bytes_replace(&bytes, b"127.0.0.1:8080", address.as_bytes());
            std::fs::write(dir.join("fixtures/demo").join(path.file_name().unwrap()), text).unwrap();
        }
    }
    for entry in std::fs::read_dir(repo.join("fixtures/demo/assets")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.join("fixtures/demo/assets").join(path.file_name().unwrap())).unwrap();
    }
    std::fs::write(dir.join("fixtures/demo/assets/check.html"), CHECK_PAGE).unwrap();
    let config = std::fs::read_to_string(repo.join("feeds.toml"))
        .unwrap()
        .replace("127.0.0.1:8080", &address);
    site.write_config(&config);
    site
}

fn bytes_replace(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

#[test]
fn the_demo_pages_read_well_on_a_phone_in_chromium() {
    let Some(browser) = chromium() else { return };
    let port = free_port();
    let site = demo_site(port);
    let polled = site.thau(&["poll"]);
    assert_eq!(polled.code(), 0, "{}", polled.stderr());
    let serve = site.serve();
    assert_eq!(serve.base, format!("http://127.0.0.1:{port}"));

    let front = get(&serve.url("/")).text();
    let story = front
        .split("href=\"")
        .filter_map(|s| s.split('"').next())
        .find(|h| h.contains("/stories/"))
        .expect("a story on the front page")
        .trim_start_matches(&serve.base)
        .to_string();
    let pages = [
        ("front", "/".to_string()),
        ("section", "/sections/sete/".to_string()),
        ("story", story),
        ("status", "/status".to_string()),
    ];
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser");
    std::fs::create_dir_all(&shots).unwrap();
    let profile = tempfile::tempdir().unwrap();
    for (name, path) in &pages {
        let check = serve.url(&format!("/assets/check.html?page={path}"));
        // (A dump taken before the frame loaded says "pending": taken again.)
        let mut json = String::from("pending");
        for _ in 0..5 {
            let out = headless(&browser, profile.path())
                .args(["--window-size=800,900", "--virtual-time-budget=15000", "--dump-dom"])
                .arg(&check)
                .output()
                .unwrap();
            let dom = String::from_utf8_lossy(&out.stdout);
            json = dom
                .split("<pre id=\"result\">")
                .nth(1)
                .and_then(|r| r.split("</pre>").next())
                .unwrap_or_else(|| panic!("{name}: no result\n{dom}\n{}", String::from_utf8_lossy(&out.stderr)))
                .to_string();
            if json != "pending" {
                break;
            }
        }
        let result: serde_json::Value = serde_json::from_str(&json.replace("&quot;", "\"").replace("&amp;", "&"))
            .unwrap_or_else(|e| panic!("{name}: {e}: {json}"));
        assert_eq!(result["h1"], 1, "{name}: one h1: {result}");
        assert_eq!(result["lang"], "fr", "{name}: {result}");
        assert_eq!(
            result["broken"],
            serde_json::json!([]),
            "{name}: broken pictures: {result}"
        );
        assert!(
            result["scroll_width"].as_u64() <= result["width"].as_u64(),
            "{name}: wider than a phone: {result}"
        );
        if *name == "front" {
            assert_eq!(result["lead"], true, "{result}");
            assert!(result["images"].as_u64().unwrap() >= 3, "the demo's pictures: {result}");
        }
        // A screenshot at a phone's size, for a person to look at.
        let shot = shots.join(format!("{name}.png"));
        let _ = std::fs::remove_file(&shot);
        let out = headless(&browser, profile.path())
            .args(["--window-size=390,1600", "--virtual-time-budget=5000"])
            .arg(format!("--screenshot={}", shot.display()))
            .arg(serve.url(path))
            .output()
            .unwrap();
        assert!(
            shot.exists(),
            "{name}: no screenshot: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // A feed opened in the browser (a top-level navigation: not in a
    // frame) is a page that says how to subscribe, with the stories.
    let feed = serve.url("/sections/culture/rss.xml");
    let out = headless(&browser, profile.path())
        .args(["--window-size=390,1600", "--virtual-time-budget=5000", "--dump-dom"])
        .arg(&feed)
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(dom.contains("<h1>RSS de Culture</h1>"), "{dom}");
    assert!(dom.contains(&format!("<code>{feed}</code>")), "{dom}");
    assert!(dom.contains("Hommage à Brassens"), "{dom}");
    let shot = shots.join("feed.png");
    let _ = std::fs::remove_file(&shot);
    headless(&browser, profile.path())
        .args(["--window-size=390,1600", "--virtual-time-budget=5000"])
        .arg(format!("--screenshot={}", shot.display()))
        .arg(&feed)
        .output()
        .unwrap();
    assert!(shot.exists(), "feed: no screenshot");
    // A feed reader still gets the feed.
    assert!(get(&feed).text().starts_with("<?xml"));
}
