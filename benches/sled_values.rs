//! What sled 0.34 costs per key written in one batch, by value size: the
//! store's floor (see BENCHMARKS.md). `cargo bench --bench sled_values`

use std::time::{Duration, Instant};

fn main() {
    println!("sled batch of 40 inserts, HighThroughput mode, median of 200 batches");
    // The first run warms up (allocator, threads) and is not shown.
    for (i, size) in [100usize, 100, 1000, 3000, 6000].into_iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new()
            .path(dir.path())
            .mode(sled::Mode::HighThroughput)
            .open()
            .unwrap();
        let value = vec![b'x'; size];
        let mut times: Vec<Duration> = (0..200)
            .map(|round| {
                let t = Instant::now();
                let mut batch = sled::Batch::default();
                for i in 0..40 {
                    batch.insert(format!("e\0g:s{round}\ncourrier-{round}-{i}").as_bytes(), value.clone());
                }
                db.apply_batch(batch).unwrap();
                t.elapsed()
            })
            .collect();
        times.sort();
        if i > 0 {
            println!(
                "  {size:>5}-byte values: {:5.1} µs per key",
                times[100].as_secs_f64() * 1e6 / 40.0
            );
        }
    }
}
