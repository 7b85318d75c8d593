//! Group commit: one flusher thread makes every waiting write durable at
//! once (sled 0.34 deadlocks when flushes run concurrently).

use super::*;

pub(super) const FLUSHER_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Group commit: one thread flushes sled for everyone who waits. sled 0.34
/// deadlocks when flushes run concurrently (its issues #1308 and #1241: each
/// `flush_async` parks a worker of its small pool, waiting for log writes
/// queued behind them), so no two flushes ever run at once here. A waiter
/// takes a ticket after its writes; the flush that starts after the ticket
/// was issued covers them, and serves every ticket issued before it started.
#[derive(Default)]
pub(super) struct GroupCommit {
    state: Mutex<CommitState>,
    /// Wakes the flusher when a ticket is issued, and blocking waiters when
    /// a flush ends.
    requested: Condvar,
    served: Condvar,
    /// The newest ticket served, for async waiters.
    done: tokio::sync::watch::Sender<u64>,
}

#[derive(Default)]
pub(super) struct CommitState {
    /// The newest ticket issued.
    issued: u64,
    /// The newest ticket a finished flush covered.
    served: u64,
    /// The last failed flush: the tickets it covered (from, to] and why.
    failed: Option<(u64, u64, String)>,
    stopping: bool,
    exited: bool,
}

impl GroupCommit {
    pub(super) fn request(&self) -> u64 {
        let mut state = lock(&self.state);
        state.issued += 1;
        self.requested.notify_one();
        state.issued
    }

    pub(super) fn wait(&self, ticket: u64) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        while state.served < ticket {
            state = self.served.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        drop(state);
        self.result_of(ticket)
    }

    pub(super) fn result_of(&self, ticket: u64) -> Result<(), StoreError> {
        match &lock(&self.state).failed {
            Some((from, to, why)) if (*from + 1..=*to).contains(&ticket) => Err(StoreError::Flush(why.clone())),
            _ => Ok(()),
        }
    }

    /// The flusher thread: flush whenever tickets are waiting, until stopped
    /// with none left.
    pub(super) fn run(&self, db: &RwLock<Option<Db>>) {
        loop {
            let (from, target) = {
                let mut state = lock(&self.state);
                while state.issued == state.served && !state.stopping {
                    state = self.requested.wait(state).unwrap_or_else(|e| e.into_inner());
                }
                if state.issued == state.served {
                    state.exited = true;
                    self.served.notify_all();
                    return;
                }
                (state.served, state.issued)
            };
            let current = db.read().unwrap_or_else(|e| e.into_inner()).clone();
            let result = match current {
                Some(Db::Sled(db)) => db.flush().map(drop).map_err(|e| e.to_string()),
                // Each PostgreSQL write is committed when it returns.
                Some(Db::Postgres(_)) => Ok(()),
                None => Err("the store is being reopened".to_string()),
            };
            let mut state = lock(&self.state);
            if let Err(e) = result {
                state.failed = Some((from, target, e));
            }
            state.served = target;
            drop(state);
            self.served.notify_all();
            self.done.send_replace(target);
        }
    }

    pub(super) fn stop(&self) {
        lock(&self.state).stopping = true;
        self.requested.notify_one();
    }

    /// Waits for the flusher to end, at most `grace`; whether it did.
    pub(super) fn wait_exit(&self, grace: std::time::Duration) -> bool {
        let state = lock(&self.state);
        let (state, _) = self
            .served
            .wait_timeout_while(state, grace, |s| !s.exited)
            .unwrap_or_else(|e| e.into_inner());
        state.exited
    }
}

impl Store {
    /// Makes every write that returned before this call durable: waits for
    /// the next flush of the store's one flusher thread (see [`GroupCommit`]).
    pub fn flush(&self) -> Result<(), StoreError> {
        if self.flusher.is_none() {
            // PostgreSQL: each write was committed when it returned.
            return Ok(());
        }
        let ticket = self.commits.request();
        self.wrote(self.commits.wait(ticket))
    }

    /// [`Store::flush`] without holding a thread: concurrent polls share
    /// one flush.
    pub async fn flush_async(&self) -> Result<(), StoreError> {
        if self.flusher.is_none() {
            return Ok(());
        }
        let ticket = self.commits.request();
        let mut done = self.commits.done.subscribe();
        // The sender lives as long as `self`: this only ends when served.
        let _ = done.wait_for(|served| *served >= ticket).await;
        self.wrote(self.commits.result_of(ticket))
    }
}
