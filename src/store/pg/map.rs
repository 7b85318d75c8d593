//! PostgreSQL as the store's ordered byte map (`thau_kv`): reads, scans
//! by pages, batches in one transaction with their log row, and writes that
//! lock the stories they touch.

use super::*;

/// Writes a batch inside `tx`: removals, then upserts, then (when it tells
/// publishers something) its log row and the notification that wakes them,
/// sent at commit.
/// The statements of a write, prepared on one connection.
pub(super) struct Prepared {
    lock: Statement,
    get: Statement,
    get_many: Statement,
    delete: Statement,
    upsert: Statement,
    notify: Statement,
    log: Statement,
}

impl Prepared {
    pub(super) fn of(c: &mut Conn) -> Result<Prepared, StoreError> {
        Ok(Prepared {
            lock: c.statement("SELECT count(pg_advisory_xact_lock(l)) FROM unnest($1::int8[]) AS l")?,
            get: c.statement("SELECT v FROM thau_kv WHERE k = $1")?,
            get_many: c.statement("SELECT k, v FROM thau_kv WHERE k = ANY($1)")?,
            delete: c.statement("DELETE FROM thau_kv WHERE k = ANY($1)")?,
            upsert: c.statement(
                "INSERT INTO thau_kv (k, v) SELECT * FROM unnest($1::bytea[], $2::bytea[]) \
                 ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v",
            )?,
            notify: c.statement("SELECT pg_notify($1, $2)")?,
            log: c.statement("INSERT INTO thau_log (writer, body) VALUES ($1, $2)")?,
        })
    }
}

pub(super) fn write_batch(
    tx: &mut postgres::Transaction<'_>,
    sql: &Prepared,
    batch: Batch,
    instance: &str,
) -> Result<(), StoreError> {
    let (ops, log) = batch.into_parts();
    let (mut set_k, mut set_v, mut del) = (Vec::new(), Vec::new(), Vec::new());
    for (k, v) in ops {
        match v {
            Some(v) => {
                set_k.push(k);
                set_v.push(v);
            }
            None => del.push(k),
        }
    }
    if !del.is_empty() {
        tx.execute(&sql.delete, &[&del])?;
    }
    if !set_k.is_empty() {
        tx.execute(&sql.upsert, &[&set_k, &set_v])?;
    }
    if let Some(log) = log {
        tell(tx, sql, instance, &log)?;
    }
    Ok(())
}

/// Tells publishers what the write in `tx` did: its log row, and the
/// notification that wakes them (sent at commit).
pub(super) fn tell(
    tx: &mut postgres::Transaction<'_>,
    sql: &Prepared,
    instance: &str,
    log: &[u8],
) -> Result<(), StoreError> {
    tx.execute(&sql.log, &[&instance, &log])?;
    tx.execute(&sql.notify, &[&CHANNEL, &instance])?;
    Ok(())
}

/// The advisory lock of a key, the same in every instance.
pub(super) fn key_lock(key: &[u8]) -> i64 {
    crate::model::stable_hash(key) as i64
}

/// Rows of a key range, a page per round trip.
pub struct Scan {
    pg: Arc<Pg>,
    from: Vec<u8>,
    from_inclusive: bool,
    to: Option<Vec<u8>>,
    rev: bool,
    rows: VecDeque<(Value, Value)>,
    done: bool,
}

impl Scan {
    pub(super) fn fetch(&mut self) -> Result<(), StoreError> {
        let (from, inclusive, to, rev) = (self.from.clone(), self.from_inclusive, self.to.clone(), self.rev);
        let rows: Vec<(Vec<u8>, Value)> = self.pg.run(move |c| {
            let rows = match (rev, to) {
                (false, Some(to)) if inclusive => c.query(
                    "SELECT k, v FROM thau_kv WHERE k >= $1 AND k < $2 ORDER BY k LIMIT $3",
                    &[&from, &to, &PAGE],
                )?,
                (false, Some(to)) => c.query(
                    "SELECT k, v FROM thau_kv WHERE k > $1 AND k < $2 ORDER BY k LIMIT $3",
                    &[&from, &to, &PAGE],
                )?,
                (false, None) if inclusive => c.query(
                    "SELECT k, v FROM thau_kv WHERE k >= $1 ORDER BY k LIMIT $2",
                    &[&from, &PAGE],
                )?,
                (false, None) => c.query(
                    "SELECT k, v FROM thau_kv WHERE k > $1 ORDER BY k LIMIT $2",
                    &[&from, &PAGE],
                )?,
                (true, Some(to)) => c.query(
                    "SELECT k, v FROM thau_kv WHERE k >= $1 AND k < $2 ORDER BY k DESC LIMIT $3",
                    &[&from, &to, &PAGE],
                )?,
                (true, None) => c.query(
                    "SELECT k, v FROM thau_kv WHERE k >= $1 ORDER BY k DESC LIMIT $2",
                    &[&from, &PAGE],
                )?,
            };
            Ok(rows
                .iter()
                .map(|r| (r.get::<_, Vec<u8>>(0), Value::from(r.get::<_, &[u8]>(1))))
                .collect())
        })?;
        self.done = (rows.len() as i64) < PAGE;
        if let Some((last, _)) = rows.last() {
            if rev {
                self.to = Some(last.clone());
            } else {
                self.from = last.clone();
                self.from_inclusive = false;
            }
        }
        self.rows.extend(rows.into_iter().map(|(k, v)| (Value::from(k), v)));
        Ok(())
    }
}

impl Iterator for Scan {
    type Item = Result<(Value, Value), StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rows.is_empty()
            && !self.done
            && let Err(e) = self.fetch()
        {
            self.done = true;
            return Some(Err(e));
        }
        self.rows.pop_front().map(Ok)
    }
}

impl Pg {
    /// The values of `keys` stored, in one round trip.
    pub fn get_many(&self, keys: Vec<Vec<u8>>) -> Result<HashMap<Vec<u8>, Value>, StoreError> {
        self.run(move |c| {
            let rows = c.query("SELECT k, v FROM thau_kv WHERE k = ANY($1)", &[&keys])?;
            Ok(rows
                .iter()
                .map(|r| (r.get::<_, Vec<u8>>(0), Value::from(r.get::<_, &[u8]>(1))))
                .collect())
        })
    }

    pub fn get(&self, key: &[u8]) -> Result<Option<Value>, StoreError> {
        let key = key.to_vec();
        self.run(move |c| {
            let rows = c.query("SELECT v FROM thau_kv WHERE k = $1", &[&key])?;
            Ok(rows.first().map(|r| Value::from(r.get::<_, &[u8]>(0))))
        })
    }

    pub fn insert(&self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        let (key, value) = (key.to_vec(), value.to_vec());
        self.run(move |c| {
            c.execute(
                "INSERT INTO thau_kv (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v",
                &[&key, &value],
            )?;
            Ok(())
        })
    }

    /// Written once records are what publishers render (archive pages,
    /// digests): the first instance to write one tells the others.
    pub fn insert_once(&self, key: &[u8], value: &[u8], log: Vec<u8>) -> Result<Value, StoreError> {
        let (key, value, instance) = (key.to_vec(), value.to_vec(), self.instance.clone());
        self.run(move |c| {
            let sql = Prepared::of(c)?;
            let mut tx = c.client()?.transaction()?;
            let inserted = tx.execute(
                "INSERT INTO thau_kv (k, v) VALUES ($1, $2) ON CONFLICT (k) DO NOTHING",
                &[&key, &value],
            )?;
            if inserted == 1 {
                tell(&mut tx, &sql, &instance, &log)?;
            }
            let rows = tx.query(&sql.get, &[&key])?;
            tx.commit()?;
            Ok(rows
                .first()
                .map_or_else(|| Value::from(value.as_slice()), |r| Value::from(r.get::<_, &[u8]>(0))))
        })
    }

    pub fn compare_and_swap(&self, key: &[u8], old: Option<&[u8]>, new: &[u8]) -> Result<bool, StoreError> {
        let (key, old, new) = (key.to_vec(), old.map(<[u8]>::to_vec), new.to_vec());
        self.run(move |c| {
            let n = match old {
                Some(old) => c.execute("UPDATE thau_kv SET v = $3 WHERE k = $1 AND v = $2", &[&key, &old, &new])?,
                None => c.execute(
                    "INSERT INTO thau_kv (k, v) VALUES ($1, $2) ON CONFLICT (k) DO NOTHING",
                    &[&key, &new],
                )?,
            };
            Ok(n == 1)
        })
    }

    pub fn remove(&self, key: &[u8]) -> Result<(), StoreError> {
        let key = key.to_vec();
        self.run(move |c| {
            c.execute("DELETE FROM thau_kv WHERE k = $1", &[&key])?;
            Ok(())
        })
    }

    /// A scan read a page of rows at a time.
    pub fn scan(self: Arc<Self>, from: Vec<u8>, to: Option<Vec<u8>>, rev: bool) -> Scan {
        Scan {
            pg: self,
            from,
            from_inclusive: true,
            to,
            rev,
            rows: VecDeque::new(),
            done: false,
        }
    }

    /// Applies a batch in one transaction.
    pub fn apply(&self, batch: Batch) -> Result<(), StoreError> {
        let instance = self.instance.clone();
        self.run(move |c| {
            let sql = Prepared::of(c)?;
            let mut tx = c.client()?.transaction()?;
            write_batch(&mut tx, &sql, batch, &instance)?;
            tx.commit()?;
            Ok(())
        })
    }

    /// One transaction: takes an advisory lock per key of `keys` (sorted:
    /// no deadlock between writers), reads them in one query, lets `merge`
    /// read more and say what to write, writes it and commits.
    /// Writers on other instances that touch the same keys wait their turn,
    /// so none merges into a story another is rewriting.
    pub fn write_locked<T: Send + 'static>(
        &self,
        keys: Vec<Vec<u8>>,
        merge: impl FnOnce(&mut Reads<'_>) -> Result<(Batch, T), StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let instance = self.instance.clone();
        self.run(move |c| {
            // Statements prepared once per connection: a poll's transaction
            // is then one round trip per statement.
            let sql = Prepared::of(c)?;
            let mut tx = c.client()?.transaction()?;
            let mut ids: Vec<i64> = keys.iter().map(|k| key_lock(k)).collect();
            ids.sort_unstable();
            ids.dedup();
            if !ids.is_empty() {
                tx.execute(&sql.lock, &[&ids])?;
            }
            let found: HashMap<Vec<u8>, Value> = if keys.is_empty() {
                HashMap::new()
            } else {
                tx.query(&sql.get_many, &[&keys])?
                    .iter()
                    .map(|r| (r.get::<_, Vec<u8>>(0), Value::from(r.get::<_, &[u8]>(1))))
                    .collect()
            };
            let (batch, out) = {
                let (tx, get) = (&mut tx, &sql.get);
                let mut reads = Reads::with(move |k| {
                    let rows = tx.query(get, &[&k])?;
                    Ok(rows.first().map(|r| Value::from(r.get::<_, &[u8]>(0))))
                });
                for k in keys {
                    let v = found.get(&k).cloned();
                    reads.seed(k, v);
                }
                merge(&mut reads)?
            };
            write_batch(&mut tx, &sql, batch, &instance)?;
            tx.commit()?;
            Ok(out)
        })
    }
}
