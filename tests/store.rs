//! The store under concurrent polls, through its public API (the binary
//! cannot make hundreds of polls finish at the same instant on demand).

use std::sync::Arc;
use std::time::Duration;

use thau::model::FetchState;
use thau::store::Store;

/// Runs `work` on a runtime of its own; fails the test if it has not
/// finished within `deadline` (a deadlocked runtime is left behind, so
/// the test reports instead of hanging).
fn within(deadline: Duration, work: impl std::future::Future<Output = ()> + Send + 'static) {
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(work);
        let _ = done.send(());
        // A runtime whose blocking threads are stuck would wait for them.
        runtime.shutdown_background();
    });
    assert!(
        finished.recv_timeout(deadline).is_ok(),
        "still waiting after {deadline:?}: deadlocked"
    );
}

/// sled 0.34 deadlocks for good when flushes run concurrently (its issues
/// #1308 and #1241): polls that each write and then wait for their flush,
/// hundreds at once, used to hang within seconds. With the store's group
/// commit one flush serves them all, and everything they wrote is there.
#[test]
fn concurrent_polls_waiting_for_their_flush_never_hang() {
    const POLLS: u32 = 200;
    const ROUNDS: u32 = 20;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let shared = store.clone();
    within(Duration::from_secs(120), async move {
        let polls = (0..POLLS).map(|p| {
            let store = shared.clone();
            tokio::spawn(async move {
                for round in 0..ROUNDS {
                    let state = FetchState {
                        polls: u64::from(round) + 1,
                        last_error: Some("x".repeat(1500)),
                        ..FetchState::default()
                    };
                    store.save_fetch_state(&format!("s{p}"), &state).unwrap();
                    store.flush_async().await.unwrap();
                }
            })
        });
        for poll in futures_util::future::join_all(polls).await {
            poll.unwrap();
        }
    });
    for p in 0..POLLS {
        let state = store.fetch_state(&format!("s{p}")).unwrap().unwrap();
        assert_eq!(state.polls, u64::from(ROUNDS));
    }
}

/// A store written by an earlier thau (schema 1: JSON records) is read as
/// it is and marked with today's schema; nothing is lost, and an older thau then
/// refuses it clearly rather than misreading compact records.
#[test]
fn a_schema_1_store_is_read_and_upgraded() {
    use chrono::{DateTime, Utc};
    let dir = tempfile::tempdir().unwrap();
    let t = DateTime::parse_from_rfc3339("2026-11-20T08:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let entry = thau::model::Entry {
        key: "u:https://mairie.example/1".into(),
        id: "https://mairie.example/1".into(),
        link: Some("https://mairie.example/1".into()),
        title: "Conseil municipal".into(),
        summary: Some("<p>Ordre du jour</p>".into()),
        content: None,
        published: t,
        updated: t,
        first_seen: t,
        dated: true,
        generic_link: false,
        image: None,
        duration: None,
        authors: vec![],
        categories: vec!["Sète".into()],
        enclosures: vec![],
        language: Some("fr".into()),
        sources: vec![thau::model::SourceRef {
            name: "mairie".into(),
            guid: Some("https://mairie.example/1".into()),
            feed_title: None,
            feed_url: None,
            feed_updated: None,
            full_text: false,
            updated: None,
            categories: vec!["Sète".into()],
            fingerprint: "f1".into(),
        }],
    };
    {
        let db = sled::open(dir.path()).unwrap();
        db.insert(b"meta\0schema", &b"1"[..]).unwrap();
        db.insert(b"e\0u:https://mairie.example/1", serde_json::to_vec(&entry).unwrap())
            .unwrap();
        let stamp = (!((t.timestamp_millis() as u64) ^ (1 << 63))).to_be_bytes();
        let time_key = [&b"t\0"[..], &stamp, b"u:https://mairie.example/1"].concat();
        db.insert(time_key, &br#"{"sources":["mairie"],"categories":["sete"]}"#[..])
            .unwrap();
        db.insert(b"d\0mairie", &br#"["u:https://mairie.example/1"]"#[..])
            .unwrap();
        db.flush().unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.entry("u:https://mairie.example/1").unwrap().unwrap(), entry);
    let rows: Vec<_> = store.recent().collect::<Result<_, _>>().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].routing.categories, ["sete"]);
    assert!(store.listed_keys().unwrap().contains("u:https://mairie.example/1"));
    // The same entry polled again is recognised as unchanged.
    let mut state = FetchState::default();
    let counts = store
        .apply_poll("mairie", vec![entry.clone()], vec![], &mut state, chrono::Utc::now())
        .unwrap();
    assert_eq!((counts.new, counts.updated, counts.unchanged), (0, 0, 1));
    assert_eq!(store.listed("mairie").unwrap()[0].fingerprint, "f1");
    drop(store);
    let db = sled::open(dir.path()).unwrap();
    assert_eq!(db.get(b"meta\0schema").unwrap().unwrap().as_ref(), b"3");
}

/// A store written by the thau of commit fe32137 (schema 2: entries as
/// LZ4-compressed JSON; `tests/fixtures/store-schema-2`) opens in place:
/// every entry reads back, a changed entry is rewritten in today's form
/// beside the untouched old ones, and the store is marked with today's
/// schema.
#[test]
fn a_store_written_by_an_earlier_thau_opens_and_upgrades_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-schema-2");
    for file in ["conf", "db"] {
        std::fs::copy(fixture.join(file), dir.path().join(file)).unwrap();
    }
    let form = |key: &str| {
        let db = sled::open(dir.path()).unwrap();
        db.get(format!("e\0{key}")).unwrap().unwrap()[0]
    };
    let keys: Vec<String> = {
        let store = Store::open(dir.path()).unwrap();
        store.recent().map(|row| row.unwrap().key).collect()
    };
    assert_eq!(keys.len(), 11, "the demo's eleven stories");
    assert!(keys.iter().all(|k| form(k) == 1), "the fixture holds old records");

    let store = Store::open(dir.path()).unwrap();
    let before: Vec<thau::model::Entry> = keys.iter().map(|k| store.entry(k).unwrap().unwrap()).collect();
    assert!(before.iter().all(|e| !e.title.is_empty() && !e.sources.is_empty()));
    assert!(
        before
            .iter()
            .any(|e| e.content.as_deref().is_some_and(|c| c.contains("<p>")))
    );
    // Its source gives one of them again, changed.
    let mut changed = before[0].clone();
    changed.title.push_str(" (mis à jour)");
    changed.sources[0].fingerprint = "changed".into();
    let source = changed.sources[0].name.clone();
    let mut state = store.fetch_state(&source).unwrap().unwrap();
    let counts = store
        .apply_poll(&source, vec![changed.clone()], vec![], &mut state, chrono::Utc::now())
        .unwrap();
    assert_eq!(counts.updated, 1);
    drop(store);

    assert_eq!(form(&keys[0]), 2, "rewritten in today's form");
    assert!(
        keys[1..].iter().all(|k| form(k) == 1),
        "the others are left as they were"
    );
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.entry(&keys[0]).unwrap().unwrap().title, changed.title);
    for (key, entry) in keys.iter().zip(&before).skip(1) {
        assert_eq!(&store.entry(key).unwrap().unwrap(), entry);
    }
    drop(store);
    let db = sled::open(dir.path()).unwrap();
    assert_eq!(
        db.get(b"meta\0schema").unwrap().unwrap().as_ref(),
        thau::store::SCHEMA_VERSION.to_string().as_bytes()
    );
}
