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
    let site = Site::new(&format!(
        "[poll]\ntimeout = \"60s\"\nmax_entries_per_poll = 3000\n\
         [[sources]]\nname = \"rss\"\nurl = \"{}\"\n[[sources]]\nname = \"json\"\nurl = \"{}\"\n",
        origin.url("/big.xml"),
        origin.url("/big.json")
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
    assert_eq!(site.entries().len(), 6000);
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
        "[server]\nlisten = \"127.0.0.1:0\"\n[poll]\nmax_body = \"20MiB\"\n[[sections]]\nslug = \"n\"\ntitle = \"N\"\n\
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
    let serve = site.serve();
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
