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
