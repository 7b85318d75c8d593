//! `thau serve` as a daemon left alone: schedules, hot reload of
//! feeds.toml, the admin API, and the failures a long-running aggregator
//! meets, against a real origin on 127.0.0.1.

mod support;

use support::{Origin, Route, Site, fixture, get, http, regional_origin, wait_for};

const TOKEN: &str = "s3cret-token-for-tests";

fn config(origin: &Origin, extra_sources: &str) -> String {
    format!(
        r#"[server]
listen = "127.0.0.1:0"
admin_token = "{TOKEN}"

[poll]
timeout = "5s"

[[sections]]
slug = "courrier"
title = "Le Courrier"

[[sections]]
slug = "agde"
title = "Agde"
categories = ["Agde"]

[[sources]]
name = "courrier"
url = "{}"
sections = ["courrier"]
{extra_sources}"#,
        origin.url("/courrier.xml")
    )
}

fn items(url: &str) -> usize {
    get(url).text().matches("<item>").count()
}

fn sources(serve: &support::Serve) -> serde_json::Value {
    serde_json::from_slice(&get(&serve.url("/api/sources")).body).unwrap()
}

#[test]
fn reload_follows_edits_to_feeds_toml() {
    let origin = regional_origin();
    let site = Site::new(&config(&origin, ""));
    let serve = site.serve();
    let courrier = serve.url("/sections/courrier/rss.xml");
    wait_for("the first poll", || items(&courrier) == 5);

    // Add a source and a section: both appear without a restart.
    let with_agde = config(&origin, &format!("\n[[sources]]\nname = \"agde-ville\"\nurl = \"{}\"\n", origin.url("/agde.atom")))
        .replace("[[sections]]\nslug = \"agde\"", "[[sections]]\nslug = \"festival\"\ntitle = \"Festival\"\nkeywords = [\"arts de la rue\"]\n\n[[sections]]\nslug = \"agde\"");
    site.write_config(&with_agde);
    wait_for("the new source's story in its section", || {
        items(&serve.url("/sections/festival/rss.xml")) == 1
    });
    assert_eq!(sources(&serve)["sources"].as_array().unwrap().len(), 2);

    // Break the file: the running config stays, the status says why and where.
    site.write_config(&with_agde.replace("timeout = \"5s\"", "timeout = \"5s\"\nconcurency = 3"));
    wait_for("the error on the status page", || {
        !sources(&serve)["config_error"].is_null()
    });
    let error = sources(&serve)["config_error"].as_str().unwrap().to_string();
    assert!(
        error.ends_with(r#":7: [poll]: unknown key "concurency" (did you mean "concurrency"?)"#),
        "{error}"
    );
    assert!(
        get(&serve.url("/status"))
            .text()
            .contains("unknown key &quot;concurency&quot;")
    );
    assert_eq!(items(&serve.url("/sections/festival/rss.xml")), 1, "still served");

    // Fix it, dropping the new source: its entries leave the sections.
    site.write_config(&config(&origin, ""));
    wait_for("the error to clear", || sources(&serve)["config_error"].is_null());
    wait_for("the removed source's entries to leave", || {
        get(&serve.url("/sections/festival/rss.xml")).status == 404
    });
    assert_eq!(items(&courrier), 5);
}

/// `thau serve` printed its address and nothing else: an admin could not
/// tell it polled, what failed, that a reload took, or that it stopped.
/// With no RUST_LOG, it now says each in one line.
#[test]
fn the_daemon_says_what_each_round_of_polls_did_each_reload_and_its_stop() {
    let origin = regional_origin();
    origin.route("/down.xml", Route::status(503, &[]));
    let down = format!(
        "\n[[sources]]\nname = \"down\"\nurl = \"{}\"\n",
        origin.url("/down.xml")
    );
    let site = Site::new(&config(&origin, &down));
    let log_path = site.dir.path().join("serve.log");
    let mut cmd = site.command(&["serve"]);
    cmd.env_remove("RUST_LOG")
        .stderr(std::fs::File::create(&log_path).unwrap());
    let serve = support::Serve::start(cmd);
    let log = || std::fs::read_to_string(&log_path).unwrap();
    wait_for("the first round's line", || log().contains("sources polled"));
    let round = log();
    assert!(
        round.contains("2 sources polled: 5 new stories, 1 error (down: HTTP 503 Service Unavailable)"),
        "{round}"
    );
    // The failure is said once, in the round's line, and no other log.
    assert_eq!(round.matches("503").count(), 1, "{round}");

    let agde = format!(
        "{down}\n[[sources]]\nname = \"agde-ville\"\nurl = \"{}\"\n",
        origin.url("/agde.atom")
    );
    site.write_config(&config(&origin, &agde));
    wait_for("the reload's line", || log().contains("feeds.toml reloaded"));
    assert!(
        log().contains("feeds.toml reloaded: 1 source added (agde-ville)"),
        "{}",
        log()
    );
    wait_for("the new source's round", || {
        log().contains("1 source polled: 1 new story")
    });

    assert!(serve.terminate().success());
    let said = log();
    assert!(said.contains("stopping: no new polls"), "{said}");
    assert!(said.trim_end().ends_with("stopped: store flushed"), "{said}");
    // Nothing but those lines by default: no debugging chatter.
    assert!(said.lines().count() <= 6, "{said}");
}

#[test]
fn reload_applies_poll_limits_to_the_next_polls() {
    let origin = regional_origin();
    let mut slow_sources = String::new();
    for i in 0..3 {
        origin.route(
            &format!("/slow{i}.xml"),
            Route::Slow(std::time::Duration::from_millis(400)),
        );
        let url = origin.url(&format!("/slow{i}.xml"));
        slow_sources.push_str(&format!("\n[[sources]]\nname = \"slow{i}\"\nurl = \"{url}\"\n"));
    }
    let with_limits = |limits: &str| config(&origin, &slow_sources).replace("[poll]\n", &format!("[poll]\n{limits}\n"));
    let site = Site::new(&with_limits("per_host = 1\nmax_body = \"1KiB\""));
    let serve = site.serve();
    let source = |name: &str| {
        let all = sources(&serve);
        all["sources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .cloned()
            .unwrap()
    };
    wait_for("the startup polls", || {
        ["courrier", "slow0", "slow1", "slow2"]
            .iter()
            .all(|s| !source(s)["last_poll"].is_null())
    });
    let error = source("courrier")["last_error"].as_str().unwrap().to_string();
    assert!(error.contains("1024 byte limit"), "{error}");
    assert_eq!(origin.most_slow_at_once(), 1, "per_host = 1");

    // Both limits raised in feeds.toml: the next polls run under them.
    site.write_config(&with_limits("per_host = 3\nmax_body = \"1MiB\""));
    let auth = format!("Bearer {TOKEN}");
    let admin_poll = |name: &str| {
        let r = http(
            "POST",
            &serve.url(&format!("/api/sources/{name}/poll")),
            &[("Authorization", &auth)],
        );
        serde_json::from_slice::<serde_json::Value>(&r.body).unwrap()
    };
    wait_for("the paper's feed to fit", || admin_poll("courrier")["outcome"] == "new");
    origin.reset_most_slow_at_once();
    std::thread::scope(|s| {
        for i in 0..3 {
            s.spawn(move || admin_poll(&format!("slow{i}")));
        }
    });
    assert_eq!(origin.most_slow_at_once(), 3, "per_host = 3");
}

#[test]
fn sources_are_polled_on_their_schedule() {
    let origin = regional_origin();
    let site = Site::new(&config(&origin, "schedule = \"* * * * * *\"\n"));
    let serve = site.serve();
    // Every second: the startup poll, then the schedule.
    wait_for("three polls", || origin.requests("/courrier.xml").len() >= 3);
    let status = sources(&serve);
    let courrier = &status["sources"][0];
    assert_eq!(courrier["schedule"], "cron \"* * * * * *\"");
    assert!(courrier["next_poll"].is_string(), "{courrier:#}");
    // Whole seconds, not nanoseconds.
    for field in ["next_poll", "last_poll", "last_success"] {
        let t = courrier[field].as_str().unwrap();
        assert!(!t.contains('.'), "{field}: {t}");
        assert!(chrono::DateTime::parse_from_rfc3339(t).is_ok(), "{field}: {t}");
    }
    assert_eq!(courrier["entries"], 5);

    let metrics = get(&serve.url("/metrics"));
    assert!(
        metrics
            .header("content-type")
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = metrics.text();
    assert!(
        text.contains(r#"thau_polls_total{source="courrier",outcome="new"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"thau_polls_total{source="courrier",outcome="not-modified"}"#)
            || text.contains(r#"outcome="unchanged""#),
        "{text}"
    );
    assert!(text.contains("thau_entries 5"), "{text}");
    assert!(
        text.contains(r#"thau_source_last_success_timestamp_seconds{source="courrier"}"#),
        "{text}"
    );
}

/// Sources on one schedule used to fire within a few milliseconds of each
/// other: with thousands, one burst of requests and store writes per tick.
/// Each now waits its own stable offset within `jitter` (at most half the
/// period).
#[test]
fn scheduled_polls_are_spread_over_jitter() {
    let origin = Origin::start();
    let names: Vec<String> = (0..12).map(|n| format!("town-{n}")).collect();
    let mut text =
        String::from("[server]\nlisten = \"127.0.0.1:0\"\n[poll]\nschedule = \"*/4 * * * * *\"\njitter = \"10s\"\n");
    for name in &names {
        let path = format!("/{name}.xml");
        origin.route(
            &path,
            Route::feed(fixture("demo/courrier-thau.xml"), "application/rss+xml"),
        );
        text.push_str(&format!(
            "\n[[sources]]\nname = \"{name}\"\nurl = \"{}\"\n",
            origin.url(&path)
        ));
    }
    let site = Site::new(&text);
    let _serve = site.serve();
    // The startup poll, then one scheduled tick for every source.
    wait_for("a scheduled poll of every source", || {
        names.iter().all(|n| origin.requests(&format!("/{n}.xml")).len() >= 2)
    });
    let ticks: Vec<std::time::Instant> = names
        .iter()
        .map(|n| origin.requests(&format!("/{n}.xml"))[1].at)
        .collect();
    let spread = *ticks.iter().max().unwrap() - *ticks.iter().min().unwrap();
    // Every 4 s: the window is 2 s (half the period, under the 10 s jitter).
    let offsets: Vec<std::time::Duration> = names
        .iter()
        .map(|n| thau::schedule::spread_offset(n, std::time::Duration::from_secs(2)))
        .collect();
    let expected = *offsets.iter().max().unwrap() - *offsets.iter().min().unwrap();
    assert!(expected > std::time::Duration::from_secs(1), "{offsets:?}");
    assert!(
        spread + std::time::Duration::from_millis(300) >= expected,
        "scheduled polls came within {spread:?}, their offsets span {expected:?}"
    );
    assert!(spread < std::time::Duration::from_secs(4), "one tick: {spread:?}");
}

#[test]
fn admin_poll_needs_the_token() {
    let origin = regional_origin();
    let site = Site::new(&config(&origin, ""));
    let serve = site.serve();
    let url = serve.url("/api/sources/courrier/poll");
    assert_eq!(http("POST", &url, &[]).status, 401);
    assert_eq!(
        http("POST", &url, &[("Authorization", "Bearer wrong-token-of-same-size")]).status,
        401
    );
    let auth = format!("Bearer {TOKEN}");
    wait_for("the startup poll to finish", || {
        let r = http("POST", &url, &[("Authorization", &auth)]);
        r.status == 200
    });
    // The scheme is case-insensitive (RFC 9110).
    let r = http("POST", &url, &[("Authorization", &format!("bearer {TOKEN}"))]);
    assert_eq!(r.status, 200, "{}", r.text());
    let report: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(report["source"], "courrier");
    assert_eq!(report["outcome"], "not-modified", "{report:#}");
    assert_eq!(http("POST", &url, &[("Authorization", "Bearer ")]).status, 401);
    assert_eq!(
        http(
            "POST",
            &serve.url("/api/sources/nobody/poll"),
            &[("Authorization", &auth)]
        )
        .status,
        404
    );
    drop(serve);

    // A token counts characters, not bytes, and is never blank.
    for (token, why) in [
        ("éééééééééééé", "use at least 16 characters"),
        ("                ", "must not be blank or hold spaces"),
    ] {
        site.write_config(&config(&origin, "").replace(TOKEN, token));
        let check = site.thau(&["check"]);
        assert_eq!(check.code(), 2);
        assert!(
            check.stderr().contains(&format!("[server] admin_token: {why}")),
            "{}",
            check.stderr()
        );
    }

    // Without a token the admin endpoints are off.
    site.write_config(&config(&origin, "").replace(&format!("admin_token = \"{TOKEN}\"\n"), ""));
    let serve = site.serve();
    assert_eq!(http("POST", &serve.url("/api/sources/courrier/poll"), &[]).status, 404);
}

#[test]
fn thau_poll_beside_a_running_daemon_points_to_the_api() {
    let origin = regional_origin();
    let site = Site::new(&config(&origin, ""));
    let _serve = site.serve();
    let run = site.thau(&["poll"]);
    assert_eq!(run.code(), 2);
    assert!(
        run.stderr().contains("is in use by another thau process"),
        "{}",
        run.stderr()
    );
    assert!(run.stderr().contains("/api/sources/<name>/poll"), "{}", run.stderr());
}

#[test]
fn a_permanent_move_is_polled_at_the_new_address() {
    let origin = regional_origin();
    origin.route(
        "/old.xml",
        Route::Redirect {
            code: 301,
            location: "/courrier.xml".into(),
        },
    );
    let site = Site::new(&config(&origin, "").replace(&origin.url("/courrier.xml"), &origin.url("/old.xml")));
    assert_eq!(site.thau(&["poll"]).line("courrier").0, "new");
    origin.route("/old.xml", Route::status(404, &[]));
    let run = site.thau(&["poll"]);
    let (outcome, detail) = run.line("courrier");
    assert_eq!(outcome, "not-modified", "validators from the new address: {detail}");
    assert!(
        detail.contains(&format!("moved permanently to {}", origin.url("/courrier.xml"))),
        "{detail}"
    );
    assert_eq!(
        origin.requests("/old.xml").len(),
        1,
        "the old address is not asked again"
    );
}

#[test]
fn a_feed_that_suddenly_empties_keeps_its_entries() {
    let origin = regional_origin();
    let site = Site::new(&config(&origin, ""));
    assert_eq!(site.thau(&["poll"]).code(), 0);
    origin.route(
        "/courrier.xml",
        Route::feed(
            "<rss version=\"2.0\"><channel><title>Le Courrier</title></channel></rss>",
            "application/rss+xml",
        ),
    );
    let run = site.thau(&["poll"]);
    assert_eq!(run.code(), 1);
    assert_eq!(run.line("courrier").1, "the feed suddenly has no entries (it had 5)");
    assert_eq!(site.entries().len(), 5);
}

#[test]
fn a_gone_source_is_reported_and_not_scheduled() {
    let origin = regional_origin();
    origin.route("/courrier.xml", Route::status(410, &[]));
    let site = Site::new(&config(&origin, ""));
    let serve = site.serve();
    wait_for("the 410 to be recorded", || {
        sources(&serve)["sources"][0]["gone"] == true
    });
    let status = sources(&serve);
    assert!(status["sources"][0]["next_poll"].is_null(), "{status:#}");
    assert!(
        get(&serve.url("/status"))
            .text()
            .contains("gone (HTTP 410): no longer polled")
    );
}

#[test]
fn prune_keeps_what_sources_still_list() {
    let origin = regional_origin();
    let site = Site::new(&config(&origin, "").replace("[poll]", "[retention]\nmax_entries = 2\n\n[poll]"));
    assert_eq!(site.thau(&["poll"]).code(), 0);
    // Everything is still listed by the paper: nothing goes.
    assert_eq!(site.thau(&["prune"]).stdout(), "0 entries pruned\n");
    assert_eq!(site.entries().len(), 5);

    // The paper now lists only its oldest story; the others may go, down to the limit.
    origin.route(
        "/courrier.xml",
        Route::feed(paper_listing_only_monde(), "application/rss+xml"),
    );
    assert_eq!(site.thau(&["poll"]).code(), 0);
    // Newest first: the undated Montbazin story (dated when first seen), the
    // Saint-Louis, then Mèze and Agde beyond the limit, then the listed Monde.
    assert_eq!(site.thau(&["prune"]).stdout(), "2 entries pruned\n");
    assert_eq!(titles_left(&site), ["Monde", "Montb", "Sète"], "the listed story stays");
}

#[test]
fn prune_keeps_what_a_keyword_section_shows() {
    let origin = regional_origin();
    let text = config(&origin, "").replace(
        "slug = \"courrier\"\ntitle = \"Le Courrier\"\n",
        "slug = \"courrier\"\ntitle = \"Le Courrier\"\nmax_entries = 1\n\n[[sections]]\nslug = \"joutes\"\ntitle = \"Joutes\"\nkeywords = [\"joutes nautiques\"]\n",
    );
    let site = Site::new(&text);
    assert_eq!(site.thau(&["poll"]).code(), 0);
    // The paper now lists only its Monde story: the others may go.
    origin.route(
        "/courrier.xml",
        Route::feed(paper_listing_only_monde(), "application/rss+xml"),
    );
    assert_eq!(site.thau(&["poll"]).code(), 0);
    // Le Courrier keeps its newest (the undated Montbazin story), Agde its
    // budget story, and the Saint-Louis stays because its summary is about
    // the joutes nautiques: only Mèze goes.
    assert_eq!(site.thau(&["prune"]).stdout(), "1 entry pruned\n");
    assert_eq!(titles_left(&site), ["Agde ", "Monde", "Montb", "Sète"]);
}

/// The demo paper's feed with only its (oldest) Monde story left. The
/// fixture is windows-1252: it is cut as bytes.
fn paper_listing_only_monde() -> Vec<u8> {
    let paper = fixture("demo/courrier-thau.xml");
    let find = |needle: &[u8]| paper.windows(needle.len()).position(|w| w == needle).unwrap();
    let monde_item = paper[..find(b"<title>Monde")]
        .windows(6)
        .rposition(|w| w == b"<item>")
        .unwrap();
    [&paper[..find(b"<item>")], &paper[monde_item..]].concat()
}

/// The first five bytes of each stored entry's title, sorted.
fn titles_left(site: &Site) -> Vec<String> {
    let mut left: Vec<String> = site.entries().into_iter().map(|e| e.title[..5].to_string()).collect();
    left.sort();
    left
}

#[test]
fn polls_of_one_host_respect_per_host() {
    let origin = Origin::start();
    for i in 0..3 {
        origin.route(
            &format!("/slow{i}.xml"),
            Route::Slow(std::time::Duration::from_millis(300)),
        );
    }
    let port = origin.base.rsplit(':').next().unwrap().to_string();
    let sources = |host: &str| {
        (0..3)
            .map(|i| format!("[[sources]]\nname = \"s{host}{i}\"\nurl = \"http://{host}:{port}/slow{i}.xml\"\n"))
            .collect::<String>()
    };
    // Three sources on one host, one at a time.
    let site = Site::new(&format!("[poll]\nper_host = 1\n{}", sources("127.0.0.1")));
    assert_eq!(site.thau(&["poll"]).code(), 0);
    assert_eq!(origin.most_slow_at_once(), 1);
    // The same three under another host name are another host: two at once
    // across hosts, still one per host.
    let site = Site::new(&format!(
        "[poll]\nper_host = 1\n{}{}",
        sources("127.0.0.1"),
        sources("localhost")
    ));
    assert_eq!(site.thau(&["poll"]).code(), 0);
    assert_eq!(origin.most_slow_at_once(), 2);
}

/// A restart used to forget politeness: the startup poll fetched a source
/// that had answered 410 Gone and one that had asked to wait an hour. And
/// a poll deferred by Retry-After counted as a success in /metrics.
#[test]
fn a_restart_keeps_gone_and_retry_after_and_a_deferred_poll_is_no_success() {
    let origin = regional_origin();
    origin.route("/gone.xml", Route::status(410, &[]));
    origin.route("/busy.xml", Route::status(429, &[("Retry-After", "3600")]));
    let extra = format!(
        "\n[[sources]]\nname = \"gone\"\nurl = \"{}\"\n\n[[sources]]\nname = \"busy\"\nurl = \"{}\"\n",
        origin.url("/gone.xml"),
        origin.url("/busy.xml")
    );
    let site = Site::new(&config(&origin, &extra));
    let serve = site.serve();
    wait_for("the first polls", || {
        origin.requests("/gone.xml").len() == 1 && origin.requests("/busy.xml").len() == 1
    });
    wait_for("their outcomes stored", || {
        let status = sources(&serve);
        status["sources"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["last_outcome"] == "error")
            .count()
            == 2
    });
    // An admin poll of the busy source is deferred: nothing fetched, no success.
    let auth = format!("Bearer {TOKEN}");
    let r = http(
        "POST",
        &serve.url("/api/sources/busy/poll"),
        &[("Authorization", &auth)],
    );
    let report: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(report["outcome"], "deferred", "{report:#}");
    assert_eq!(origin.requests("/busy.xml").len(), 1);
    let metrics = get(&serve.url("/metrics")).text();
    assert!(
        !metrics.contains(r#"thau_source_last_success_timestamp_seconds{source="busy"}"#),
        "{metrics}"
    );
    assert!(serve.terminate().success());

    // Counted before the restart: its startup poll may come before
    // `serve` returns (once the site is rendered).
    let courrier = origin.requests("/courrier.xml").len();
    let restarted = site.serve();
    wait_for("the startup poll of the healthy source", || {
        origin.requests("/courrier.xml").len() > courrier
    });
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(
        origin.requests("/gone.xml").len(),
        1,
        "a gone source is not fetched again"
    );
    assert_eq!(
        origin.requests("/busy.xml").len(),
        1,
        "Retry-After holds across a restart"
    );
    drop(restarted);
}
