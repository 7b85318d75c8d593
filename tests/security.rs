//! What an attacker (a hostile feed, a hostile client) or a careless
//! configuration could make thau leak or suffer, through the real binary.

mod support;

use std::sync::Arc;

use support::{Origin, Route, Site, get, http, wait_for};

/// A source URL with a password and an API key: fetched with them, never
/// published, shown or logged.
#[test]
fn credentials_in_a_source_url_are_used_but_never_shown() {
    let origin = Origin::start();
    let rss = r#"<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Privé</title>
        <item><title>Conseil</title><link>/actus/conseil</link><guid isPermaLink="false">c1</guid>
        <description>&lt;a href="ordre-du-jour.pdf"&gt;ordre du jour&lt;/a&gt;</description></item></channel></rss>"#;
    origin.route(
        "/private.xml?apikey=TOPSECRET&lang=fr",
        Route::feed(rss, "application/rss+xml"),
    );
    let url = origin
        .url("/private.xml?apikey=TOPSECRET&lang=fr")
        .replace("http://", "http://alice:S3cret@");
    let site = Site::new(&format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[[sections]]\nslug = \"prive\"\ntitle = \"Privé\"\n\
         [[sources]]\nname = \"prive\"\nurl = \"{url}\"\nsections = [\"prive\"]\n"
    ));
    let serve = site.serve_logged();
    let rss_url = serve.url("/sections/prive/rss.xml");
    wait_for("the story", || get(&rss_url).text().contains("Conseil"));

    let seen = &origin.requests("/private.xml?apikey=TOPSECRET&lang=fr")[0];
    // "alice:S3cret" in base64: reqwest sends the URL's credentials.
    assert_eq!(
        seen.headers.get("authorization").map(String::as_str),
        Some("Basic YWxpY2U6UzNjcmV0")
    );

    let rss = get(&rss_url).text();
    let mut shown = String::new();
    for path in [
        "/sections/prive/rss.xml",
        "/sections/prive/atom.xml",
        "/sections/prive/feed.json",
        "/",
        "/api/sources",
    ] {
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
    assert!(
        shown.contains("apikey=***&amp;lang=fr") || shown.contains("apikey=***&lang=fr"),
        "{shown}"
    );
    assert!(
        rss.contains(&format!("<link>{}/actus/conseil</link>", origin.base)),
        "{rss}"
    );
    assert!(
        rss.contains(&format!("\"{}/actus/ordre-du-jour.pdf\"", origin.base)),
        "{rss}"
    );
}

/// An Atom feed whose xml:base is `javascript:` or `data:` used to smuggle
/// that scheme into sanitized HTML (`href="javascript:alert(document.domain)//#top"`),
/// and author URIs were republished as written.
#[test]
fn hostile_bases_and_uris_never_reach_a_published_feed() {
    let origin = Origin::start();
    let atom = r##"<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Piège</title><id>urn:trap</id><updated>2026-11-20T10:00:00Z</updated>
 <entry xml:base="javascript:alert(document.domain)//"><id>urn:trap:1</id><title>Un</title><updated>2026-11-20T10:00:00Z</updated>
  <author><name>Mallory</name><uri>javascript:alert(2)</uri></author>
  <link rel="enclosure" href="javascript:alert(3)" type="audio/mpeg"/>
  <content type="html">&lt;a href="#top"&gt;haut&lt;/a&gt; &lt;img src="x.png"&gt;</content></entry>
 <entry xml:base="data:text/html,&lt;script&gt;alert(4)&lt;/script&gt;"><id>urn:trap:2</id><title>Deux</title><updated>2026-11-20T10:00:00Z</updated>
  <content type="html">&lt;a href="page.html"&gt;page&lt;/a&gt;</content></entry>
 <entry xml:base="javascript://%0aalert(5)"><id>urn:trap:3</id><title>Trois</title><updated>2026-11-20T10:00:00Z</updated>
  <author><name>Eve</name><uri>mailto:eve@example.org</uri></author>
  <content type="html">&lt;img src="/i.png"&gt;</content></entry>
</feed>"##;
    origin.route("/trap.atom", Route::feed(atom, "application/atom+xml"));
    let site = Site::new(&format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[[sections]]\nslug = \"trap\"\ntitle = \"Piège\"\n\
         [[sources]]\nname = \"trap\"\nurl = \"{}\"\nsections = [\"trap\"]\n",
        origin.url("/trap.atom")
    ));
    let serve = site.serve();
    wait_for("the entries", || {
        get(&serve.url("/sections/trap/rss.xml")).text().contains("Trois")
    });
    for format in ["rss.xml", "atom.xml", "feed.json"] {
        let body = get(&serve.url(&format!("/sections/trap/{format}"))).text();
        for bad in ["javascript:", "data:", "alert("] {
            assert!(!body.contains(bad), "{format} carries {bad}:\n{body}");
        }
        // Relative links resolve against the document instead.
        assert!(body.contains(&origin.url("/x.png")), "{format}: {body}");
        if format != "rss.xml" {
            // (RSS's dc:creator names authors without their address.)
            assert!(
                body.contains("mailto:eve@example.org"),
                "{format} keeps a mailto author: {body}"
            );
        }
    }
}

/// Peak resident memory of a command, when GNU time is there to say it.
fn peak_mib(cmd: std::process::Command) -> Option<(support::Run, u64)> {
    if !std::path::Path::new("/usr/bin/time").exists() {
        eprintln!("SKIPPED: peak memory not measured (no /usr/bin/time; apt-get install time)");
        return None;
    }
    let report = tempfile::NamedTempFile::new().unwrap();
    let mut timed = std::process::Command::new("/usr/bin/time");
    timed
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(report.path())
        .arg(cmd.get_program())
        .args(cmd.get_args());
    if let Some(dir) = cmd.get_current_dir() {
        timed.current_dir(dir);
    }
    let run = support::Run(timed.output().unwrap());
    let said = std::fs::read_to_string(report.path()).unwrap();
    let kib: u64 = said.lines().last().unwrap_or_default().trim().parse().unwrap();
    Some((run, kib / 1024))
}

/// A 10 MB feed of 330,000 two-word items took `thau poll` to 3.8 GB (a
/// JSON Feed of 500,000: 5.9 GB) and added half a gigabyte to the store.
/// One poll now takes the newest `max_entries_per_poll` and says so.
#[test]
fn a_feed_of_hundreds_of_thousands_of_items_is_capped_and_memory_stays_bounded() {
    let origin = Origin::start();
    let mut rss = String::from("<rss version=\"2.0\"><channel><title>big</title><link>https://x.example/</link>");
    for i in 0..330_000 {
        rss.push_str(&format!("<item><guid>{i}</guid></item>"));
    }
    rss.push_str("</channel></rss>");
    // Sent as is: the test origin would compress a Route::feed per request.
    let plain = |body: String, kind: &str| Route::Status {
        code: 200,
        headers: vec![("Content-Type".into(), kind.into())],
        body: body.into_bytes(),
    };
    origin.route("/big.xml", plain(rss, "application/rss+xml"));
    let items: Vec<String> = (0..500_000).map(|i| format!("{{\"id\":\"{i}\"}}")).collect();
    let json = format!(
        "{{\"version\":\"https://jsonfeed.org/version/1.1\",\"title\":\"big\",\"items\":[{}]}}",
        items.join(",")
    );
    origin.route("/big.json", plain(json, "application/feed+json"));
    // RSS 1.0 items under a prefix passed the cap uncounted (300,000
    // stored, 4.8 GB peak; here 200,000 under the body cap): items are what the parser reads, any spelling.
    let mut rdf = String::from(
        "<?xml version=\"1.0\"?><rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\" \
         xmlns:r=\"http://purl.org/rss/1.0/\"><r:channel rdf:about=\"https://x.example/\"><r:title>big</r:title>\
         <r:link>https://x.example/</r:link></r:channel>",
    );
    for i in 0..200_000 {
        rdf.push_str(&format!("<r:item><r:title>{i}</r:title></r:item>"));
    }
    rdf.push_str("</rdf:RDF>");
    origin.route("/big.rdf", plain(rdf, "application/rdf+xml"));
    let site = Site::new(&format!(
        "[poll]\ntimeout = \"60s\"\nmax_entries_per_poll = 3000\n\
         [[sources]]\nname = \"rss\"\nurl = \"{}\"\n[[sources]]\nname = \"json\"\nurl = \"{}\"\n\
         [[sources]]\nname = \"rdf\"\nurl = \"{}\"\n",
        origin.url("/big.xml"),
        origin.url("/big.json"),
        origin.url("/big.rdf")
    ));
    let run = match peak_mib(site.command(&["poll"])) {
        Some((run, mib)) => {
            assert!(mib <= 256, "thau poll peaked at {mib} MiB");
            run
        }
        None => site.thau(&["poll"]),
    };
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    assert_eq!(
        run.line("rss").1,
        "3000 new, 0 updated, 0 unchanged (330000 in feed); the 327000 oldest not taken (max_entries_per_poll)"
    );
    assert_eq!(
        run.line("json").1,
        "3000 new, 0 updated, 0 unchanged (500000 in feed); the 497000 oldest not taken (max_entries_per_poll)"
    );
    assert_eq!(
        run.line("rdf").1,
        "3000 new, 0 updated, 0 unchanged (200000 in feed); the 197000 oldest not taken (max_entries_per_poll)"
    );
    assert_eq!(site.entries().len(), 9000);
}

/// One entry of deeply nested HTML made html5ever work quadratically: 40,000
/// nested <div>s took seconds to poll, 500,000 more than ten minutes, and
/// `feed.json?limit=` re-rendered it on the serving threads until /healthz
/// timed out. Nesting is now bounded before any HTML parser sees it, and
/// variants render off the serving threads.
#[test]
fn deeply_nested_html_costs_linear_time_and_never_blocks_serving() {
    let origin = Origin::start();
    let deep = format!("{}profond{}", "<div>".repeat(200_000), "</div>".repeat(200_000));
    let escaped = deep.replace('<', "&lt;").replace('>', "&gt;");
    let mut rss = String::from("<rss version=\"2.0\"><channel><title>n</title>");
    rss.push_str(&format!(
        "<item><guid>deep</guid><title>Profond</title><description>{escaped}</description></item>"
    ));
    for i in 0..60 {
        rss.push_str(&format!("<item><guid>g{i}</guid><title>Brève {i}</title><description>&lt;p&gt;texte {i}&lt;/p&gt;</description></item>"));
    }
    rss.push_str("</channel></rss>");
    origin.route(
        "/deep.xml",
        Route::Status {
            code: 200,
            headers: vec![("Content-Type".into(), "application/rss+xml".into())],
            body: rss.into_bytes(),
        },
    );
    let site = Site::new(&format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[poll]\nmax_body = \"20MiB\"\nmax_entry_size = \"20MiB\"\n[[sections]]\nslug = \"n\"\ntitle = \"N\"\n\
         [[sources]]\nname = \"deep\"\nurl = \"{}\"\nsections = [\"n\"]\n",
        origin.url("/deep.xml")
    ));
    let run = site.thau_within(&["poll"], std::time::Duration::from_secs(60));
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    let entry = site.entries().into_iter().find(|e| e.title == "Profond").unwrap();
    let html = entry.summary.unwrap();
    assert!(
        html.contains("profond") && html.matches("<div>").count() <= 100,
        "{} divs",
        html.matches("<div>").count()
    );

    let serve = site.serve();
    let variants: Vec<_> = (0..4)
        .map(|n| {
            let url = serve.url(&format!("/sections/n/feed.json?limit={}", 10 + n));
            std::thread::spawn(move || get(&url))
        })
        .collect();
    let health = get(&serve.url("/healthz"));
    assert_eq!(health.status, 200);
    for v in variants {
        let v = v.join().unwrap();
        assert_eq!(v.status, 200);
        assert!(serde_json::from_slice::<serde_json::Value>(&v.body).is_ok());
    }
}

/// With a low descriptor limit, idle client connections used to take every
/// descriptor: the next store write hung in sled's flush, no later poll
/// ran, and SIGTERM no longer stopped thau. Connections are now capped
/// below the limit, polls go on, and thau stops on SIGTERM.
#[test]
fn idle_connections_cannot_starve_the_store_or_stop_shutdown() {
    let origin = Origin::start();
    let feed = |items: &[&str]| {
        let mut rss = String::from("<rss version=\"2.0\"><channel><title>m</title>");
        for i in items {
            rss.push_str(&format!(
                "<item><guid>https://m.example/{i}</guid><title>{i}</title></item>"
            ));
        }
        rss.push_str("</channel></rss>");
        Route::feed(rss, "application/rss+xml")
    };
    origin.route("/m.xml", feed(&["un"]));
    let site = Site::new(&format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[poll]\nschedule = \"* * * * * *\"\n\
         [[sources]]\nname = \"m\"\nurl = \"{}\"\n",
        origin.url("/m.xml")
    ));
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg(format!(
            "ulimit -n 200 && exec {} --config {} serve",
            env!("CARGO_BIN_EXE_thau"),
            site.config_path().display()
        ))
        .current_dir(site.dir.path());
    let serve = support::Serve::start(cmd);
    wait_for("the first poll", || !origin.requests("/m.xml").is_empty());
    let addr = serve.base.trim_start_matches("http://").to_string();
    let idle: Vec<std::net::TcpStream> = (0..400)
        .filter_map(|_| std::net::TcpStream::connect(&addr).ok())
        .collect();
    assert!(idle.len() >= 300, "{} connections opened", idle.len());
    // A monitor's /healthz is answered while they idle (it waited for
    // their 30 s header timeout): idle connections close when few are
    // left, and a reserve serves one request each.
    let asked = std::time::Instant::now();
    let health = get(&serve.url("/healthz"));
    assert_eq!(health.status, 200);
    assert!(
        asked.elapsed() < std::time::Duration::from_secs(10),
        "/healthz took {:?}",
        asked.elapsed()
    );
    origin.route("/m.xml", feed(&["un", "deux"]));
    let polled = origin.requests("/m.xml").len();
    wait_for("two more polls", || origin.requests("/m.xml").len() >= polled + 2);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let status = serve.terminate();
    assert!(status.success(), "{status:?}");
    drop(idle);
    let titles: Vec<String> = site.entries().into_iter().map(|e| e.title).collect();
    assert!(titles.contains(&"deux".to_string()), "{titles:?}");
}

/// After a full disk every poll used to fail until a restart (sled keeps
/// failing after one I/O error), while `/healthz` said ok. thau now says
/// so (503, the error, the failing sources), reopens the store every few
/// seconds, and recovers on its own once there is room again.
#[test]
fn a_full_disk_is_reported_by_healthz_and_recovered_from_without_a_restart() {
    struct Mount(std::path::PathBuf);
    impl Drop for Mount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
    let site = Site::new("");
    let store_dir = site.dir.path().join("data");
    std::fs::create_dir_all(&store_dir).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
        .arg(&store_dir)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("SKIPPED: cannot mount a small tmpfs here (needs root)");
        return;
    }
    let _mount = Mount(store_dir.clone());
    let mut config = String::from("[server]\nlisten = \"127.0.0.1:0\"\n[poll]\nschedule = \"* * * * * *\"\n");
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
    // (Not waiting for the site: its first rendering waits for the first
    // polls, which fill the disk.)
    let serve = support::Serve::spawn(site.command(&["serve"]));
    let health = serve.url("/healthz");
    let until = |what: &str, secs: u64, mut done: Box<dyn FnMut() -> bool + '_>| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        while !done() {
            assert!(std::time::Instant::now() < deadline, "gave up waiting for {what}");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };
    // The store says so at its first failed write (a poll's, or the
    // publisher's); the polls that failed are counted as they end.
    until(
        "the disk to fill and a poll to fail",
        60,
        Box::new(|| {
            let r = get(&health);
            r.status == 503
                && serde_json::from_slice::<serde_json::Value>(&r.body)
                    .is_ok_and(|h| h["failing_sources"].as_u64().is_some_and(|n| n > 0))
        }),
    );
    let said: serde_json::Value = serde_json::from_slice(&get(&health).body).unwrap();
    assert_eq!(said["status"], "store-not-writable", "{said:#}");
    assert_eq!(said["store"]["writable"], false);
    assert!(
        said["store"]["error"]
            .as_str()
            .unwrap()
            .contains("No space left on device"),
        "{said:#}"
    );
    assert!(said["failing_sources"].as_u64().unwrap() > 0, "{said:#}");
    assert!(
        get(&serve.url("/status"))
            .text()
            .contains("The store cannot be written")
    );

    std::process::Command::new("mount")
        .args(["-o", "remount,size=64m"])
        .arg(&store_dir)
        .status()
        .unwrap();
    until("health to come back", 60, Box::new(|| get(&health).status == 200));
    until(
        "the site to be rendered once the disk has room",
        60,
        Box::new(|| serde_json::from_slice::<serde_json::Value>(&get(&health).body).is_ok_and(|h| h["ready"] == true)),
    );
    let stored = || {
        let api: serde_json::Value = serde_json::from_slice(&get(&serve.url("/api/sources")).body).unwrap();
        let short: Vec<String> = api["sources"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["entries"] != 40)
            .map(|s| {
                format!(
                    "{} {} {} {}",
                    s["name"], s["entries"], s["last_outcome"], s["last_error"]
                )
            })
            .collect();
        short
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !stored().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "sources not stored: {:?}",
            stored()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // A poll is counted a success once it is recorded, a moment after its
    // entries are stored: no source stays failing.
    let failing = || serde_json::from_slice::<serde_json::Value>(&get(&health).body).unwrap();
    while failing()["failing_sources"] != 0 {
        assert!(std::time::Instant::now() < deadline, "{:#}", failing());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(serve.terminate().success());
}

/// A public origin could redirect thau to an internal address and have an
/// internal page ingested and republished. (Here 127.0.0.2 plays the
/// internal network and 127.0.0.1 the public internet.)
#[test]
fn a_public_source_cannot_redirect_to_an_internal_address() {
    let public = Origin::start_on("127.0.0.1");
    let internal = Origin::start_on("127.0.0.2");
    let secret = "<rss version=\"2.0\"><channel><title>intranet</title><item><guid>s1</guid><title>Salaires</title></item></channel></rss>";
    internal.route("/secret.xml", Route::feed(secret, "application/rss+xml"));
    public.route(
        "/moved.xml",
        Route::Redirect {
            code: 302,
            location: internal.url("/secret.xml"),
        },
    );
    let site = Site::new(&format!(
        "[poll]\ninternal_networks = [\"127.0.0.2/32\"]\n\
         [[sources]]\nname = \"public\"\nurl = \"{}\"\n\
         [[sources]]\nname = \"intranet\"\nurl = \"{}\"\n",
        public.url("/moved.xml"),
        internal.url("/secret.xml")
    ));
    let run = site.thau(&["poll"]);
    let (outcome, detail) = run.line("public");
    assert_eq!(outcome, "error");
    assert!(
        detail.starts_with("refused a redirect from a public address to an internal one"),
        "{detail}"
    );
    // An admin may still configure an internal source directly.
    assert_eq!(run.line("intranet").0, "new");
    assert_eq!(
        internal.requests("/secret.xml").len(),
        1,
        "only the configured source fetched it"
    );
}

/// `timeout` applied to each request, so a chain of slow redirects took up
/// to six times it. It now bounds the whole fetch.
#[test]
fn timeout_bounds_a_whole_chain_of_redirects() {
    let origin = Origin::start();
    let feed =
        "<rss version=\"2.0\"><channel><title>t</title><item><guid>a</guid><title>A</title></item></channel></rss>";
    origin.route("/end.xml", Route::feed(feed, "application/rss+xml"));
    for hop in 0..4 {
        let next = if hop == 3 {
            "/end.xml".to_string()
        } else {
            format!("/hop{}", hop + 1)
        };
        let redirect = Route::Redirect {
            code: 302,
            location: origin.url(&next),
        };
        origin.route(
            &format!("/hop{hop}"),
            Route::Delayed(std::time::Duration::from_millis(700), Box::new(redirect)),
        );
    }
    let site = Site::new(&format!(
        "[poll]\ntimeout = \"2s\"\n[[sources]]\nname = \"slow\"\nurl = \"{}\"\n",
        origin.url("/hop0")
    ));
    let run = site.thau(&["poll"]);
    assert_eq!(
        run.line("slow"),
        ("error".to_string(), "timed out after 2s".to_string())
    );
}

// ---------------------------------------------------------------------
// One outgoing-request policy. In these tests 127.0.0.1 plays the public
// internet, and 127.0.0.2 and ::1 the internal network.

const INTERNAL_NETWORKS: &str = "internal_networks = [\"127.0.0.2/32\", \"::1/128\"]";

/// Two internal origins (127.0.0.2 and ::1) and every spelling of their
/// addresses a feed could use, as base URLs.
struct Internal {
    v4: Origin,
    v6: Origin,
}

impl Internal {
    fn start() -> Internal {
        let internal = Internal {
            v4: Origin::start_on("127.0.0.2"),
            v6: Origin::start_on("::1"),
        };
        let page = "<!DOCTYPE html><html><head><title>Intranet</title></head><body><article><h1>Salaires</h1>\
            <p>Grille des salaires du personnel, confidentiel, ne pas diffuser. Grille des salaires du personnel, \
            confidentiel, ne pas diffuser. Grille des salaires du personnel, confidentiel, ne pas diffuser.</p>\
            </article></body></html>";
        for origin in [&internal.v4, &internal.v6] {
            for i in 0..8 {
                origin.route(&format!("/secret/{i}"), Route::feed(page, "text/html"));
            }
        }
        internal
    }

    /// `http://127.0.0.2:P`, `http://2130706434:P` (the same, in decimal),
    /// `http://[::ffff:127.0.0.2]:P` (IPv4-mapped), `http://[::127.0.0.2]:P`
    /// (IPv4-compatible), `http://[64:ff9b::7f00:2]:P` (NAT64) and
    /// `http://[::1]:Q`.
    fn spellings(&self) -> Vec<String> {
        let (p4, p6) = (self.v4.port(), self.v6.port());
        vec![
            format!("http://127.0.0.2:{p4}"),
            format!("http://2130706434:{p4}"),
            format!("http://[::ffff:127.0.0.2]:{p4}"),
            format!("http://[::127.0.0.2]:{p4}"),
            format!("http://[64:ff9b::7f00:2]:{p4}"),
            format!("http://[::1]:{p6}"),
        ]
    }

    /// Requests the internal network saw.
    fn seen(&self) -> Vec<String> {
        let mut seen: Vec<String> = self.v4.all_requests().into_iter().map(|s| s.path).collect();
        seen.extend(self.v6.all_requests().into_iter().map(|s| s.path));
        seen
    }
}

/// `full_text` fetched an article link however internal, and published its
/// text: the client was chosen by the article's own address.
#[test]
fn full_text_never_fetches_an_internal_page_whatever_its_spelling() {
    let public = Origin::start();
    let internal = Internal::start();
    let mut items = String::new();
    for (i, base) in internal.spellings().iter().enumerate() {
        items.push_str(&format!(
            "<item><title>Teaser {i}</title><link>{base}/secret/{i}</link><description>Début {i}…</description></item>\n"
        ));
    }
    // A public article, so that the test sees full text work at all.
    let article = "<!DOCTYPE html><html><head><title>Quai</title></head><body><article><h1>Le quai</h1>\
        <p>Les travaux du quai se sont achevés cette semaine après huit mois de chantier, et les pêcheurs \
        retrouvent leurs amarrages le long de l'étang de Thau.</p><p>Les promeneurs ont une esplanade.</p>\
        </article></body></html>";
    public.route("/article", Route::feed(article, "text/html"));
    items.push_str(&format!(
        "<item><title>Public</title><link>{}</link><description>Début…</description></item>\n",
        public.url("/article")
    ));
    let feed = format!("<rss version=\"2.0\"><channel><title>Public</title>{items}</channel></rss>");
    public.route("/rss.xml", Route::feed(feed, "application/rss+xml"));
    let site = Site::new(&format!(
        "[poll]\n{INTERNAL_NETWORKS}\n[[sections]]\nslug = \"tout\"\ntitle = \"Tout\"\n\
         [[sources]]\nname = \"public\"\nurl = \"{}\"\nsections = [\"tout\"]\nfull_text = true\n",
        public.url("/rss.xml")
    ));
    let run = site.thau(&["poll"]);
    assert_eq!(run.line("public").0, "new", "{}", run.stdout());
    assert_eq!(
        internal.seen(),
        Vec::<String>::new(),
        "the internal network was reached"
    );
    assert_eq!(public.requests("/article").len(), 1, "a public article is fetched");
    let entries = site.entries();
    for e in &entries {
        let text = format!("{:?}", e);
        assert!(!text.contains("Salaires") && !text.contains("confidentiel"), "{text}");
    }
    let public_entry = entries.iter().find(|e| e.title == "Public").unwrap();
    assert!(public_entry.content.as_deref().unwrap_or("").contains("huit mois"));
    let state = site.store().fetch_state("public").unwrap().unwrap();
    assert_eq!(state.full_text_failures, 6, "{state:?}");
    assert!(
        state
            .last_full_text_error
            .as_deref()
            .unwrap_or("")
            .contains("internal address"),
        "{state:?}"
    );
}

/// A public source that redirects to an internal address, however it is
/// spelled, is refused.
#[test]
fn a_redirect_to_any_spelling_of_an_internal_address_is_refused() {
    let public = Origin::start();
    let internal = Internal::start();
    let mut config = format!("[poll]\n{INTERNAL_NETWORKS}\n");
    for (i, base) in internal.spellings().iter().enumerate() {
        public.route(
            &format!("/moved/{i}"),
            Route::Redirect {
                code: 301,
                location: format!("{base}/secret/{i}"),
            },
        );
        config.push_str(&format!(
            "[[sources]]\nname = \"s{i}\"\nurl = \"{}\"\n",
            public.url(&format!("/moved/{i}"))
        ));
    }
    let site = Site::new(&config);
    let run = site.thau(&["poll"]);
    for i in 0..internal.spellings().len() {
        let (outcome, detail) = run.line(&format!("s{i}"));
        assert_eq!(outcome, "error", "s{i}: {detail}");
        assert!(detail.starts_with("refused a redirect"), "s{i}: {detail}");
    }
    assert_eq!(internal.seen(), Vec::<String>::new());
}

/// A feed that names an internal hub made thau POST a subscription (with
/// its secret) there.
#[test]
fn a_feed_cannot_make_thau_subscribe_at_an_internal_hub() {
    let public = Origin::start();
    let internal = Internal::start();
    let mut bases = internal.spellings();
    // A public hub, so that the test sees subscribing work at all.
    bases.push(public.base.clone());
    public.route("/hub", Route::status(202, &[]));
    let mut config = format!("[server]\nlisten = \"127.0.0.1:0\"\n[poll]\n{INTERNAL_NETWORKS}\njitter = \"0s\"\n");
    for (i, base) in bases.iter().enumerate() {
        let feed = format!(
            "<?xml version=\"1.0\"?><rss version=\"2.0\" xmlns:atom=\"http://www.w3.org/2005/Atom\"><channel><title>t{i}</title>\
             <atom:link rel=\"hub\" href=\"{base}/hub\"/><atom:link rel=\"self\" href=\"{}\"/>\
             <item><guid>g{i}</guid><title>T{i}</title></item></channel></rss>",
            public.url(&format!("/feed/{i}"))
        );
        public.route(&format!("/feed/{i}"), Route::feed(feed, "application/rss+xml"));
        config.push_str(&format!(
            "[[sources]]\nname = \"s{i}\"\nurl = \"{}\"\nwebsub = true\n",
            public.url(&format!("/feed/{i}"))
        ));
    }
    let site = Site::new(&config);
    let serve = site.serve_logged();
    wait_for("the public hub asked", || !public.requests("/hub").is_empty());
    wait_for("every internal hub refused", || {
        site.log().matches("websub: not subscribing").count() == bases.len() - 1
    });
    drop(serve);
    assert_eq!(internal.seen(), Vec::<String>::new());
    assert!(site.log().contains("internal address"), "{}", site.log());
}

/// `thau add` on a page fetched the alternates it announced even on
/// internal hosts, and every one of 20,000 of them.
#[test]
fn discovery_tries_a_few_public_alternates_only() {
    let public = Origin::start();
    let internal = Internal::start();
    let mut links: String = internal
        .spellings()
        .iter()
        .map(|b| format!("<link rel=\"alternate\" type=\"application/rss+xml\" href=\"{b}/secret/0\">\n"))
        .collect();
    for i in 0..20_000 {
        links.push_str(&format!(
            "<link rel=\"alternate\" type=\"application/rss+xml\" href=\"/alt/{i}.xml\">\n"
        ));
    }
    let page = format!("<!DOCTYPE html><html><head><title>Mairie</title>{links}</head><body>Bonjour</body></html>");
    // (Not compressed: the test origin's brotli is slow on a megabyte.)
    public.route(
        "/page",
        Route::Status {
            code: 200,
            headers: vec![("Content-Type".into(), "text/html".into())],
            body: page.into_bytes(),
        },
    );
    public.route(
        "/alt/0.xml",
        Route::feed(
            "<rss version=\"2.0\"><channel><title>Actualités</title><item><guid>a</guid><title>A</title></item></channel></rss>",
            "application/rss+xml",
        ),
    );
    let site = Site::new(&format!("[poll]\n{INTERNAL_NETWORKS}\n"));
    let run = site.thau(&["add", &public.url("/page")]);
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    assert!(run.stdout().contains(&public.url("/alt/0.xml")), "{}", run.stdout());
    assert_eq!(internal.seen(), Vec::<String>::new());
    let alternates = public
        .all_requests()
        .iter()
        .filter(|s| s.path.starts_with("/alt/"))
        .count();
    assert!(alternates <= 8, "{alternates} alternates fetched");

    // Polled, such a page costs one short error.
    let site = Site::new(&format!(
        "[poll]\n{INTERNAL_NETWORKS}\n[[sources]]\nname = \"page\"\nurl = \"{}\"\n",
        public.url("/page")
    ));
    let run = site.thau(&["poll"]);
    let (outcome, detail) = run.line("page");
    assert_eq!(outcome, "error");
    assert!(detail.len() < 2_000, "{} bytes of error", detail.len());
}

/// Credentials followed a redirect to another port of the same host.
#[test]
fn credentials_never_follow_a_redirect_to_another_origin() {
    let first = Origin::start();
    let other_port = Origin::start();
    let feed =
        "<rss version=\"2.0\"><channel><title>t</title><item><guid>a</guid><title>A</title></item></channel></rss>";
    other_port.route("/feed.xml", Route::feed(feed, "application/rss+xml"));
    first.route("/feed.xml", Route::feed(feed, "application/rss+xml"));
    first.route(
        "/elsewhere",
        Route::Redirect {
            code: 302,
            location: other_port.url("/feed.xml"),
        },
    );
    first.route(
        "/here",
        Route::Redirect {
            code: 302,
            location: "/feed.xml".into(),
        },
    );
    let with_user = |path: &str| first.url(path).replace("http://", "http://alice:S3cret@");
    let site = Site::new(&format!(
        "[[sources]]\nname = \"away\"\nurl = \"{}\"\nauth = {{ bearer = \"T0KEN\" }}\nheaders = {{ X-Api-Key = \"K3Y\" }}\n\
         [[sources]]\nname = \"user\"\nurl = \"{}\"\n\
         [[sources]]\nname = \"home\"\nurl = \"{}\"\nheaders = {{ X-Api-Key = \"K3Y\" }}\n",
        first.url("/elsewhere"),
        with_user("/elsewhere"),
        first.url("/here"),
    ));
    let run = site.thau(&["poll"]);
    assert_eq!(run.code(), 0, "{}", run.stdout());
    let reached = other_port.requests("/feed.xml");
    assert_eq!(reached.len(), 2);
    for seen in &reached {
        assert_eq!(seen.headers.get("authorization"), None, "{seen:?}");
        assert_eq!(seen.headers.get("x-api-key"), None, "{seen:?}");
    }
    // On the same origin they are sent (the test can fail).
    let home = first.requests("/feed.xml");
    assert_eq!(home.len(), 1);
    assert_eq!(home[0].headers.get("x-api-key").map(String::as_str), Some("K3Y"));
}

/// `thau sources --opml` printed `user:pass@` and `?apikey=`, and `thau
/// import` echoed the credentials of the OPML's URLs.
#[test]
fn opml_out_and_in_never_show_credentials() {
    let site =
        Site::new("[[sources]]\nname = \"prive\"\nurl = \"https://alice:S3cret@feeds.example/rss?apikey=TOPSECRET\"\n");
    let opml = site.thau(&["sources", "--opml"]);
    assert_eq!(opml.code(), 0);
    for secret in ["S3cret", "TOPSECRET", "alice"] {
        assert!(!opml.stdout().contains(secret), "{}", opml.stdout());
    }
    assert!(
        opml.stdout().contains("feeds.example/rss?apikey=***"),
        "{}",
        opml.stdout()
    );

    let list = site.dir.path().join("in.opml");
    std::fs::write(
        &list,
        "<opml version=\"2.0\"><body><outline text=\"Autre\" xmlUrl=\"https://bob:Pa55@other.example/feed?token=T0K\"/>\
         <outline text=\"Prive\" xmlUrl=\"https://alice:S3cret@feeds.example/rss?apikey=TOPSECRET\"/></body></opml>",
    )
    .unwrap();
    let run = site.thau(&["import", list.to_str().unwrap()]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let shown = run.stdout() + &run.stderr();
    for secret in ["Pa55", "T0K", "bob", "S3cret", "TOPSECRET"] {
        assert!(!shown.contains(secret), "{shown}");
    }
    assert!(shown.contains("other.example/feed?token=***"), "{shown}");
    // What the admin imported is written as given.
    let written = std::fs::read_to_string(site.config_path()).unwrap();
    assert!(
        written.contains("https://bob:Pa55@other.example/feed?token=T0K"),
        "{written}"
    );
}

/// With `[server] status = "private"`, exports still wrote status.html,
/// and /metrics and /healthz named sources and their outcomes.
#[test]
fn a_private_status_is_private_on_every_route() {
    let origin = Origin::start();
    origin.route("/down.xml", Route::status(503, &[]));
    let feed =
        "<rss version=\"2.0\"><channel><title>t</title><item><guid>a</guid><title>A</title></item></channel></rss>";
    origin.route("/up.xml", Route::feed(feed, "application/rss+xml"));
    let out = tempfile::tempdir().unwrap();
    std::fs::write(out.path().join("status.html"), "exported while public").unwrap();
    let token = "private-status-token";
    let site = Site::new(&format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nstatus = \"private\"\nadmin_token = \"{token}\"\n\
         [export]\ndir = \"{}\"\n[[sections]]\nslug = \"s\"\ntitle = \"S\"\n\
         [[sources]]\nname = \"mairie-en-panne\"\nurl = \"{}\"\nsections = [\"s\"]\n\
         [[sources]]\nname = \"courrier\"\nurl = \"{}\"\nsections = [\"s\"]\n",
        out.path().display(),
        origin.url("/down.xml"),
        origin.url("/up.xml")
    ));
    let serve = site.serve();
    wait_for("the site exported", || out.path().join("index.html").exists());
    wait_for("the failing source seen", || {
        let h: serde_json::Value = serde_json::from_slice(&get(&serve.url("/healthz")).body).unwrap();
        h["failing_sources"] == 1
    });
    let health = get(&serve.url("/healthz"));
    assert_eq!(health.status, 200);
    let metrics = get(&serve.url("/metrics"));
    assert_eq!(metrics.status, 401);
    for shown in [health.text(), metrics.text()] {
        for name in ["mairie-en-panne", "courrier", "503"] {
            assert!(!shown.contains(name), "{name} in {shown}");
        }
    }
    let bearer = format!("Bearer {token}");
    let admin = [("Authorization", bearer.as_str())];
    let metrics = http("GET", &serve.url("/metrics"), &admin);
    assert_eq!(metrics.status, 200);
    assert!(metrics.text().contains("mairie-en-panne"), "the admin sees it");
    let health = http("GET", &serve.url("/healthz"), &admin).text();
    assert!(health.contains("mairie-en-panne"), "{health}");
    drop(serve);
    assert!(
        !out.path().join("status.html").exists(),
        "[export] dir wrote status.html"
    );

    let exported = tempfile::tempdir().unwrap();
    let run = site.thau(&["export", "--out", exported.path().to_str().unwrap()]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert!(exported.path().join("index.html").exists());
    assert!(
        !exported.path().join("status.html").exists(),
        "thau export wrote status.html"
    );
}

/// A source whose entry named another site's story URL as its own id took
/// over that story's title and text, and kept it after the publisher
/// polled again; which version won depended on names and poll order.
#[test]
fn a_source_cannot_take_over_another_site_s_story() {
    let publisher = Origin::start();
    let copier = Origin::start();
    // The publisher's site is `localhost`, the copier's 127.0.0.1.
    let publisher_base = publisher.base.replace("127.0.0.1", "localhost");
    let story = format!("{publisher_base}/story/1");
    publisher.route(
        "/feed.xml",
        Route::feed(
            format!(
                "<rss version=\"2.0\"><channel><title>Courrier</title><item><guid>{story}</guid><link>{story}</link>\
                 <title>Le vrai titre</title><description>Le vrai texte.</description>\
                 <pubDate>Tue, 24 Nov 2026 08:00:00 GMT</pubDate></item></channel></rss>"
            ),
            "application/rss+xml",
        ),
    );
    copier.route(
        "/feed.xml",
        Route::feed(
            format!(
                "<rss version=\"2.0\"><channel><title>Copie</title><item><guid>{story}</guid><link>{story}</link>\
                 <title>Titre piraté</title><description><![CDATA[<p>Texte piraté, <b>plein</b> de mots.</p>]]></description>\
                 <content:encoded xmlns:content=\"http://purl.org/rss/1.0/modules/content/\"><![CDATA[<p>Texte piraté intégral.</p>]]></content:encoded>\
                 <pubDate>Tue, 24 Nov 2026 09:00:00 GMT</pubDate></item></channel></rss>"
            ),
            "application/rss+xml",
        ),
    );
    // "aaa" sorts first: the old tie-break gave it the story.
    let config = format!(
        "[[sources]]\nname = \"aaa-copie\"\nurl = \"{}\"\n[[sources]]\nname = \"zz-courrier\"\nurl = \"{}\"\n",
        copier.url("/feed.xml"),
        format!("{publisher_base}/feed.xml"),
    );
    for order in [["aaa-copie", "zz-courrier"], ["zz-courrier", "aaa-copie"]] {
        let site = Site::new(&config);
        for source in order {
            let run = site.thau(&["poll", "--source", source]);
            assert_eq!(run.code(), 0, "{}", run.stdout());
        }
        // The publisher polls again: nothing changes.
        assert_eq!(site.thau(&["poll", "--source", "zz-courrier"]).code(), 0);
        let entries = site.entries();
        assert_eq!(entries.len(), 1, "one story");
        let e = &entries[0];
        assert_eq!(e.title, "Le vrai titre", "order {order:?}");
        assert!(e.summary.as_deref().unwrap_or("").contains("Le vrai texte"), "{e:?}");
        assert_eq!(e.content, None, "a relay's text is never the story's: {e:?}");
        assert_eq!(
            e.source_names().collect::<Vec<_>>(),
            ["zz-courrier", "aaa-copie"],
            "the publisher first, the copier credited as a relay"
        );
    }
}

/// A JSON Feed title `"a\u0001b"` (or `\u0000`) made every XML feed it
/// reached ill-formed: section and all-sections feeds, RSS and Atom.
#[test]
fn characters_xml_forbids_never_reach_a_feed() {
    let origin = Origin::start();
    let json = r#"{"version": "https://jsonfeed.org/version/1.1", "title": "Ag\u0002enda",
        "items": [{"id": "ev\u0001-1", "url": "https://agenda.example/1", "title": "Fête\u0001 du\u0000 port",
                   "content_html": "<p>Joutes\u000b nautiques\u001f</p>", "tags": ["\u0007sport"],
                   "date_published": "2026-11-20T10:00:00Z"}]}"#;
    origin.route("/feed.json", Route::feed(json, "application/feed+json"));
    let site = Site::new(&format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[[sections]]\nslug = \"s\"\ntitle = \"S\"\n\
         [[sources]]\nname = \"agenda\"\nurl = \"{}\"\nsections = [\"s\"]\n",
        origin.url("/feed.json")
    ));
    let serve = site.serve();
    wait_for("the entry", || {
        get(&serve.url("/sections/s/rss.xml")).text().contains("Joutes")
    });
    let allowed = |c: char| matches!(c, '\t' | '\n' | '\r') || !c.is_control();
    for path in ["/sections/s/rss.xml", "/sections/s/atom.xml", "/feed.xml", "/atom.xml"] {
        let body = get(&serve.url(path)).text();
        assert!(body.chars().all(allowed), "{path}: {body:?}");
        assert!(body.contains("Fête du port"), "{path}: {body}");
        assert!(body.contains("Joutes nautiques"), "{path}: {body}");
    }
}

/// `cite` attributes (not checked by the sanitizer's URL rules) carried
/// `javascript:` and `data:`, and a guid `javascript:…` was published as
/// the entry's id.
#[test]
fn cite_attributes_and_ids_carry_no_active_scheme() {
    let origin = Origin::start();
    let rss = r#"<?xml version="1.0"?><rss version="2.0"><channel><title>Citations</title>
        <item><guid isPermaLink="false">javascript:alert(9)</guid><title>Un</title>
          <description>&lt;blockquote cite="javascript:alert(1)"&gt;Dit&lt;/blockquote&gt;
            &lt;q cite="data:text/html,&amp;lt;script&amp;gt;alert(2)&amp;lt;/script&amp;gt;"&gt;cité&lt;/q&gt;
            &lt;blockquote cite="/source.html"&gt;Sourcé&lt;/blockquote&gt;</description></item>
        <item><guid>data:text/html,hello</guid><title>Deux</title></item>
        </channel></rss>"#;
    origin.route("/cite.xml", Route::feed(rss, "application/rss+xml"));
    let site = Site::new(&format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[[sections]]\nslug = \"s\"\ntitle = \"S\"\n\
         [[sources]]\nname = \"cite\"\nurl = \"{}\"\nsections = [\"s\"]\n",
        origin.url("/cite.xml")
    ));
    let serve = site.serve();
    wait_for("the entries", || {
        get(&serve.url("/sections/s/rss.xml")).text().contains("Deux")
    });
    let mut pages = vec![
        "/sections/s/rss.xml".to_string(),
        "/sections/s/atom.xml".into(),
        "/sections/s/feed.json".into(),
        "/sections/s/".into(),
    ];
    let json: serde_json::Value = serde_json::from_slice(&get(&serve.url("/sections/s/feed.json")).body).unwrap();
    for item in json["items"].as_array().unwrap() {
        let id = item["id"].as_str().unwrap();
        assert!(id.starts_with("tag:thau"), "{id}");
    }
    let section_page = get(&serve.url("/sections/s/")).text();
    pages.extend(
        section_page
            .split("href=\"")
            .skip(1)
            .filter_map(|h| h.split('"').next())
            .filter(|h| h.contains("/stories/"))
            .map(|h| h.trim_start_matches(&serve.base).to_string()),
    );
    for path in pages {
        let body = get(&serve.url(&path)).text();
        for bad in ["javascript:", "data:", "alert("] {
            assert!(!body.contains(bad), "{path} carries {bad}:\n{body}");
        }
    }
    let rss = get(&serve.url("/sections/s/rss.xml")).text();
    assert!(
        rss.contains(&origin.url("/source.html")),
        "a relative cite made absolute: {rss}"
    );
}

/// The nesting limit was walked around: self-closing `<div/>` (which
/// opens a div in HTML), end tags that close nothing (`</x>`), a comment
/// closed by `--!>` before the nesting (93 s per poll); and scraped pages
/// and full-text articles had no limit at all (33 s and 23 s).
#[test]
fn every_spelling_of_deep_nesting_is_bounded_in_feeds_pages_and_articles() {
    let origin = Origin::start();
    let n = 40_000;
    let spellings = [
        ("slash", "<div/>".repeat(n)),
        ("stray", "<div></x>".repeat(n)),
        ("comment", format!("<!-- c --!>{}", "<div>".repeat(n))),
    ];
    let mut rss = String::from("<rss version=\"2.0\"><channel><title>n</title>");
    for (name, html) in &spellings {
        let escaped = format!("{html}profond").replace('<', "&lt;").replace('>', "&gt;");
        rss.push_str(&format!(
            "<item><guid>{name}</guid><title>{name}</title><description>{escaped}</description></item>"
        ));
    }
    rss.push_str(&format!(
        "<item><guid>article</guid><title>article</title><link>{}</link><description>Début</description></item>",
        origin.url("/article.html")
    ));
    rss.push_str("</channel></rss>");
    let plain = |body: String, kind: &str| Route::Status {
        code: 200,
        headers: vec![("Content-Type".into(), kind.into())],
        body: body.into_bytes(),
    };
    origin.route("/deep.xml", plain(rss, "application/rss+xml"));
    // What a reader sees comes first; the nesting after it is the attack
    // (structure beyond 100 levels is dropped, its text kept).
    let deep_page = |inside: &str| {
        format!(
            "<!DOCTYPE html><html><head><title>Profond</title></head><body>{inside}{}fin</body></html>",
            "<div>".repeat(n)
        )
    };
    origin.route(
        "/article.html",
        plain(
            deep_page("<article><h1>Titre</h1><p>Un long texte d'article, assez long pour être retenu par l'extraction.</p></article>"),
            "text/html",
        ),
    );
    origin.route(
        "/page.html",
        plain(
            deep_page("<article class=\"news\"><h2>Travaux</h2><a href=\"/t\">lire</a></article>"),
            "text/html",
        ),
    );
    let site = Site::new(&format!(
        "[poll]\nmax_body = \"20MiB\"\nmax_entry_size = \"20MiB\"\n\
         [[sources]]\nname = \"deep\"\nurl = \"{}\"\nfull_text = true\n\
         [[sources]]\nname = \"page\"\nurl = \"{}\"\n[sources.scrape]\nitem = \"article.news\"\ntitle = \"h2\"\nlink = \"a@href\"\n",
        origin.url("/deep.xml"),
        origin.url("/page.html")
    ));
    let run = site.thau_within(&["poll"], std::time::Duration::from_secs(60));
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    let entries = site.entries();
    for (name, _) in &spellings {
        let entry = entries.iter().find(|e| e.title == *name).unwrap();
        let html = entry.summary.as_deref().unwrap_or_default();
        assert!(html.contains("profond"), "{name}: the text stays");
        assert!(
            html.matches("<div").count() <= 100,
            "{name}: {} divs",
            html.matches("<div").count()
        );
    }
    assert!(entries.iter().any(|e| e.title == "Travaux"), "the page was scraped");
    let article = entries.iter().find(|e| e.title == "article").unwrap();
    assert!(
        article.content.as_deref().unwrap_or_default().contains("Un long texte"),
        "{article:?}"
    );
}

/// One entry of 1.2 million sibling elements (9.6 MB) peaked at 501 MB,
/// and long entries made every render cost minutes: an entry's summary
/// and content are each kept up to `[poll] max_entry_size` (cut at a tag,
/// marked `[…]`), before any HTML parser sees them.
#[test]
fn a_wide_or_long_entry_is_cut_at_max_entry_size_and_memory_stays_bounded() {
    let origin = Origin::start();
    let wide = "<b>x</b>".repeat(1_200_000);
    let long = format!("<p>{}</p>", "mot ".repeat(100_000));
    let mut rss = String::from(
        "<rss version=\"2.0\" xmlns:content=\"http://purl.org/rss/1.0/modules/content/\"><channel><title>w</title>",
    );
    rss.push_str(&format!(
        "<item><guid>wide</guid><title>Large</title><description><![CDATA[{wide}]]></description></item>"
    ));
    rss.push_str(&format!(
        "<item><guid>long</guid><title>Long</title><content:encoded><![CDATA[{long}]]></content:encoded></item>"
    ));
    rss.push_str("<item><guid>short</guid><title>Court</title><description>Bref.</description></item>");
    rss.push_str("</channel></rss>");
    origin.route(
        "/wide.xml",
        Route::Status {
            code: 200,
            headers: vec![("Content-Type".into(), "application/rss+xml".into())],
            body: rss.into_bytes(),
        },
    );
    let site = Site::new(&format!(
        "[poll]\nmax_body = \"20MiB\"\nmax_entry_size = \"64KiB\"\n[[sources]]\nname = \"wide\"\nurl = \"{}\"\n",
        origin.url("/wide.xml")
    ));
    let run = match peak_mib(site.command(&["poll"])) {
        Some((run, mib)) => {
            assert!(mib <= 256, "thau poll peaked at {mib} MiB");
            run
        }
        None => site.thau(&["poll"]),
    };
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    let entries = site.entries();
    let text = |title: &str, content: bool| {
        let e = entries.iter().find(|e| e.title == title).unwrap();
        if content { e.content.clone() } else { e.summary.clone() }.unwrap_or_default()
    };
    for (title, content) in [("Large", false), ("Long", true)] {
        let kept = text(title, content);
        assert!(kept.len() <= 64 * 1024 + 100, "{title}: {} bytes kept", kept.len());
        assert!(kept.len() > 32 * 1024, "{title}: {} bytes kept", kept.len());
        assert!(kept.ends_with("<p>[…]</p>"), "{title} says it was cut");
    }
    assert_eq!(text("Court", false), "Bref.");
}

/// One source of long entries made every republish cost minutes, and a
/// new story in another section waited for it: a changed section is now
/// published as soon as it is rendered, the cheapest first, so a brief
/// is served while the long section is still being rendered.
#[test]
fn a_section_of_long_stories_does_not_hold_up_another() {
    let token = "render-test-token";
    let desk = |long_title: &str, briefs: usize| {
        let mut rss = String::from("<rss version=\"2.0\"><channel><title>Desk</title>");
        let words: String = (0..25_000).map(|i| format!("mot{} ", i % 977)).collect();
        for i in 0..30 {
            let title = if i == 0 {
                long_title.to_string()
            } else {
                format!("Long {i}")
            };
            rss.push_str(&format!(
                "<item><guid>long-{i}</guid><title>{title}</title><category>long</category>\
                 <pubDate>Tue, 24 Nov 2026 08:{i:02}:00 GMT</pubDate><description>&lt;p&gt;{words}&lt;/p&gt;</description></item>"
            ));
        }
        for i in 0..briefs {
            rss.push_str(&format!(
                "<item><guid>brief-{i}</guid><title>Brève {i}</title><category>brief</category>\
                 <pubDate>Tue, 24 Nov 2026 09:{i:02}:00 GMT</pubDate><description>Court.</description></item>"
            ));
        }
        rss.push_str("</channel></rss>");
        rss
    };
    let site = Site::new(&format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nadmin_token = \"{token}\"\n[poll]\nevery = \"1d\"\nmax_body = \"50MiB\"\n\
         [[sections]]\nslug = \"long\"\ntitle = \"Long\"\ncategories = [\"long\"]\n\
         [[sections]]\nslug = \"brief\"\ntitle = \"Brèves\"\ncategories = [\"brief\"]\n\
         [[sources]]\nname = \"desk\"\npath = \"desk.xml\"\n"
    ));
    let file = site.dir.path().join("desk.xml");
    std::fs::write(&file, desk("Long 0", 1)).unwrap();
    assert_eq!(site.thau(&["poll"]).code(), 0);
    let serve = site.serve();
    wait_for("the first render", || {
        get(&serve.url("/sections/brief/rss.xml")).text().contains("Brève 0")
    });
    // One poll changes both sections: a title in the long one, a new brief.
    std::fs::write(&file, desk("Long 0, corrigé", 2)).unwrap();
    let bearer = format!("Bearer {token}");
    let poll = http(
        "POST",
        &serve.url("/api/sources/desk/poll"),
        &[("Authorization", &bearer)],
    );
    assert_eq!(poll.status, 200, "{}", poll.text());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !get(&serve.url("/sections/brief/rss.xml")).text().contains("Brève 1") {
        assert!(std::time::Instant::now() < deadline, "the brief never came");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let long = get(&serve.url("/sections/long/rss.xml")).text();
    assert!(
        !long.contains("Long 0, corrigé"),
        "the brief was served only once the long section was rendered"
    );
    wait_for("the long section", || {
        get(&serve.url("/sections/long/rss.xml"))
            .text()
            .contains("Long 0, corrigé")
    });
}

/// Twenty `thau add` at once all said "added", and sixteen were lost: each
/// read feeds.toml, added its source, and wrote over the others.
#[test]
fn concurrent_edits_of_feeds_toml_lose_nothing() {
    let origin = Origin::start();
    for i in 0..20 {
        origin.route(
            &format!("/f{i}.xml"),
            Route::feed(
                format!("<rss version=\"2.0\"><channel><title>Feed {i}</title></channel></rss>"),
                "application/rss+xml",
            ),
        );
    }
    let site = Arc::new(Site::new("# the desk's sources\n"));
    let adds: Vec<_> = (0..20)
        .map(|i| {
            let (site, url) = (site.clone(), origin.url(&format!("/f{i}.xml")));
            std::thread::spawn(move || site.thau(&["add", &url, "--name", &format!("f{i}")]))
        })
        .collect();
    for add in adds {
        let run = add.join().unwrap();
        assert_eq!(run.code(), 0, "{}", run.stderr());
    }
    let text = std::fs::read_to_string(site.config_path()).unwrap();
    for i in 0..20 {
        assert!(text.contains(&format!("name = \"f{i}\"")), "f{i} lost:\n{text}");
    }
    assert!(text.contains("# the desk's sources\n"), "{text}");
    assert_eq!(site.thau(&["check"]).code(), 0);
}

/// An OPML file of 200,000 outlines took `thau import` to 913 MB.
#[test]
fn a_huge_opml_import_is_refused_with_a_clear_message() {
    let site = Site::new("");
    let list = site.dir.path().join("huge.opml");
    let mut opml = String::from("<opml version=\"2.0\"><body>");
    for i in 0..200_000 {
        opml.push_str(&format!("<outline text=\"F{i}\" xmlUrl=\"https://f{i}.example/rss\"/>"));
    }
    opml.push_str("</body></opml>");
    std::fs::write(&list, opml).unwrap();
    let mut cmd = site.command(&["import", list.to_str().unwrap()]);
    cmd.env("RUST_LOG", "off");
    let run = match peak_mib(cmd) {
        Some((run, mib)) => {
            assert!(mib <= 256, "thau import peaked at {mib} MiB");
            run
        }
        None => site.thau(&["import", list.to_str().unwrap()]),
    };
    assert_eq!(run.code(), 2);
    assert!(
        run.stderr()
            .contains("lists more than 10000 feeds: nothing was imported; import it in parts"),
        "{}",
        run.stderr()
    );
    assert_eq!(std::fs::read_to_string(site.config_path()).unwrap(), "");
}
