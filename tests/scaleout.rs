//! Several thau instances on one PostgreSQL database, through the real
//! binary: 3 pollers and 2 publishers, 500 sources on four loopback hosts
//! polled every 5 seconds. Each source is polled once per tick (the origin
//! counts), a poller killed with SIGKILL mid-cycle has its sources taken
//! over once its leases expire, nothing fetched is lost, and both
//! publishers serve the same bytes with the same validators.

mod support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::{Serve, Site, get};

const SOURCES: usize = 500;
const HOSTS: usize = 4;
const PERIOD: Duration = Duration::from_secs(5);
const LEASE: Duration = Duration::from_secs(2);
/// How long the origin takes to answer: polls are in flight when the
/// poller is killed.
const ANSWER_AFTER: Duration = Duration::from_millis(800);

/// When each source's feed was fetched. Each fetch lists one more story
/// than the one before: the n-th fetch of a source lists stories 1..=n.
#[derive(Default)]
struct Hits(Mutex<HashMap<usize, Vec<Instant>>>);

fn start_origin(ip: &str, hits: Arc<Hits>) -> String {
    let listener = TcpListener::bind((ip, 0)).unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let hits = hits.clone();
            std::thread::spawn(move || answer(stream, &hits));
        }
    });
    base
}

/// HTTP/1.1 with keep-alive: enough for reqwest.
fn answer(stream: TcpStream, hits: &Hits) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    loop {
        let mut request = String::new();
        if reader.read_line(&mut request).unwrap_or(0) == 0 {
            return;
        }
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            if header == "\r\n" {
                break;
            }
        }
        let path = request.split_whitespace().nth(1).unwrap_or_default();
        let Some(i) = path.strip_prefix("/feed/").and_then(|n| n.parse::<usize>().ok()) else {
            let _ = out.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
            continue;
        };
        let n = {
            let mut hits = hits.0.lock().unwrap();
            let seen = hits.entry(i).or_default();
            seen.push(Instant::now());
            seen.len()
        };
        std::thread::sleep(ANSWER_AFTER);
        let body = feed(i, n);
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/rss+xml\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        if out
            .write_all(head.as_bytes())
            .and_then(|()| out.write_all(body.as_bytes()))
            .is_err()
        {
            return;
        }
    }
}

fn feed(i: usize, n: usize) -> String {
    let base = chrono::DateTime::parse_from_rfc3339("2026-11-28T06:00:00Z").unwrap();
    let items: String = (1..=n)
        .map(|k| {
            let date = (base + chrono::Duration::seconds((k * 1000 + i) as i64)).to_rfc2822();
            format!(
                "<item><title>Story {k} of source {i}</title><guid isPermaLink=\"false\">s{i}-{k}</guid>\
                 <link>https://news.example/{i}/{k}</link><pubDate>{date}</pubDate>\
                 <description>Text {k}</description></item>"
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Source {i}</title><link>https://news.example/{i}/</link><description>d</description>{items}</channel></rss>"
    )
}

fn poller(site: &Site, url: &str) -> Child {
    let mut cmd = site.command(&["serve", "--role", "poller"]);
    cmd.env("THAU_DATABASE_URL", url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().expect("start a poller");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("polling"), "{line}");
    child
}

#[test]
fn three_pollers_and_two_publishers_share_one_database() {
    let Some(db) = support::test_database("scaleout") else {
        return;
    };
    let hits = Arc::new(Hits::default());
    let origins: Vec<String> = (1..=HOSTS)
        .map(|h| start_origin(&format!("127.0.0.{h}"), hits.clone()))
        .collect();
    let mut config = String::from(
        r#"
[server]
listen = "127.0.0.1:0"
base_url = "http://thau.test"
[store]
backend = "postgres"
url = "$THAU_DATABASE_URL"
connections = 8
lease = "2s"
[poll]
schedule = "*/5 * * * * *"
jitter = "1s"
timeout = "5s"
concurrency = 64
per_host = 64
[[sections]]
slug = "even"
title = "Even"
[[sections]]
slug = "odd"
title = "Odd"
"#,
    );
    for i in 0..SOURCES {
        config.push_str(&format!(
            "[[sources]]\nname = \"s{i}\"\nurl = \"{}/feed/{i}\"\nsections = [\"{}\"]\n",
            origins[i % HOSTS],
            if i % 2 == 0 { "even" } else { "odd" }
        ));
    }
    let site = Site::new(&config);
    let publisher = |site: &Site, n: usize| {
        let log = std::fs::File::create(site.dir.path().join(format!("publisher-{n}.log"))).unwrap();
        let mut cmd = site.command(&["serve", "--role", "publisher"]);
        cmd.env("THAU_DATABASE_URL", &db.url).stderr(log);
        Serve::start(cmd)
    };
    let mut pollers: Vec<Child> = (0..3).map(|_| poller(&site, &db.url)).collect();
    let publishers = [publisher(&site, 0), publisher(&site, 1)];
    let started = Instant::now();

    // Every source polled once at start, then every tick.
    let all_polled = |hits: &Hits| hits.0.lock().unwrap().len() == SOURCES;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !all_polled(&hits) {
        assert!(Instant::now() < deadline, "not every source was polled within 30 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(PERIOD);
    // SIGKILL, mid-cycle: 0.9 s after a tick (polls start within the 1 s
    // jitter of the tick and take 0.8 s), so it holds leases of polls in
    // flight, which are left to expire.
    let since_tick = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        % PERIOD.as_millis();
    let to_kill = (PERIOD.as_millis() + 900 - since_tick) % PERIOD.as_millis();
    std::thread::sleep(Duration::from_millis(to_kill as u64));
    let killed_at = Instant::now();
    pollers[0].kill().unwrap();
    pollers[0].wait().unwrap();
    std::thread::sleep(PERIOD * 3 + LEASE);
    for p in &mut pollers[1..] {
        Command::new("kill")
            .args(["-TERM", &p.id().to_string()])
            .status()
            .unwrap();
    }
    for p in &mut pollers[1..] {
        assert!(p.wait().unwrap().success(), "a poller stopped on SIGTERM with an error");
    }
    let stopped_at = Instant::now();

    let hits = std::mem::take(&mut *hits.0.lock().unwrap());
    let (mut doubles, mut missed, mut taken_over) = (Vec::new(), Vec::new(), 0);
    let mut slowest_takeover = Duration::ZERO;
    for i in 0..SOURCES {
        let times = &hits[&i];
        // (The first poll is the startup poll, at once; the schedule's ticks
        // follow, the first of them maybe soon after.)
        for pair in times[1..].windows(2) {
            let gap = pair[1] - pair[0];
            // Two pollers claiming one tick of a source would fetch it at
            // the same moment.
            if gap < Duration::from_secs(1) {
                doubles.push((i, gap));
            }
            let spans_kill = pair[0] <= killed_at && pair[1] > killed_at;
            // A fetch the killed poller had in flight is never stored: once
            // its lease expires another poller fetches the source again,
            // before the next tick.
            if spans_kill && gap < PERIOD - Duration::from_millis(500) {
                taken_over += 1;
                slowest_takeover = slowest_takeover.max(gap);
            }
            let allowed = if spans_kill {
                PERIOD + LEASE + Duration::from_secs(2)
            } else {
                PERIOD * 8 / 5
            };
            if gap > allowed {
                missed.push((i, gap));
            }
        }
        let last = *times.last().unwrap();
        assert!(
            last > killed_at + LEASE && stopped_at - last < PERIOD * 2,
            "s{i} was not polled after the kill: taken over late or not at all"
        );
    }
    let polls: usize = hits.values().map(Vec::len).sum();
    let ticks = (stopped_at - started).as_secs_f64() / PERIOD.as_secs_f64();
    eprintln!(
        "{polls} polls of {SOURCES} sources over {ticks:.1} ticks; {taken_over} taken over from the killed poller"
    );
    assert!(
        taken_over > 0,
        "the killed poller held no lease: nothing was taken over"
    );
    eprintln!("slowest takeover: {slowest_takeover:?} after the lost fetch (lease {LEASE:?})");
    // The lease, one claim round, and the wait for a free slot on the
    // survivors (busy with their own tick) on a loaded machine.
    assert!(
        slowest_takeover <= LEASE + Duration::from_secs(4),
        "taken over after {slowest_takeover:?}"
    );
    assert!(
        doubles.is_empty(),
        "{} polled twice in one tick: {:?}…",
        doubles.len(),
        &doubles[..doubles.len().min(5)]
    );
    assert!(
        missed.is_empty(),
        "{} ticks without a poll: {:?}…",
        missed.len(),
        &missed[..missed.len().min(5)]
    );

    // Nothing lost: the store holds every story any fetch listed.
    let store = thau::store::Store::open_postgres(&db.url, 2).unwrap();
    let mut stored: HashMap<String, usize> = HashMap::new();
    for e in store.entries() {
        for s in e.unwrap().sources {
            *stored.entry(s.name).or_default() += 1;
        }
    }
    for i in 0..SOURCES {
        assert_eq!(
            stored.get(&format!("s{i}")).copied().unwrap_or(0),
            hits[&i].len(),
            "stories of s{i}"
        );
    }

    // Both publishers serve the same bytes and validators, whichever a load
    // balancer picks, once they have heard of the last writes.
    let paths = [
        "/feed.xml",
        "/atom.xml",
        "/feed.json",
        "/sections/even/rss.xml",
        "/sections/odd/atom.xml",
        "/sections/odd/feed.json",
        "/sections/even/archive/1.xml",
        "/sections/odd/archive/2.json",
        "/sections.opml",
    ];
    let newest = format!("Story {} of source", hits.values().map(Vec::len).max().unwrap());
    let same = || {
        paths.iter().all(|p| {
            let (a, b) = (get(&publishers[0].url(p)), get(&publishers[1].url(p)));
            a.status == 200
                && a.body == b.body
                && a.header("etag") == b.header("etag")
                && a.header("last-modified") == b.header("last-modified")
        }) && get(&publishers[0].url("/feed.xml")).text().contains(&newest)
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    while !same() {
        if Instant::now() >= deadline {
            let report: Vec<String> = paths
                .iter()
                .map(|p| {
                    let (a, b) = (get(&publishers[0].url(p)), get(&publishers[1].url(p)));
                    let (ta, tb) = (a.text(), b.text());
                    let first_difference: Vec<String> = ta
                        .split('>')
                        .zip(tb.split('>'))
                        .filter(|(x, y)| x != y)
                        .take(2)
                        .map(|(x, y)| format!("{x:?} / {y:?}"))
                        .collect();
                    format!(
                        "{p}: {first_difference:?} {} {} same body {} etags {:?} {:?} newest {} {}",
                        a.status,
                        b.status,
                        a.body == b.body,
                        a.header("etag"),
                        b.header("etag"),
                        a.text().contains(&newest),
                        b.text().contains(&newest)
                    )
                })
                .collect();
            let logs: Vec<String> = (0..2)
                .map(|n| {
                    std::fs::read_to_string(site.dir.path().join(format!("publisher-{n}.log"))).unwrap_or_default()
                })
                .collect();
            panic!(
                "the publishers still differ (or lack the newest story) 15 s after the last poll:\n{}\npublisher logs:\n{}\n---\n{}",
                report.join("\n"),
                logs[0],
                logs[1]
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // A conditional request made to one is answered by the other.
    let first = get(&publishers[0].url("/sections/even/rss.xml"));
    let etag = first.header("etag").unwrap();
    let again = support::http(
        "GET",
        &publishers[1].url("/sections/even/rss.xml"),
        &[("If-None-Match", etag)],
    );
    assert_eq!(again.status, 304);
}

/// A poll that lasts longer than its lease keeps it (renewed while it
/// runs): the other poller does not fetch the source a second time.
#[test]
fn a_poll_longer_than_its_lease_is_not_taken_over() {
    let Some(db) = support::test_database("renewal") else {
        return;
    };
    let origin = support::Origin::start();
    origin.route(
        "/slow.xml",
        support::Route::Delayed(
            Duration::from_secs(5),
            Box::new(support::Route::feed(feed(1, 1), "application/rss+xml")),
        ),
    );
    let site = Site::new(&format!(
        "[store]\nbackend = \"postgres\"\nurl = \"$THAU_DATABASE_URL\"\nlease = \"1500ms\"\n\
         [poll]\nschedule = \"0 0 3 * * *\"\njitter = \"0s\"\ntimeout = \"20s\"\n\
         [[sources]]\nname = \"slow\"\nurl = \"{}\"\n",
        origin.url("/slow.xml")
    ));
    let mut pollers: Vec<Child> = (0..2).map(|_| poller(&site, &db.url)).collect();
    // Two leases' time into the fetch, the lease is still held.
    support::wait_for("the slow fetch", || !origin.requests("/slow.xml").is_empty());
    std::thread::sleep(Duration::from_millis(3200));
    let mut client = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    let row = client
        .query_one(
            "SELECT lease_until, (extract(epoch from clock_timestamp()) * 1000)::bigint FROM thau_sources WHERE source = 'slow'",
            &[],
        )
        .unwrap();
    let (until, now): (Option<i64>, i64) = (row.get(0), row.get(1));
    assert!(
        until.is_some_and(|u| u > now),
        "the lease of a running poll ran out: {until:?} at {now}"
    );
    std::thread::sleep(Duration::from_millis(2500));
    for p in &mut pollers {
        Command::new("kill")
            .args(["-TERM", &p.id().to_string()])
            .status()
            .unwrap();
        p.wait().unwrap();
    }
    assert_eq!(
        origin.requests("/slow.xml").len(),
        1,
        "fetched again while its first poll ran"
    );
    let store = thau::store::Store::open_postgres(&db.url, 1).unwrap();
    assert_eq!(store.entries().count(), 1, "the long poll was stored");
}
