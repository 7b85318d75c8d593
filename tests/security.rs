//! What an attacker (a hostile feed, a hostile client) or a careless
//! configuration could make thau leak or suffer, through the real binary.

mod support;

use support::{Origin, Route, Site, get, wait_for};

/// A source URL with a password and an API key: fetched with them, never
/// published, shown or logged.
#[test]
fn credentials_in_a_source_url_are_used_but_never_shown() {
    let origin = Origin::start();
    let rss = r#"<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Privé</title>
        <item><title>Conseil</title><link>/actus/conseil</link><guid isPermaLink="false">c1</guid>
        <description>&lt;a href="ordre-du-jour.pdf"&gt;ordre du jour&lt;/a&gt;</description></item></channel></rss>"#;
    origin.route("/private.xml?apikey=TOPSECRET&lang=fr", Route::feed(rss, "application/rss+xml"));
    let url = origin.url("/private.xml?apikey=TOPSECRET&lang=fr").replace("http://", "http://alice:S3cret@");
    let site = Site::new(&format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[[sections]]\nslug = \"prive\"\ntitle = \"Privé\"\n\
         [[sources]]\nname = \"prive\"\nurl = \"{url}\"\nsections = [\"prive\"]\n"
    ));
    let serve = site.serve_logged();
    let rss_url = serve.url("/sections/prive/rss.xml");
    wait_for("the story", || get(&rss_url).text().contains("Conseil"));

    let seen = &origin.requests("/private.xml?apikey=TOPSECRET&lang=fr")[0];
    // "alice:S3cret" in base64: reqwest sends the URL's credentials.
    assert_eq!(seen.headers.get("authorization").map(String::as_str), Some("Basic YWxpY2U6UzNjcmV0"));

    let rss = get(&rss_url).text();
    let mut shown = String::new();
    for path in ["/sections/prive/rss.xml", "/sections/prive/atom.xml", "/sections/prive/feed.json", "/", "/api/sources"] {
        shown.push_str(&get(&serve.url(path)).text());
    }
    let check = site.thau(&["check"]);
    shown.push_str(&check.stdout());
    drop(serve);
    shown.push_str(&site.log());
    for secret in ["S3cret", "TOPSECRET", "alice"] {
        assert!(!shown.contains(secret), "{secret} shown:\n{shown}");
    }
    // The redacted form says where the feed is, and relative links were
    // resolved without the credentials.
    assert!(shown.contains("apikey=***&amp;lang=fr") || shown.contains("apikey=***&lang=fr"), "{shown}");
    assert!(rss.contains(&format!("<link>{}/actus/conseil</link>", origin.base)), "{rss}");
    assert!(rss.contains(&format!("\"{}/actus/ordre-du-jour.pdf\"", origin.base)), "{rss}");
}
