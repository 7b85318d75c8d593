//! The store suite, run on both backends: every test below runs once on
//! sled (in a temporary folder) and once on PostgreSQL (a database of its
//! own on the server `THAU_TEST_DATABASE_URL` names; `.ci/run` starts one).
//! Entries, dedupe by guid and by canonical link, the time index sections
//! are rendered from, fetch state, retention, the atomic per-poll write,
//! and what several instances sharing one database rely on.

mod support;

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use thau::model::{ArchivePage, Entry, FetchState, SourceRef};
use thau::store::{PublishMark, Store};

/// A backend under test: its store, and another handle on the same data
/// (on PostgreSQL a second instance, on sled the same process's store).
struct Backend {
    store: Arc<Store>,
    second: Option<Arc<Store>>,
    _dir: Option<tempfile::TempDir>,
    _db: Option<support::TestDb>,
}

impl Backend {
    fn sled() -> Backend {
        let dir = tempfile::tempdir().unwrap();
        Backend {
            store: Arc::new(Store::open(dir.path()).unwrap()),
            second: None,
            _dir: Some(dir),
            _db: None,
        }
    }

    fn postgres(test: &str) -> Option<Backend> {
        let db = support::test_database(test)?;
        Some(Backend {
            store: Arc::new(Store::open_postgres(&db.url, 4).unwrap()),
            second: Some(Arc::new(Store::open_postgres(&db.url, 4).unwrap())),
            _dir: None,
            _db: Some(db),
        })
    }

    fn second(&self) -> Arc<Store> {
        self.second.clone().unwrap_or_else(|| self.store.clone())
    }

    /// One more instance (PostgreSQL), or the one store (sled).
    fn another(&self) -> Arc<Store> {
        match &self._db {
            Some(db) => Arc::new(Store::open_postgres(&db.url, 2).unwrap()),
            None => self.store.clone(),
        }
    }
}

/// Runs each test on sled and on PostgreSQL.
macro_rules! on_both {
    ($(fn $name:ident($b:ident: &Backend) $body:block)*) => {
        $(fn $name($b: &Backend) $body)*
        mod on_sled {
            $(#[test] fn $name() { super::$name(&super::Backend::sled()) })*
        }
        mod on_postgres {
            $(#[test] fn $name() {
                if let Some(b) = super::Backend::postgres(stringify!($name)) { super::$name(&b) }
            })*
        }
    };
}

fn t(hours: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap() + Duration::hours(hours)
}

fn entry(source: &str, key: &str, link: Option<&str>, hours: i64, version: &str, categories: &[&str]) -> Entry {
    Entry {
        key: key.into(),
        id: key.into(),
        link: link.map(String::from),
        title: format!("{key} {version}"),
        summary: None,
        content: Some(format!("<p>{version}</p>")),
        published: t(hours),
        updated: t(hours),
        first_seen: t(hours),
        dated: true,
        generic_link: false,
        image: None,
        duration: None,
        authors: vec![],
        categories: categories.iter().map(|c| c.to_string()).collect(),
        enclosures: vec![],
        language: None,
        sources: vec![SourceRef {
            name: source.into(),
            guid: Some(key.into()),
            feed_title: None,
            feed_url: None,
            feed_updated: None,
            full_text: false,
            updated: None,
            categories: categories.iter().map(|c| c.to_string()).collect(),
            fingerprint: version.into(),
        }],
    }
}

fn poll(store: &Store, source: &str, entries: Vec<Entry>) -> thau::store::Counts {
    let mut state = FetchState::default();
    store
        .apply_poll(source, entries, vec![], &mut state, Utc::now())
        .unwrap()
}

fn keys(store: &Store) -> Vec<String> {
    store.entries().map(|e| e.unwrap().key).collect()
}

on_both! {
    fn entries_read_back_in_key_order_and_the_index_newest_first(b: &Backend) {
        let counts = poll(&b.store, "journal", vec![
            entry("journal", "g:b", None, 2, "1", &["Sète"]),
            entry("journal", "g:a", None, 5, "1", &[]),
            entry("journal", "g:c", None, 1, "1", &["Agde"]),
        ]);
        assert_eq!((counts.new, counts.updated, counts.unchanged), (3, 0, 0));
        assert_eq!(keys(&b.store), ["g:a", "g:b", "g:c"]);
        let recent: Vec<String> = b.store.recent().map(|r| r.unwrap().key).collect();
        assert_eq!(recent, ["g:a", "g:b", "g:c"]);
        let after: Vec<String> = b.store.recent_after(t(5), "g:a").map(|r| r.unwrap().key).collect();
        assert_eq!(after, ["g:b", "g:c"]);
        let newer: Vec<String> = b.store.oldest_first_after(Some((t(1), "g:c"))).map(|r| r.unwrap().key).collect();
        assert_eq!(newer, ["g:b", "g:a"]);
        let oldest: Vec<String> = b.store.oldest_first_after(None).map(|r| r.unwrap().key).collect();
        assert_eq!(oldest, ["g:c", "g:b", "g:a"]);
        let row = b.store.recent().next().unwrap().unwrap();
        assert_eq!(row.published, t(5));
        assert_eq!(row.routing.sources, ["journal"]);
        let stored = b.store.entry("g:b").unwrap().unwrap();
        assert_eq!(stored.title, "g:b 1");
        assert_eq!(stored.categories, ["Sète"]);
        assert!(b.store.entry("g:zz").unwrap().is_none());
        // The other instance reads the same.
        assert_eq!(keys(&b.second()), ["g:a", "g:b", "g:c"]);
    }

    fn the_same_guid_again_is_unchanged_and_a_new_version_updates(b: &Backend) {
        poll(&b.store, "journal", vec![entry("journal", "g:1", None, 1, "v1", &[])]);
        let again = poll(&b.store, "journal", vec![entry("journal", "g:1", None, 1, "v1", &[])]);
        assert_eq!((again.new, again.updated, again.unchanged), (0, 0, 1));
        let changed = poll(&b.second(), "journal", vec![entry("journal", "g:1", None, 1, "v2", &[])]);
        assert_eq!((changed.new, changed.updated), (0, 1));
        assert_eq!(b.store.entry("g:1").unwrap().unwrap().title, "g:1 v2");
        assert_eq!(keys(&b.store), ["g:1"], "one story, one record");
        assert_eq!(b.store.recent().count(), 1, "one index row: the old one went");
    }

    fn another_source_with_the_same_link_is_one_story(b: &Backend) {
        let link = "https://mairie.example/budget";
        poll(&b.store, "journal", vec![entry("journal", "g:journal-42", Some(link), 3, "j", &["Société"])]);
        let relay = poll(&b.second(), "mairie", vec![entry("mairie", "g:mairie-7", Some(link), 3, "m", &["Agde"])]);
        assert_eq!((relay.new, relay.updated), (0, 1));
        assert_eq!(keys(&b.store), ["g:journal-42"]);
        let story = b.store.entry("g:journal-42").unwrap().unwrap();
        assert_eq!(story.source_names().collect::<Vec<_>>(), ["journal", "mairie"]);
        assert_eq!(story.categories, ["Société", "Agde"]);
        assert_eq!(b.store.recent().next().unwrap().unwrap().routing.sources, ["journal", "mairie"]);
    }

    fn fetch_state_and_listing_are_written_with_the_poll(b: &Backend) {
        let mut state = FetchState { etag: Some("\"e1\"".into()), polls: 3, ..FetchState::default() };
        b.store
            .apply_poll("journal", vec![entry("journal", "g:1", None, 1, "v1", &[])], vec![], &mut state, Utc::now())
            .unwrap();
        let stored = b.second().fetch_state("journal").unwrap().unwrap();
        assert_eq!(stored.etag.as_deref(), Some("\"e1\""));
        assert_eq!(stored.polls, 3);
        assert_eq!(stored.last_outcome, Some(thau::model::Outcome::New));
        let listed = b.store.listed("journal").unwrap();
        assert_eq!(listed.iter().map(|l| l.key.as_str()).collect::<Vec<_>>(), ["g:1"]);
        assert_eq!(listed[0].fingerprint, "v1");
        assert!(b.store.listed_keys().unwrap().contains("g:1"));
        b.store.save_fetch_state("mairie", &FetchState { gone: true, ..FetchState::default() }).unwrap();
        b.store.flush().unwrap();
        assert!(b.second().fetch_state("mairie").unwrap().unwrap().gone);
        assert!(b.store.fetch_state("nobody").unwrap().is_none());
    }

    fn removing_entries_removes_their_index_and_link_rows(b: &Backend) {
        let link = "https://journal.example/1";
        poll(&b.store, "journal", vec![
            entry("journal", "g:1", Some(link), 1, "v1", &[]),
            entry("journal", "g:2", None, 2, "v1", &[]),
        ]);
        assert_eq!(b.store.remove_entries(&["g:1".into(), "g:1".into(), "g:404".into()]).unwrap(), 1);
        assert_eq!(keys(&b.store), ["g:2"]);
        assert_eq!(b.store.recent().count(), 1);
        // The link row went with it: the same link later is a new story.
        let counts = poll(&b.store, "mairie", vec![entry("mairie", "g:m", Some(link), 4, "m", &[])]);
        assert_eq!(counts.new, 1);
        assert_eq!(keys(&b.store), ["g:2", "g:m"]);
    }

    fn two_writers_merging_one_story_lose_no_source(b: &Backend) {
        // Ten sources relay the same story at once, half through each
        // instance: every one of them ends up in the story.
        let link = "https://sete.example/joutes";
        let writers: Vec<_> = (0..10)
            .map(|i| {
                let store = if i % 2 == 0 { b.store.clone() } else { b.second() };
                std::thread::spawn(move || {
                    let name = format!("s{i}");
                    for round in 0..5 {
                        let e = entry(&name, &format!("g:{name}"), Some(link), 1, &format!("r{round}"), &[]);
                        poll(&store, &name, vec![e]);
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        let stories: Vec<Entry> = b.store.entries().map(Result::unwrap).collect();
        assert_eq!(stories.len(), 1, "one story: {:?}", stories.iter().map(|e| &e.key).collect::<Vec<_>>());
        let mut names: Vec<String> = stories[0].source_names().map(String::from).collect();
        names.sort();
        assert_eq!(names, (0..10).map(|i| format!("s{i}")).collect::<Vec<_>>());
        assert_eq!(b.store.recent().count(), 1, "one index row");
    }

    fn every_instance_settles_on_the_first_publish_mark_of_a_hash(b: &Backend) {
        let first = b.store.set_publish_mark("/sections/sete/feed.xml", &PublishMark { hash: "h1".into(), changed: t(1) }).unwrap();
        let second = b.second().set_publish_mark("/sections/sete/feed.xml", &PublishMark { hash: "h1".into(), changed: t(2) }).unwrap();
        assert_eq!((first.changed, second.changed), (t(1), t(1)));
        let next = b.second().set_publish_mark("/sections/sete/feed.xml", &PublishMark { hash: "h2".into(), changed: t(3) }).unwrap();
        assert_eq!(next.changed, t(3));
        assert_eq!(b.store.publish_mark("/sections/sete/feed.xml").unwrap().unwrap().hash, "h2");
    }

    fn an_archive_page_and_a_digest_are_written_once(b: &Backend) {
        let page = |key: &str| ArchivePage { keys: vec![key.into()], last_published: t(1), last_key: key.into(), written: t(1) };
        let kept: ArchivePage = b.store.put_archive_page("sete", 1, &page("g:a")).unwrap();
        let other: ArchivePage = b.second().put_archive_page("sete", 1, &page("g:b")).unwrap();
        assert_eq!((kept.keys.clone(), other.keys), (vec!["g:a".to_string()], vec!["g:a".to_string()]));
        b.store.put_archive_page("sete", 2, &page("g:c")).unwrap();
        let (n, last): (u32, ArchivePage) = b.second().last_archive_page("sete").unwrap().unwrap();
        assert_eq!((n, last.keys), (2, vec!["g:c".to_string()]));
        b.store.put_digest("sete", t(24), &serde_json::json!({"n": 1})).unwrap();
        b.second().put_digest("sete", t(24), &serde_json::json!({"n": 2})).unwrap();
        b.store.put_digest("sete", t(48), &serde_json::json!({"n": 3})).unwrap();
        let digests: Vec<serde_json::Value> = b.second().digests("sete", 5).unwrap();
        assert_eq!(digests, [serde_json::json!({"n": 3}), serde_json::json!({"n": 1})]);
        assert_eq!(b.store.last_digest_end("sete").unwrap(), Some(t(48)));
    }

    fn websub_and_push_records_round_trip(b: &Backend) {
        b.store.put_websub("/feed.xml", "http://a.example/cb", &serde_json::json!({"s": 1})).unwrap();
        b.store.put_websub("/feed.xml", "http://b.example/cb", &serde_json::json!({"s": 2})).unwrap();
        b.store.put_websub("/feed.xml2", "http://c.example/cb", &serde_json::json!({"s": 3})).unwrap();
        let subs: Vec<serde_json::Value> = b.second().websub_subscriptions("/feed.xml").unwrap();
        assert_eq!(subs.len(), 2);
        b.store.remove_websub("/feed.xml", "http://a.example/cb").unwrap();
        let subs: Vec<serde_json::Value> = b.second().websub_subscriptions("/feed.xml").unwrap();
        assert_eq!(subs, [serde_json::json!({"s": 2})]);
        b.store.put_push_state("journal", &serde_json::json!({"hub": "h"})).unwrap();
        let push: Option<serde_json::Value> = b.second().push_state("journal").unwrap();
        assert_eq!(push, Some(serde_json::json!({"hub": "h"})));
        b.store.remove_push_state("journal").unwrap();
        assert!(b.second().push_state::<serde_json::Value>("journal").unwrap().is_none());
    }

    fn a_selection_kept_up_to_date_equals_a_fresh_scan(b: &Backend) {
        selection_follows_the_store(&b.store, &b.second());
    }

    fn a_selection_kept_up_to_date_under_concurrent_writers_equals_a_fresh_scan(b: &Backend) {
        let writers: Vec<Arc<Store>> = (0..4).map(|_| b.another()).collect();
        selection_follows_concurrent_writers(&b.store, &writers);
    }
}

/// What opening a PostgreSQL store at `url` (with `ca`) says when it must
/// fail (`why`).
fn refused(url: &str, ca: Option<&std::path::Path>, why: &str) -> String {
    Store::open_postgres_with(url, 1, ca).err().expect(why).to_string()
}

/// Applies to `selection` what writes did since it last followed `store`.
fn follow(store: &Store, selection: &mut thau::select::Selection) {
    store
        .follow(|view, taken| {
            assert!(!taken.rescan, "the log lost track");
            selection.apply(view, &taken.changes)
        })
        .unwrap();
}

fn selection_config() -> thau::config::Config {
    thau::config::Config::parse(
        r#"
[server]
page_size = 3
max_page_size = 5
[[sections]]
slug = "sete"
title = "Sète"
categories = ["Sète"]
[[sections]]
slug = "mairie"
title = "Mairie"
[[sections]]
slug = "joutes"
title = "Joutes"
keywords = ["joutes"]
[[sources]]
name = "mairie"
url = "https://mairie.example/rss"
sections = ["mairie"]
[[sources]]
name = "journal"
url = "https://journal.example/rss"
"#,
        std::path::Path::new("feeds.toml"),
    )
    .unwrap()
}

/// A random story of 40, as `source` relays it.
fn random_story(source: &str, next: &mut impl FnMut(u64) -> u64) -> Entry {
    let story = next(40);
    let link = format!("https://news.example/{story}");
    let category = ["Sète", "Agde", "sete"][next(3) as usize];
    let title = ["Les joutes", "Le budget", "Le marché"][next(3) as usize];
    let mut e = entry(
        source,
        &format!("u:{link}"),
        Some(&link),
        next(500) as i64,
        &format!("{story}-{}", next(3)),
        &[category],
    );
    e.title = title.into();
    e.sources[0].guid = None;
    e
}

fn lcg(mut seed: u64) -> impl FnMut(u64) -> u64 {
    move |n: u64| {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 33) % n
    }
}

fn shown(s: &thau::select::Selection) -> Vec<(Vec<String>, usize, usize)> {
    s.picks
        .iter()
        .chain([&s.all])
        .map(|p| {
            (
                p.entries()
                    .iter()
                    .map(|e| format!("{}:{}:{}", e.key, e.title, e.sources.len()))
                    .collect(),
                p.total,
                p.filtered,
            )
        })
        .collect()
}

/// Four writers (each an instance of its own on PostgreSQL) poll and prune
/// the same 40 stories at once while a publisher scans three times, each
/// time into a selection it then keeps up to date (one cursor: the last
/// scan's); once they are done, what it shows equals a fresh scan.
fn selection_follows_concurrent_writers(publisher: &Store, writers: &[Arc<Store>]) {
    use thau::select::Selection;

    let config = selection_config();
    publisher.track_changes();
    let writing = std::sync::atomic::AtomicUsize::new(writers.len());
    std::thread::scope(|scope| {
        for (w, store) in writers.iter().enumerate() {
            let writing = &writing;
            scope.spawn(move || {
                let mut next = lcg(w as u64 + 7);
                for step in 0..150 {
                    if step % 20 == 19 {
                        let keys: Vec<String> =
                            (0..2).map(|_| format!("u:https://news.example/{}", next(40))).collect();
                        store.remove_entries(&keys).unwrap();
                    } else {
                        let source = ["mairie", "journal"][next(2) as usize];
                        let polled = (0..1 + next(3)).map(|_| random_story(source, &mut next)).collect();
                        poll(store, source, polled);
                    }
                }
                writing.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            });
        }
        let mut scans = 0;
        let mut selection = None;
        while writing.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            if scans < 3 {
                // A new scan, mid-write: from it on, the log again.
                selection = Some(publisher.while_quiet(|view| Selection::scan(view, &config)).unwrap());
                scans += 1;
            }
            follow(publisher, selection.as_mut().unwrap());
            std::thread::sleep(std::time::Duration::from_millis(15));
        }
        assert!(scans >= 2, "the writers were done before the publisher scanned twice");
        let mut selection = selection.unwrap();
        follow(publisher, &mut selection);
        let fresh = Selection::scan(publisher, &config).unwrap();
        assert_eq!(shown(&selection), shown(&fresh));
        assert_eq!(
            (selection.total, &selection.per_source),
            (fresh.total, &fresh.per_source)
        );
        assert!(fresh.total > 0);
    });
}

/// Random polls and prunes, by either instance; after each, the selection
/// kept up to date from the store's changes equals a fresh scan.
fn selection_follows_the_store(store: &Store, other: &Store) {
    use thau::select::Selection;

    let config = selection_config();
    store.track_changes();
    let mut selection = store.while_quiet(|view| Selection::scan(view, &config)).unwrap();
    let mut next = lcg(42);
    for step in 0..300 {
        let writer = [store, other][next(2) as usize];
        if step % 25 == 24 {
            let keys: Vec<String> = (0..3).map(|_| format!("u:https://news.example/{}", next(40))).collect();
            writer.remove_entries(&keys).unwrap();
        } else {
            let source = ["mairie", "journal"][next(2) as usize];
            let polled = (0..1 + next(4)).map(|_| random_story(source, &mut next)).collect();
            poll(writer, source, polled);
        }
        follow(store, &mut selection);
        let fresh = Selection::scan(store, &config).unwrap();
        assert_eq!(shown(&selection), shown(&fresh), "after step {step}");
        assert_eq!(
            (selection.total, &selection.per_source),
            (fresh.total, &fresh.per_source),
            "after step {step}"
        );
    }
}

/// The log is pruned (by the poller that prunes, to 10 minutes): a
/// publisher that had read it all goes on following; one that had not read
/// the rows pruned is told to scan again, and a scan puts it back on the
/// log. Rows still needed are kept.
#[test]
fn a_publisher_behind_the_pruned_log_scans_again() {
    use thau::select::Selection;

    let Some(db) = support::test_database("logtrim") else {
        return;
    };
    let open = || Arc::new(Store::open_postgres(&db.url, 2).unwrap());
    let (writer, current, behind) = (open(), open(), open());
    let config = selection_config();
    let story = |n: i64| {
        let link = format!("https://news.example/{n}");
        entry("journal", &format!("u:{link}"), Some(&link), n, "v1", &["Sète"])
    };
    let scan = |store: &Store| store.while_quiet(|view| Selection::scan(view, &config)).unwrap();
    let mut up_to_date = scan(&current);
    let mut late = scan(&behind);
    poll(&writer, "journal", vec![story(1)]);
    follow(&current, &mut up_to_date);
    assert_eq!(
        writer.trim_log(std::time::Duration::from_secs(3600)).unwrap(),
        0,
        "recent rows stay"
    );
    assert_eq!(writer.trim_log(std::time::Duration::ZERO).unwrap(), 1);
    poll(&writer, "journal", vec![story(2)]);
    follow(&current, &mut up_to_date);
    assert_eq!(up_to_date.total, 2, "a publisher that had read the pruned row goes on");
    // (What `follow` gives must be scanned when it says so: from the
    // snapshot it is given.)
    let (told, rescanned) = behind
        .follow(|view, taken| Ok((taken.rescan, Selection::scan(view, &config)?)))
        .unwrap();
    assert!(told, "a publisher that missed the pruned row is told to scan again");
    assert_eq!((late.total, rescanned.total), (0, 2));
    late = rescanned;
    poll(&writer, "journal", vec![story(3)]);
    follow(&behind, &mut late);
    assert_eq!(late.total, 3, "after its scan it follows the log again");
}

/// The log's two hard cases, made to happen: a write that commits while
/// an older one still runs (its writer has its transaction id and waits
/// for a row lock the test holds). A publisher that follows the log then
/// gets the newer write now and the older one once it commits, rather than
/// passing it for good; a publisher that scans then sees the newer write
/// in its scan and does not apply it again from the log. Both end up
/// showing what a fresh scan shows.
#[test]
fn the_log_neither_skips_an_older_write_nor_applies_a_scanned_one_twice() {
    use thau::select::Selection;

    let Some(db) = support::test_database("logorder") else {
        return;
    };
    let open = || Arc::new(Store::open_postgres(&db.url, 2).unwrap());
    let (slow, fast, early, late) = (open(), open(), open(), open());
    let config = selection_config();
    let story = |source: &str, n: i64| {
        let link = format!("https://news.example/{source}/{n}");
        let mut e = entry(source, &format!("u:{link}"), Some(&link), n, "v1", &["Sète"]);
        e.title = format!("{source} {n}");
        e
    };
    poll(&slow, "mairie", vec![story("mairie", 1)]);
    early.track_changes();
    let mut before = early.while_quiet(|view| Selection::scan(view, &config)).unwrap();

    // Hold the row of mairie's fetch state: its next poll gets its
    // transaction id writing the rows before it ("d\0", "e\0"), then waits.
    let mut holder = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    let mut hold = holder.transaction().unwrap();
    hold.execute(
        "SELECT 1 FROM thau_kv WHERE k = $1 FOR UPDATE",
        &[&b"f\0mairie".to_vec()],
    )
    .unwrap();
    std::thread::scope(|scope| {
        let blocked = scope.spawn(|| poll(&slow, "mairie", vec![story("mairie", 2)]));
        let mut watcher = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while watcher
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                 AND wait_event_type = 'Lock' AND backend_xid IS NOT NULL",
                &[],
            )
            .unwrap()
            .get::<_, i64>(0)
            == 0
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the poll never waited for the row"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        // A newer write commits meanwhile.
        poll(&fast, "journal", vec![story("journal", 3)]);

        // A publisher that follows now shows the newer write, and must
        // still get the older one when it commits.
        follow(&early, &mut before);
        assert_eq!(before.total, 2);
        late.track_changes();
        let mut after = late.while_quiet(|view| Selection::scan(view, &config)).unwrap();
        assert_eq!(after.total, 2, "the scan shows the newer write");

        hold.rollback().unwrap();
        blocked.join().unwrap();
        follow(&early, &mut before);
        follow(&late, &mut after);
        let fresh = Selection::scan(&early, &config).unwrap();
        assert_eq!(fresh.total, 3);
        assert_eq!(shown(&before), shown(&fresh), "the publisher that read the log");
        assert_eq!(shown(&after), shown(&fresh), "the publisher that scanned");
        assert_eq!((before.total, after.total), (3, 3));
    });
}

/// `[store] ca`: every connection thau opens is TLS, checked against that
/// authority (pg_stat_ssl says so for each of them). `sslmode=require`
/// without it checks against the system's roots, which do not know this
/// server's authority: a clear error, not a connection. (`.ci/run` starts
/// its cluster with TLS on and a throwaway authority.)
#[test]
fn postgres_over_tls_checks_the_server_certificate() {
    let Some(db) = support::test_database("tls") else {
        return;
    };
    let Some(ca) = std::env::var_os("THAU_TEST_PG_CA") else {
        assert!(
            std::env::var_os("THAU_REQUIRE_POSTGRES").is_none(),
            "THAU_REQUIRE_POSTGRES is set but THAU_TEST_PG_CA is not"
        );
        eprintln!("skipped: THAU_TEST_PG_CA is not set (a cluster with TLS and its CA)");
        return;
    };
    let ca = std::path::PathBuf::from(ca);
    let store = Store::open_postgres_with(&db.url, 2, Some(&ca)).unwrap();
    store.listen(|| {}).unwrap();
    poll(
        &store,
        "journal",
        vec![entry(
            "journal",
            "u:https://a.example/1",
            Some("https://a.example/1"),
            1,
            "v1",
            &[],
        )],
    );
    assert_eq!(keys(&store), ["u:https://a.example/1"]);
    let (snapshot, _) = store.shared().unwrap().snapshot().unwrap();
    let mut client = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    let row = client
        .query_one(
            "SELECT count(*), count(*) FILTER (WHERE s.ssl) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
             WHERE a.application_name = 'thau' AND a.datname = current_database()",
            &[],
        )
        .unwrap();
    let (all, tls): (i64, i64) = (row.get(0), row.get(1));
    assert!(all >= 3, "workers, the listener and a snapshot are connected ({all})");
    assert_eq!(tls, all, "every connection thau opened is TLS");
    drop(snapshot);

    let mut url = url::Url::parse(&db.url).unwrap();
    url.query_pairs_mut().append_pair("sslmode", "require");
    let error = refused(url.as_str(), None, "an unknown authority is refused");
    assert!(error.contains("certificate") || error.contains("root"), "{error}");

    let empty = tempfile::NamedTempFile::new().unwrap();
    let error = refused(
        &db.url,
        Some(empty.path()),
        "a CA file without a certificate is refused",
    );
    assert!(error.contains("no certificate in"), "{error}");
}

/// A claim looks at the oldest due sources first; one host's backlog of
/// old sources (all its 600 due before anyone else's) takes its `per_host`
/// slots and leaves the others to the rest, not waiting behind it. Three
/// instances claiming at once never hold more than `per_host` on a host.
#[test]
fn a_claim_is_bounded_per_host_and_a_backlog_on_one_host_starves_no_other() {
    let Some(db) = support::test_database("claimwindow") else {
        return;
    };
    let instances: Vec<Store> = (0..3).map(|_| Store::open_postgres(&db.url, 2).unwrap()).collect();
    let pg = instances[0].shared().unwrap();
    let mut rows: Vec<(String, String, String, i64)> = (0..600)
        .map(|i| (format!("big{i:03}"), "big.example".into(), "every 60s".into(), 1000 + i))
        .collect();
    for h in 0..10 {
        rows.extend((0..30).map(|i| {
            (
                format!("h{h}-{i}"),
                format!("h{h}.example"),
                "every 60s".into(),
                5000 + i,
            )
        }));
    }
    pg.sync_sources(rows).unwrap();
    let claimed: Vec<(String, i64)> = std::thread::scope(|scope| {
        let handles: Vec<_> = instances
            .iter()
            .enumerate()
            .map(|(i, store)| {
                let pg = store.shared().unwrap();
                scope.spawn(move || pg.claim(&format!("instance{i}"), 9000, 60_000, 8, 3).unwrap())
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let mut per_host: std::collections::BTreeMap<String, usize> = Default::default();
    for (source, _) in &claimed {
        let host = source.split_once('-').map_or("big", |(h, _)| h).to_string();
        *per_host.entry(host).or_default() += 1;
    }
    assert_eq!(per_host.get("big"), Some(&3), "{per_host:?}");
    assert!(per_host.values().all(|n| *n <= 3), "{per_host:?}");
    assert_eq!(
        claimed.len(),
        24,
        "every slot of the three instances is filled: {per_host:?}"
    );
    let mut names: Vec<&str> = claimed.iter().map(|(s, _)| s.as_str()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 24, "no source claimed twice");
}

/// When the server closes thau's connections (a restart, an admin's
/// `pg_terminate_backend`), the first query that finds out fails and every
/// other connection of the pool is replaced before its next query: one
/// failure, not one per connection.
#[test]
fn connections_the_server_closed_cost_one_failed_query() {
    let Some(db) = support::test_database("reconnect") else {
        return;
    };
    let store = Store::open_postgres(&db.url, 4).unwrap();
    poll(
        &store,
        "journal",
        vec![entry(
            "journal",
            "u:https://a.example/1",
            Some("https://a.example/1"),
            1,
            "v1",
            &[],
        )],
    );
    // Every worker has its connection (and its prepared statements).
    std::thread::scope(|scope| {
        for _ in 0..16 {
            scope.spawn(|| {
                for _ in 0..20 {
                    store.fetch_state("journal").unwrap();
                    store.entry("u:https://a.example/1").unwrap();
                }
            });
        }
    });
    let mut admin = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    let killed: i64 = admin
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE application_name = 'thau' AND datname = current_database()",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(killed >= 4, "the pool's connections ({killed})");
    std::thread::sleep(std::time::Duration::from_millis(200));
    let failed = (0..20)
        .filter(|_| store.entry("u:https://a.example/1").is_err())
        .count();
    assert!(failed <= 1, "{failed} queries failed");
    assert!(store.entry("u:https://a.example/1").unwrap().is_some());
}

/// A database migrated by a newer thau is refused with both versions said;
/// instances starting together migrate it once.
#[test]
fn postgres_migrates_once_and_refuses_a_newer_schema() {
    let Some(db) = support::test_database("schema") else {
        return;
    };
    let openers: Vec<_> = (0..4)
        .map(|_| {
            let url = db.url.clone();
            std::thread::spawn(move || Store::open_postgres(&url, 1).map(drop))
        })
        .collect();
    for o in openers {
        o.join().unwrap().unwrap();
    }
    let mut client = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    let versions: i64 = client
        .query_one("SELECT count(*) FROM thau_schema", &[])
        .unwrap()
        .get(0);
    assert_eq!(versions, 4, "each of the four migrations recorded once");
    client
        .batch_execute("INSERT INTO thau_schema (version) VALUES (99)")
        .unwrap();
    let error = refused(&db.url, None, "a newer schema is refused");
    assert!(
        error.contains("schema version 99") && error.contains("upgrade thau"),
        "{error}"
    );
}

/// A server that is not there is a clear error, not a hang.
#[test]
fn postgres_that_does_not_answer_is_a_clear_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let error = refused(
        &format!("postgres://thau@127.0.0.1:{port}/thau"),
        None,
        "nothing listens there",
    );
    assert!(error.contains("cannot connect to PostgreSQL"), "{error}");
}

/// `thau migrate` through the binary: a sled store (with archive pages and
/// publish dates) copied into PostgreSQL serves the same bytes with the
/// same `ETag` and `Last-Modified`, and copied back into sled holds every
/// record; a target that is not empty is refused.
#[test]
fn migrate_to_postgres_and_back_keeps_every_record_and_validator() {
    use support::{Serve, Site, get, regional_origin};

    let Some(db) = support::test_database("migrate") else {
        return;
    };
    let origin = regional_origin();
    // Enough stories in one section for archive pages.
    let t0 = Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap();
    let items: String = (0..35)
        .map(|i| {
            format!(
                "<item><title>Joutes {i}</title><link>https://journal.example/{i}</link><category>Sète</category><pubDate>{}</pubDate></item>",
                (t0 + Duration::hours(i)).to_rfc2822()
            )
        })
        .collect();
    origin.route(
        "/journal.xml",
        support::Route::feed(
            format!("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Journal</title><link>https://journal.example/</link>{items}</channel></rss>"),
            "application/rss+xml",
        ),
    );
    let sources = format!(
        "[[sections]]\nslug = \"sete\"\ntitle = \"Sète\"\ncategories = [\"Sète\"]\n\
         [[sections]]\nslug = \"agde\"\ntitle = \"Agde\"\ncategories = [\"Agde\"]\n\
         {}[[sources]]\nname = \"journal\"\nurl = \"{}\"\n",
        support::regional_sources(&origin),
        origin.url("/journal.xml")
    );
    let head = "[server]\nlisten = \"127.0.0.1:0\"\nbase_url = \"http://news.example\"\npage_size = 10\narchive_page_size = 10\n";
    let site = Site::new(&format!("{head}{sources}"));
    let polled = site.thau(&["poll"]);
    assert_eq!(polled.code(), 0, "{}", polled.stderr());
    let paths = [
        "/sections/sete/rss.xml",
        "/sections/agde/atom.xml",
        "/feed.json",
        "/sections/sete/archive/1.xml",
    ];
    type Answer = (u16, Vec<u8>, Option<String>, Option<String>);
    let served = |serve: &Serve| -> Vec<Answer> {
        paths
            .iter()
            .map(|p| {
                let r = get(&serve.url(p));
                (
                    r.status,
                    r.body.clone(),
                    r.header("etag").map(String::from),
                    r.header("last-modified").map(String::from),
                )
            })
            .collect()
    };
    let serve = site.serve();
    // (Archive pages are written in the round after the first rendering.)
    support::wait_for("the first archive page", || {
        get(&serve.url("/sections/sete/archive/1.xml")).status == 200
    });
    let on_sled = served(&serve);
    assert!(serve.terminate().success());
    assert!(
        on_sled.iter().all(|(status, ..)| *status == 200),
        "{:?}",
        on_sled.iter().map(|r| r.0).collect::<Vec<_>>()
    );
    let sled_entries: Vec<_> = site.entries();
    let states: Vec<_> = ["courrier", "agde-ville", "agenda-sete", "journal"]
        .iter()
        .map(|s| site.store().fetch_state(s).unwrap())
        .collect();

    let out = site.thau(&["migrate", "--to", "postgres", "--url", &db.url]);
    assert_eq!(out.code(), 0, "{}", out.stderr());
    assert!(
        out.stdout()
            .contains(&format!("({} entries, 4 sources' fetch state)", sled_entries.len())),
        "{}",
        out.stdout()
    );
    let again = site.thau(&["migrate", "--to", "postgres", "--url", &db.url]);
    assert_eq!(again.code(), 2);
    assert!(again.stderr().contains("not empty"), "{}", again.stderr());

    // The same site on PostgreSQL: same bytes, same validators.
    site.write_config(&format!(
        "{head}[store]\nbackend = \"postgres\"\nurl = \"$THAU_DATABASE_URL\"\n{sources}"
    ));
    let mut cmd = site.command(&["serve"]);
    cmd.env("THAU_DATABASE_URL", &db.url);
    let serve = Serve::start(cmd);
    support::wait_for("the same archive page", || {
        get(&serve.url("/sections/sete/archive/1.xml")).status == 200
    });
    assert_eq!(served(&serve), on_sled, "PostgreSQL serves what sled served");
    drop(serve);

    // And back into an empty sled folder: every record.
    let back = site.dir.path().join("back.sled");
    let mut cmd = site.command(&["migrate", "--to", "sled", "--path", back.to_str().unwrap()]);
    cmd.env("THAU_DATABASE_URL", &db.url);
    let out = support::Run(cmd.output().unwrap());
    assert_eq!(out.code(), 0, "{}", out.stderr());
    let back = Store::open(&back).unwrap();
    let back_entries: Vec<Entry> = back.entries().map(Result::unwrap).collect();
    assert_eq!(back_entries, sled_entries);
    for (name, state) in ["courrier", "agde-ville", "agenda-sete", "journal"].iter().zip(&states) {
        assert_eq!(&back.fetch_state(name).unwrap(), state, "{name}'s fetch state");
    }
}

/// The shared schedule: leases are exclusive, `per_host` holds across
/// instances, an expired lease is taken over, and a finished poll's next
/// due time is its owner's to set.
#[test]
fn postgres_leases_are_exclusive_and_bounded_per_host() {
    let Some(db) = support::test_database("leases") else {
        return;
    };
    let store = Store::open_postgres(&db.url, 2).unwrap();
    let pg = store.shared().unwrap();
    let mut rows: Vec<(String, String, String, i64)> = (0..6)
        .map(|i| (format!("a{i}"), "a.example".into(), "every 60s".into(), 1000))
        .collect();
    rows.extend((0..2).map(|i| (format!("file{i}"), String::new(), "every 60s".into(), 1000)));
    pg.sync_sources(rows.clone()).unwrap();
    let names = |claimed: &[(String, i64)]| {
        let mut n: Vec<String> = claimed.iter().map(|(s, _)| s.clone()).collect();
        n.sort();
        n
    };
    // Two per host at most, across instances; file sources have no host.
    let first = pg.claim("one", 2000, 5000, 10, 2).unwrap();
    assert_eq!(names(&first), ["a0", "a1", "file0", "file1"]);
    assert!(
        pg.claim("two", 2000, 5000, 10, 2).unwrap().is_empty(),
        "held or over the host's bound"
    );
    // A finished poll frees its host's slot; its due time moves on.
    assert!(pg.finish("one", "a0", 62_000).unwrap());
    assert_eq!(names(&pg.claim("two", 2100, 5000, 10, 2).unwrap()), ["a2"]);
    // Only the owner ends or renews a lease; a renewed lease is not taken.
    assert!(!pg.finish("two", "a1", 62_000).unwrap());
    assert!(!pg.renew("two", "a1", 20_000).unwrap());
    assert!(pg.renew("one", "a1", 9_000).unwrap());
    // Once "one"'s leases expire, "two" takes its sources over.
    let taken = pg.claim("two", 7001, 5000, 10, 4).unwrap();
    assert_eq!(names(&taken), ["a3", "a4", "file0", "file1"], "a1's lease was renewed");
    // Once renewed lease ran out: a1 goes, with a2 (whose own lease, from
    // 2100, expired too) up to the host's bound of 4 (a3, a4 held).
    let taken = pg.claim("two", 9001, 5000, 10, 4).unwrap();
    assert_eq!(names(&taken), ["a1", "a2"]);
    assert!(!pg.finish("one", "a1", 62_000).unwrap(), "the lease went to another");
    // A reload keeps due times of unchanged sources; a changed timing reschedules.
    rows[5].2 = "every 120s".into();
    rows[5].3 = 99_000;
    rows.truncate(6);
    pg.sync_sources(rows).unwrap();
    assert!(
        pg.claim("three", 7001, 5000, 10, 10)
            .unwrap()
            .iter()
            .all(|(s, _)| s != "a5" && !s.starts_with("file"))
    );
}

/// Splitting the work needs a store several processes share: on sled a
/// role is refused, saying why.
#[test]
fn a_role_on_sled_is_refused_with_the_reason() {
    let site = support::Site::new("[server]\nlisten = \"127.0.0.1:0\"\n");
    for role in ["poller", "publisher"] {
        let out = site.thau_within(&["serve", "--role", role], std::time::Duration::from_secs(20));
        assert_eq!(out.code(), 2, "{}", out.stderr());
        assert!(
            out.stderr()
                .contains(&format!("--role {role} needs [store] backend = \"postgres\"")),
            "{}",
            out.stderr()
        );
    }
}
