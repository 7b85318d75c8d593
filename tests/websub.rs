//! WebSub, thau as the hub of its feeds (against a subscriber that is a
//! real HTTP server on 127.0.0.1) and as a subscriber (thau following
//! thau). What the W3C Recommendation (23 January 2018) asks of a
//! publisher, a hub and a subscriber, and where it is checked:
//!
//! | § | requirement | test |
//! |---|---|---|
//! | 4 | the topic carries `rel="hub"` and `rel="self"`, in the document and in HTTP `Link` headers | `a_verified_subscriber_gets_new_entries_signed` |
//! | 5.1 | a subscription request is a form POST with hub.callback, hub.mode, hub.topic; hub.lease_seconds and hub.secret optional; other parameters ignored | `a_verified_subscriber_gets_new_entries_signed` |
//! | 5.1 | hub.secret shorter than 200 bytes | `requests_that_cannot_be_honoured_are_refused` |
//! | 5.2 | 202 Accepted when the request will be verified; 4xx with a reason otherwise | both of the above |
//! | 5.3 | the intent is verified with a GET to the callback (hub.mode, hub.topic, hub.challenge, hub.lease_seconds), its own query kept | `a_verified_subscriber_gets_new_entries_signed` |
//! | 5.3.1 | a callback that does not echo the challenge with a 2xx is not subscribed | `a_callback_that_does_not_confirm_gets_nothing` |
//! | 5.1 | a new request for the same topic and callback replaces the subscription (lease, secret) | `a_verified_subscriber_gets_new_entries_signed` |
//! | 5.1 | unsubscribing is verified as subscribing is, then nothing more is sent | `a_verified_subscriber_gets_new_entries_signed` |
//! | 5.1 | the lease the hub grants is bounded; after it, nothing is sent | `an_expired_lease_gets_nothing` |
//! | 7 | content distribution: a POST of the new entries with the topic's Content-Type and the `Link` headers | `a_verified_subscriber_gets_new_entries_signed` |
//! | 8 | with a secret, `X-Hub-Signature: sha256=` HMAC of the body | `a_verified_subscriber_gets_new_entries_signed` |
//! | 7 | a failed delivery is tried again, with a growing wait | `a_callback_that_is_down_gets_the_content_once_it_is_back` |
//! | — | subscriptions survive a restart of the hub | `subscriptions_survive_a_restart` |
//! | — | callbacks on internal addresses are refused unless allowed | `requests_that_cannot_be_honoured_are_refused` |
//! | 4 | a subscriber discovers the hub and the topic (`rel="hub"`, `rel="self"`) in the feed | `thau_subscribes_to_thau_and_stores_what_is_pushed` |
//! | 5.1 | a subscriber sends hub.callback, hub.mode, hub.topic, hub.secret, hub.lease_seconds | same |
//! | 5.3 | a subscriber echoes the challenge only for a subscription it asked for | same, and `Subscriber::verify` |
//! | 8 | a subscriber checks `X-Hub-Signature` and ignores content that fails it (refused: 403; unsigned too) | same |
//! | — | a push for no subscription is answered 410 Gone (the hub stops) | same |
//! | — | a subscription survives a restart of the subscriber | same |

mod support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use hmac::{Hmac, Mac};
use support::{Origin, Route, Site, get, http, wait_for};

const TOKEN: &str = "websub-test-admin-token";

/// What a subscriber saw.
#[derive(Debug, Clone)]
struct Call {
    method: String,
    /// Decoded query parameters.
    query: HashMap<String, String>,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

/// A WebSub subscriber: echoes challenges (unless told not to) and
/// answers content with the statuses it is given, then 200.
#[derive(Clone)]
struct Subscriber {
    url: String,
    calls: Arc<Mutex<Vec<Call>>>,
    /// Statuses for the next POSTs.
    statuses: Arc<Mutex<Vec<u16>>>,
    confirms: Arc<Mutex<bool>>,
    /// How long a POST is held before it is answered.
    hold: Arc<Mutex<std::time::Duration>>,
}

impl Subscriber {
    fn start() -> Subscriber {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let sub = Subscriber {
            url: format!("http://{}/cb?desk=thau", listener.local_addr().unwrap()),
            calls: Arc::default(),
            statuses: Arc::default(),
            confirms: Arc::new(Mutex::new(true)),
            hold: Arc::default(),
        };
        let shared = sub.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = shared.clone();
                std::thread::spawn(move || shared.answer(stream));
            }
        });
        sub
    }

    fn answer(&self, mut stream: std::net::TcpStream) {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let target = parts.next().unwrap_or("/").to_string();
        let mut headers = HashMap::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        let mut body = vec![0; headers.get("content-length").and_then(|l| l.parse().ok()).unwrap_or(0)];
        reader.read_exact(&mut body).unwrap();
        let query: HashMap<String, String> = target
            .split_once('?')
            .map(|(_, q)| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        self.calls.lock().unwrap().push(Call {
            method: method.clone(),
            query: query.clone(),
            headers,
            body,
        });
        let (status, answer) = if method == "GET" {
            if *self.confirms.lock().unwrap() {
                (200, query.get("hub.challenge").cloned().unwrap_or_default())
            } else {
                (200, "no thanks".to_string())
            }
        } else {
            let hold = *self.hold.lock().unwrap();
            std::thread::sleep(hold);
            let mut statuses = self.statuses.lock().unwrap();
            (
                if statuses.is_empty() { 200 } else { statuses.remove(0) },
                String::new(),
            )
        };
        let _ = write!(
            stream,
            "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
            answer.len()
        );
    }

    fn calls(&self, method: &str) -> Vec<Call> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.method == method)
            .cloned()
            .collect()
    }
}

fn rss(items: &[usize]) -> String {
    let mut x = String::from(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Le Courrier</title><link>https://courrier.example/</link>\n",
    );
    for i in items {
        x.push_str(&format!(
            "<item><title>Article {i}</title><link>https://courrier.example/{i}</link><guid>https://courrier.example/{i}</guid><pubDate>Tue, {:02} Nov 2026 08:00:00 GMT</pubDate></item>\n",
            i + 1
        ));
    }
    x.push_str("</channel></rss>\n");
    x
}

fn config(origin: &Origin, websub: &str) -> String {
    format!(
        r#"[server]
listen = "127.0.0.1:0"
admin_token = "{TOKEN}"

[websub]
retry = "100ms"
{websub}

[[sections]]
slug = "sete"
title = "Sète"

[[sources]]
name = "courrier"
url = "{}"
sections = ["sete"]
"#,
        origin.url("/courrier.xml")
    )
}

/// A desk with two stories, serving.
fn desk(websub: &str) -> (Origin, Site, support::Serve) {
    let origin = Origin::start();
    origin.route("/courrier.xml", Route::feed(rss(&[0, 1]), "application/rss+xml"));
    let site = Site::new(&config(&origin, websub));
    assert_eq!(site.thau(&["poll"]).code(), 0);
    let serve = site.serve();
    (origin, site, serve)
}

fn request(serve: &support::Serve, form: &[(&str, &str)]) -> support::Resp {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let addr = serve.base.strip_prefix("http://").unwrap();
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST /websub HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let status = raw.split_whitespace().nth(1).unwrap().parse().unwrap();
    support::Resp {
        status,
        headers: HashMap::new(),
        body: raw
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.as_bytes().to_vec())
            .unwrap_or_default(),
    }
}

fn subscribe(serve: &support::Serve, sub: &Subscriber, topic: &str, extra: &[(&str, &str)]) {
    let mut form = vec![
        ("hub.mode", "subscribe"),
        ("hub.topic", topic),
        ("hub.callback", sub.url.as_str()),
    ];
    form.extend_from_slice(extra);
    let verifications = sub.calls("GET").len();
    let r = request(serve, &form);
    assert_eq!(r.status, 202, "{}", r.text());
    wait_for("the verification", || sub.calls("GET").len() > verifications);
}

/// A new story at the origin, polled now.
fn new_story(origin: &Origin, serve: &support::Serve, items: &[usize]) {
    origin.route("/courrier.xml", Route::feed(rss(items), "application/rss+xml"));
    // 409 while the startup poll runs: asked again until it is done.
    wait_for("an admin poll", || {
        let r = http(
            "POST",
            &serve.url("/api/sources/courrier/poll"),
            &[("Authorization", &format!("Bearer {TOKEN}"))],
        );
        assert!(matches!(r.status, 200 | 409), "{}", r.text());
        r.status == 200
    });
}

fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    format!(
        "sha256={}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

#[test]
fn a_verified_subscriber_gets_new_entries_signed() {
    let (origin, _site, serve) = desk("internal_callbacks = true");
    let topic = serve.url("/sections/sete/atom.xml");

    // Discovery: the feed names its hub and itself, in the document and
    // in the headers.
    let feed = get(&topic);
    assert!(
        feed.text()
            .contains(&format!("<link href=\"{}\" rel=\"hub\"/>", serve.url("/websub"))),
        "{}",
        feed.text()
    );
    assert_eq!(
        feed.header("link"),
        Some(format!("<{}>; rel=\"hub\", <{topic}>; rel=\"self\"", serve.url("/websub")).as_str())
    );
    let rss = get(&serve.url("/sections/sete/rss.xml")).text();
    assert!(
        rss.contains(&format!("<atom:link href=\"{}\" rel=\"hub\"/>", serve.url("/websub"))),
        "{rss}"
    );
    let json: serde_json::Value = serde_json::from_slice(&get(&serve.url("/sections/sete/feed.json")).body).unwrap();
    assert_eq!(json["hubs"][0]["type"], "WebSub");
    assert_eq!(json["hubs"][0]["url"], serve.url("/websub"));

    // Subscribing: verified with the callback's own query kept.
    let sub = Subscriber::start();
    subscribe(
        &serve,
        &sub,
        &topic,
        &[
            ("hub.secret", "old secret"),
            ("hub.lease_seconds", "60"),
            ("other", "ignored"),
        ],
    );
    let check = &sub.calls("GET")[0];
    assert_eq!(check.query["desk"], "thau");
    assert_eq!(check.query["hub.mode"], "subscribe");
    assert_eq!(check.query["hub.topic"], topic);
    assert_eq!(check.query["hub.lease_seconds"], "60");
    assert_eq!(check.query["hub.challenge"].len(), 32);
    // The same topic and callback again: the new secret and lease win.
    subscribe(
        &serve,
        &sub,
        &topic,
        &[("hub.secret", "s3cret"), ("hub.lease_seconds", "3600")],
    );

    // A new story: the new entry alone, signed, with the Link headers.
    new_story(&origin, &serve, &[0, 1, 2]);
    wait_for("the content", || !sub.calls("POST").is_empty());
    let push = sub.calls("POST")[0].clone();
    assert_eq!(push.headers["content-type"], "application/atom+xml; charset=utf-8");
    assert_eq!(push.headers["x-hub-signature"], signature("s3cret", &push.body));
    assert!(
        push.headers["link"].contains(&format!("<{topic}>; rel=\"self\"")),
        "{:?}",
        push.headers
    );
    assert!(push.headers["link"].contains("rel=\"hub\""));
    let body = String::from_utf8(push.body.clone()).unwrap();
    assert_eq!(body.matches("<entry>").count(), 1, "{body}");
    assert!(body.contains("<id>https://courrier.example/2</id>"), "{body}");
    // Only the Atom topic was subscribed to: one push.
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(sub.calls("POST").len(), 1);

    // Unsubscribing, verified too; then nothing more.
    let r = request(
        &serve,
        &[
            ("hub.mode", "unsubscribe"),
            ("hub.topic", &topic),
            ("hub.callback", &sub.url),
        ],
    );
    assert_eq!(r.status, 202);
    wait_for("the unsubscribe check", || sub.calls("GET").len() == 3);
    assert_eq!(sub.calls("GET")[2].query["hub.mode"], "unsubscribe");
    assert!(!sub.calls("GET")[2].query.contains_key("hub.lease_seconds"));
    std::thread::sleep(std::time::Duration::from_millis(200));
    new_story(&origin, &serve, &[0, 1, 2, 3]);
    wait_for("the new story in the feed", || {
        get(&topic).text().contains("courrier.example/3")
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(sub.calls("POST").len(), 1);
}

/// A story taken down (`thau hide`) changes the feed without a new
/// story: subscribers get the feed as it is now, without it.
#[test]
fn subscribers_get_the_feed_without_a_story_taken_down() {
    let (_origin, site, serve) = desk("internal_callbacks = true");
    let sub = Subscriber::start();
    let topic = serve.url("/sections/sete/atom.xml");
    subscribe(&serve, &sub, &topic, &[]);
    let run = site.thau(&["hide", "https://courrier.example/1"]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    wait_for("the push", || !sub.calls("POST").is_empty());
    let pushed = String::from_utf8(sub.calls("POST")[0].body.clone()).unwrap();
    assert!(!pushed.contains("Article 1<"), "{pushed}");
    assert!(pushed.contains("Article 0<"), "the feed as it is now: {pushed}");
}

#[test]
fn a_callback_that_does_not_confirm_gets_nothing() {
    let (origin, _site, serve) = desk("internal_callbacks = true");
    let topic = serve.url("/sections/sete/rss.xml");
    let sub = Subscriber::start();
    *sub.confirms.lock().unwrap() = false;
    subscribe(&serve, &sub, &topic, &[]);
    new_story(&origin, &serve, &[0, 1, 2]);
    wait_for("the new story in the feed", || {
        get(&topic).text().contains("courrier.example/2")
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(sub.calls("POST").is_empty());
}

#[test]
fn a_callback_that_is_down_gets_the_content_once_it_is_back() {
    let (origin, _site, serve) = desk("internal_callbacks = true");
    let topic = serve.url("/feed.json");
    let sub = Subscriber::start();
    subscribe(&serve, &sub, &topic, &[]);
    *sub.statuses.lock().unwrap() = vec![500, 503];
    new_story(&origin, &serve, &[0, 1, 2]);
    wait_for("three attempts", || sub.calls("POST").len() == 3);
    let pushes = sub.calls("POST");
    assert_eq!(pushes[0].body, pushes[2].body);
    assert_eq!(
        pushes[2].headers["content-type"],
        "application/feed+json; charset=utf-8"
    );
    assert!(
        !pushes[2].headers.contains_key("x-hub-signature"),
        "no secret, no signature"
    );
    let json: serde_json::Value = serde_json::from_slice(&pushes[2].body).unwrap();
    assert_eq!(json["items"].as_array().unwrap().len(), 1);
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(sub.calls("POST").len(), 3, "delivered: no more attempts");
}

#[test]
fn an_expired_lease_gets_nothing() {
    let (origin, _site, serve) = desk("internal_callbacks = true");
    let topic = serve.url("/sections/sete/atom.xml");
    let sub = Subscriber::start();
    subscribe(&serve, &sub, &topic, &[("hub.lease_seconds", "1")]);
    assert_eq!(sub.calls("GET")[0].query["hub.lease_seconds"], "1");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    new_story(&origin, &serve, &[0, 1, 2]);
    wait_for("the new story in the feed", || {
        get(&topic).text().contains("courrier.example/2")
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(sub.calls("POST").is_empty());
}

#[test]
fn subscriptions_survive_a_restart() {
    let origin = Origin::start();
    origin.route("/courrier.xml", Route::feed(rss(&[0, 1]), "application/rss+xml"));
    // A fixed public address, as a real desk has.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let site = Site::new(&config(&origin, "internal_callbacks = true").replace(
        "listen = \"127.0.0.1:0\"",
        &format!("listen = \"{addr}\"\nbase_url = \"http://{addr}\""),
    ));
    assert_eq!(site.thau(&["poll"]).code(), 0);
    let serve = site.serve();
    let topic = serve.url("/sections/sete/atom.xml");
    let sub = Subscriber::start();
    subscribe(&serve, &sub, &topic, &[("hub.secret", "kept")]);
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(serve.terminate().success());

    let serve = site.serve();
    new_story(&origin, &serve, &[0, 1, 2]);
    wait_for("the content after the restart", || !sub.calls("POST").is_empty());
    let push = &sub.calls("POST")[0];
    assert_eq!(push.headers["x-hub-signature"], signature("kept", &push.body));
}

#[test]
fn requests_that_cannot_be_honoured_are_refused() {
    let (_origin, _site, serve) = desk("");
    let topic = serve.url("/sections/sete/atom.xml");
    let sub = Subscriber::start();
    let long = "x".repeat(200);
    for (form, why) in [
        (
            vec![
                ("hub.mode", "follow"),
                ("hub.topic", topic.as_str()),
                ("hub.callback", sub.url.as_str()),
            ],
            "hub.mode",
        ),
        (
            vec![
                ("hub.mode", "subscribe"),
                ("hub.topic", "https://elsewhere.example/feed"),
                ("hub.callback", sub.url.as_str()),
            ],
            "is not a feed of this hub",
        ),
        (
            vec![
                ("hub.mode", "subscribe"),
                ("hub.topic", topic.as_str()),
                ("hub.callback", "ftp://x/"),
            ],
            "hub.callback",
        ),
        (
            vec![
                ("hub.mode", "subscribe"),
                ("hub.topic", topic.as_str()),
                ("hub.callback", sub.url.as_str()),
                ("hub.secret", long.as_str()),
            ],
            "hub.secret",
        ),
        (
            vec![
                ("hub.mode", "subscribe"),
                ("hub.topic", topic.as_str()),
                ("hub.callback", sub.url.as_str()),
                ("hub.lease_seconds", "soon"),
            ],
            "hub.lease_seconds",
        ),
        // 127.0.0.1 is internal, and [websub] internal_callbacks is off.
        (
            vec![
                ("hub.mode", "subscribe"),
                ("hub.topic", topic.as_str()),
                ("hub.callback", sub.url.as_str()),
            ],
            "internal address",
        ),
    ] {
        let r = request(&serve, &form);
        assert_eq!(r.status, 400, "{form:?}: {}", r.text());
        assert!(r.text().contains(why), "{form:?}: {}", r.text());
    }
    // Every spelling of an internal address, the IPv4-compatible and NAT64
    // forms of 127.0.0.1 among them.
    let port = sub
        .url
        .split(':')
        .nth(2)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    for host in [
        "[::127.0.0.1]",
        "[64:ff9b::7f00:1]",
        "[::ffff:127.0.0.1]",
        "[::ffff:0:7f00:1]",
        "[2002:7f00:1::]",
        "2130706433",
        "0x7f.1",
        "[::1]",
        "localhost",
    ] {
        let callback = format!("http://{host}:{port}/cb");
        let r = request(
            &serve,
            &[
                ("hub.mode", "subscribe"),
                ("hub.topic", topic.as_str()),
                ("hub.callback", callback.as_str()),
            ],
        );
        assert_eq!(r.status, 400, "{callback}: {}", r.text());
        assert!(r.text().contains("internal address"), "{callback}: {}", r.text());
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(sub.calls("GET").is_empty(), "nothing refused is verified");
    // Not a form.
    let r = http("POST", &serve.url("/websub"), &[("Content-Type", "application/json")]);
    assert_eq!(r.status, 415);
}

#[test]
fn an_external_hub_is_named_by_the_feeds_and_pinged_on_each_change() {
    let hub = Subscriber::start();
    let hub_url = hub.url.replace("/cb?desk=thau", "/hub");
    let (origin, _site, serve) = desk(&format!("hub = \"{hub_url}\""));
    let topic = serve.url("/sections/sete/atom.xml");
    let feed = get(&topic);
    assert!(
        feed.text().contains(&format!("<link href=\"{hub_url}\" rel=\"hub\"/>")),
        "{}",
        feed.text()
    );
    assert!(
        feed.header("link")
            .unwrap()
            .starts_with(&format!("<{hub_url}>; rel=\"hub\""))
    );
    new_story(&origin, &serve, &[0, 1, 2]);
    // One ping per feed that changed: the section's and the "all
    // sections" feed, in three formats each.
    wait_for("the pings", || hub.calls("POST").len() == 6);
    let mut pinged: Vec<String> = hub
        .calls("POST")
        .iter()
        .map(|c| {
            let form: HashMap<String, String> = url::form_urlencoded::parse(&c.body).into_owned().collect();
            assert_eq!(form["hub.mode"], "publish");
            form["hub.url"].clone()
        })
        .collect();
    pinged.sort();
    let mut expected: Vec<String> = [
        "/atom.xml",
        "/feed.json",
        "/feed.xml",
        "/sections/sete/atom.xml",
        "/sections/sete/feed.json",
        "/sections/sete/rss.xml",
    ]
    .iter()
    .map(|p| serve.url(p))
    .collect();
    expected.sort();
    assert_eq!(pinged, expected);
}

/// A free port on 127.0.0.1, for an instance whose address must be known
/// before it starts (its callback URL).
fn free_addr() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// Desk B, which follows desk A's Sète feed by push.
fn follower(a: &support::Serve, addr: std::net::SocketAddr) -> Site {
    Site::new(&format!(
        r#"[server]
listen = "{addr}"
base_url = "http://{addr}"
admin_token = "{TOKEN}"

[poll]
every = "1d"

[[sections]]
slug = "thau"
title = "Thau"

[[sources]]
name = "a-sete"
url = "{}"
sections = ["thau"]
websub = true
"#,
        a.url("/sections/sete/atom.xml")
    ))
}

fn push_state(b: &support::Serve) -> serde_json::Value {
    let api: serde_json::Value = serde_json::from_slice(&get(&b.url("/api/sources")).body).unwrap();
    api["sources"][0]["websub"].clone()
}

#[test]
fn thau_subscribes_to_thau_and_stores_what_is_pushed() {
    let (origin, _a_site, a) = desk("internal_callbacks = true");
    let addr = free_addr();
    let b_site = follower(&a, addr);
    let b = b_site.serve();
    // B polls A once at start, finds A's hub, subscribes; A verifies.
    wait_for("B's subscription verified", || push_state(&b)["active"] == true);
    let state = push_state(&b);
    assert_eq!(state["hub"], a.url("/websub"));
    assert_eq!(state["topic"], a.url("/sections/sete/atom.xml"));
    let b_feed = b.url("/sections/thau/atom.xml");
    // (The subscription may be verified before B's first render is done.)
    wait_for("A's two stories at B", || {
        get(&b_feed).text().matches("<entry>").count() == 2
    });

    // A new story at A reaches B by push: B does not poll (its schedule is
    // a day, and a source that pushes is polled every 6 hours at most).
    new_story(&origin, &a, &[0, 1, 2]);
    wait_for("the pushed story at B", || {
        get(&b_feed).text().contains("courrier.example/2")
    });
    let api: serde_json::Value = serde_json::from_slice(&get(&b.url("/api/sources")).body).unwrap();
    assert_eq!(api["sources"][0]["polls"], 1, "stored by push, not by a poll");

    // Pushes B did not ask for are refused and store nothing.
    let forged = b"<?xml version=\"1.0\"?><feed xmlns=\"http://www.w3.org/2005/Atom\"><title>x</title><id>x</id><updated>2026-11-01T00:00:00Z</updated><entry><title>Forged</title><id>https://evil.example/1</id><link href=\"https://evil.example/1\"/><updated>2026-11-01T00:00:00Z</updated></entry></feed>";
    let post = |path: &str, signature: Option<&str>| {
        let addr = b.base.strip_prefix("http://").unwrap();
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        let mut head = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/atom+xml\r\nContent-Length: {}\r\nConnection: close\r\n",
            forged.len()
        );
        if let Some(sig) = signature {
            head.push_str(&format!("X-Hub-Signature: {sig}\r\n"));
        }
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(b"\r\n").unwrap();
        stream.write_all(forged).unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).unwrap();
        raw.split_whitespace().nth(1).unwrap().parse::<u16>().unwrap()
    };
    assert_eq!(post("/websub/callback/a-sete", None), 403, "unsigned");
    assert_eq!(
        post("/websub/callback/a-sete", Some(&signature("guessed", forged))),
        403,
        "bad signature"
    );
    assert_eq!(
        post("/websub/callback/nobody", Some(&signature("guessed", forged))),
        410,
        "unknown source"
    );
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(!get(&b_feed).text().contains("Forged"));

    // B restarts: its subscription holds, pushes keep coming.
    assert!(b.terminate().success());
    let b = b_site.serve();
    assert_eq!(push_state(&b)["active"], true);
    new_story(&origin, &a, &[0, 1, 2, 3]);
    wait_for("the story pushed after B's restart", || {
        get(&b.url("/sections/thau/atom.xml"))
            .text()
            .contains("courrier.example/3")
    });
}

/// A subscriber that asks a hub (a test server that records what it is
/// sent and verifies nothing by itself) for a push subscription.
fn subscriber_of_a_fake_hub() -> (Origin, Subscriber, Site, support::Serve) {
    let hub = Subscriber::start();
    let hub_url = hub.url.replace("/cb?desk=thau", "/hub");
    let origin = Origin::start();
    let feed = format!(
        "<?xml version=\"1.0\"?><feed xmlns=\"http://www.w3.org/2005/Atom\"><title>Hub</title><id>urn:hub</id>\
         <updated>2026-11-20T10:00:00Z</updated><link rel=\"hub\" href=\"{hub_url}\"/><link rel=\"self\" href=\"{}\"/>\
         <entry><id>urn:e1</id><title>Premier</title><updated>2026-11-20T10:00:00Z</updated></entry></feed>",
        origin.url("/feed.atom")
    );
    origin.route("/feed.atom", Route::feed(feed, "application/atom+xml"));
    // 127.0.0.1 plays the public internet here: the hub is on it.
    let site = Site::new(&format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[poll]\nevery = \"1d\"\ninternal_networks = [\"10.0.0.0/8\"]\n\
         [websub]\nmax_lease = \"10d\"\n[[sections]]\nslug = \"s\"\ntitle = \"S\"\n\
         [[sources]]\nname = \"pushed\"\nurl = \"{}\"\nsections = [\"s\"]\nwebsub = true\n",
        origin.url("/feed.atom")
    ));
    let serve = site.serve();
    wait_for("the subscription request", || !hub.calls("POST").is_empty());
    (origin, hub, site, serve)
}

/// Anyone could confirm the subscriber's subscription (a ten-year lease
/// that made the source poll every 6 h), crash it with a huge lease, or
/// delete it with `hub.mode=denied`: only a verification of a request
/// thau has pending, on the callback it gave, is answered.
#[test]
fn only_the_hub_asked_can_verify_or_deny_a_subscription() {
    let (origin, hub, _site, serve) = subscriber_of_a_fake_hub();
    let form: HashMap<String, String> = url::form_urlencoded::parse(&hub.calls("POST")[0].body)
        .into_owned()
        .collect();
    let callback = form["hub.callback"].clone();
    let topic = form["hub.topic"].clone();
    assert_eq!(topic, origin.url("/feed.atom"));
    assert!(
        callback.starts_with(&serve.url("/websub/callback/pushed/")),
        "a callback with a token: {callback}"
    );
    let state = || {
        let api: serde_json::Value = serde_json::from_slice(&get(&serve.url("/api/sources")).body).unwrap();
        api["sources"][0]["websub"].clone()
    };
    let query = |mode: &str, lease: &str| {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("hub.mode", mode)
            .append_pair("hub.topic", &topic)
            .append_pair("hub.challenge", "chal-123")
            .append_pair("hub.lease_seconds", lease)
            .finish()
    };
    // Forged: the callback without its token, or with another one.
    for at in [
        serve.url("/websub/callback/pushed"),
        serve.url("/websub/callback/pushed/00000000000000000000000000000000"),
    ] {
        for mode in ["subscribe", "denied"] {
            let r = get(&format!("{at}?{}", query(mode, "315360000")));
            assert_eq!(r.status, 404, "{mode} at {at}: {}", r.text());
            assert!(!r.text().contains("chal-123"));
        }
    }
    assert_eq!(state()["active"], false, "{}", state());
    assert_eq!(state()["hub"], hub.url.replace("/cb?desk=thau", "/hub"), "not deleted");

    // The hub's own verification, with a lease past any clock: clamped to
    // what was asked ([websub] max_lease), no panic.
    let r = get(&format!("{callback}?{}", query("subscribe", "9223372036854775807")));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), "chal-123");
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(state()["active"], true);
    let expires = chrono::DateTime::parse_from_rfc3339(state()["expires"].as_str().unwrap()).unwrap();
    assert!(expires <= chrono::Utc::now() + chrono::Duration::days(10) + chrono::Duration::seconds(5));
    // Once answered, not again (a replayed verification).
    let r = get(&format!("{callback}?{}", query("subscribe", "315360000")));
    assert_eq!(r.status, 404);

    // Pushes signed with any of the four algorithms the Recommendation names.
    for (n, (algorithm, signature)) in [
        ("sha1", sign::<Hmac<sha1::Sha1>> as fn(&str, &[u8]) -> String),
        ("sha384", sign::<Hmac<sha2::Sha384>>),
        ("sha512", sign::<Hmac<sha2::Sha512>>),
    ]
    .into_iter()
    .enumerate()
    {
        let body = format!(
            "<?xml version=\"1.0\"?><feed xmlns=\"http://www.w3.org/2005/Atom\"><title>Hub</title><id>urn:hub</id>\
             <updated>2026-11-21T10:00:00Z</updated><entry><id>urn:p{n}</id><title>Poussé {algorithm}</title>\
             <updated>2026-11-21T10:00:00Z</updated></entry></feed>"
        );
        let header = format!("{algorithm}={}", signature(&form["hub.secret"], body.as_bytes()));
        let r = post_push(&callback, &header, body.as_bytes());
        assert_eq!(r, 200, "{algorithm}");
    }
    wait_for("the pushed stories", || {
        let feed = get(&serve.url("/sections/s/atom.xml")).text();
        ["sha1", "sha384", "sha512"]
            .iter()
            .all(|a| feed.contains(&format!("Poussé {a}")))
    });

    // A newer version of a story, then the older one replayed (signed, as
    // the hub sent it then): the newer stays.
    let version = |title: &str, updated: &str| {
        format!(
            "<?xml version=\"1.0\"?><feed xmlns=\"http://www.w3.org/2005/Atom\"><title>Hub</title><id>urn:hub</id>\
             <updated>{updated}</updated><entry><id>urn:p0</id><title>{title}</title>\
             <updated>{updated}</updated></entry></feed>"
        )
    };
    let older = version("Poussé sha1", "2026-11-21T10:00:00Z");
    let newer = version("Corrigé", "2026-11-22T10:00:00Z");
    let secret = form["hub.secret"].clone();
    let signed = |body: &str| format!("sha256={}", sign::<Hmac<sha2::Sha256>>(&secret, body.as_bytes()));
    assert_eq!(post_push(&callback, &signed(&newer), newer.as_bytes()), 200);
    wait_for("the correction", || {
        get(&serve.url("/sections/s/atom.xml")).text().contains("Corrigé")
    });
    assert_eq!(post_push(&callback, &signed(&older), older.as_bytes()), 200);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let feed = get(&serve.url("/sections/s/atom.xml")).text();
    assert!(feed.contains("Corrigé") && !feed.contains("Poussé sha1"), "{feed}");

    // The hub may deny, on the callback it was given.
    let r = get(&format!("{callback}?{}", query("denied", "0")));
    assert_eq!(r.status, 200);
    assert_eq!(state(), serde_json::Value::Null);
}

fn sign<M: hmac::Mac + hmac::digest::KeyInit>(secret: &str, body: &[u8]) -> String {
    let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
    hmac::Mac::update(&mut mac, body);
    hmac::Mac::finalize(mac)
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn post_push(url: &str, signature: &str, body: &[u8]) -> u16 {
    let rest = url.strip_prefix("http://").unwrap();
    let (addr, path) = rest.split_once('/').unwrap();
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let head = format!(
        "POST /{path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/atom+xml\r\nX-Hub-Signature: {signature}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    raw.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// A callback that streamed gigabytes in answer to a verification took
/// the hub to 2.5 GB: the answer is read up to a few bytes past the
/// challenge, and verifications in flight are capped.
#[test]
fn verification_reads_little_and_few_run_at_once() {
    let (_origin, _site, serve) = desk("internal_callbacks = true");
    let topic = serve.url("/sections/sete/atom.xml");
    let callbacks = Origin::start();
    callbacks.route("/endless", Route::Huge(4 << 30));
    let endless = callbacks.url("/endless");
    let r = request(
        &serve,
        &[
            ("hub.mode", "subscribe"),
            ("hub.topic", &topic),
            ("hub.callback", &endless),
        ],
    );
    assert_eq!(r.status, 202);
    wait_for("the verification", || {
        callbacks.all_requests().iter().any(|r| r.path.starts_with("/endless?"))
    });
    std::thread::sleep(std::time::Duration::from_secs(1));
    let streamed = callbacks.huge_bytes_written();
    assert!(streamed < 64 << 20, "{} MiB read of the answer", streamed >> 20);

    // Callbacks that take their time: past 32 at once, 503 with Retry-After.
    callbacks.route("/slow", Route::Slow(std::time::Duration::from_secs(5)));
    let answers: Vec<u16> = (0..40)
        .map(|i| {
            let callback = format!("{}?n={i}", callbacks.url("/slow"));
            request(
                &serve,
                &[
                    ("hub.mode", "subscribe"),
                    ("hub.topic", &topic),
                    ("hub.callback", &callback),
                ],
            )
            .status
        })
        .collect();
    let busy = answers.iter().filter(|s| **s == 503).count();
    assert!(busy >= 7, "{answers:?}");
    assert_eq!(answers.iter().filter(|s| **s == 202).count() + busy, 40, "{answers:?}");
}

/// Each delivery re-read every subscription of its topic, and 64 slow
/// callbacks held the 16 delivery lanes for a minute: a good subscriber
/// waited for them.
#[test]
fn slow_callbacks_do_not_hold_up_a_good_subscriber() {
    let (origin, _site, serve) = desk("internal_callbacks = true");
    let topic = serve.url("/sections/sete/atom.xml");
    let slow = Subscriber::start();
    *slow.hold.lock().unwrap() = std::time::Duration::from_secs(30);
    for i in 0..64 {
        let callback = format!("{}&n={i:02}", slow.url);
        let r = request(
            &serve,
            &[
                ("hub.mode", "subscribe"),
                ("hub.topic", &topic),
                ("hub.callback", &callback),
            ],
        );
        assert_eq!(r.status, 202, "{}", r.text());
    }
    wait_for("64 verifications", || slow.calls("GET").len() == 64);
    // Sorted after the slow ones (subscriptions are read in callback order).
    let good = Subscriber::start();
    let good_url = good.url.replace("127.0.0.1", "localhost");
    subscribe(
        &serve,
        &Subscriber {
            url: good_url,
            ..good.clone()
        },
        &topic,
        &[],
    );
    new_story(&origin, &serve, &[0, 1, 2]);
    wait_for("the good subscriber's delivery", || !good.calls("POST").is_empty());
    wait_for("the slow ones called too", || slow.calls("POST").len() >= 16);
}
