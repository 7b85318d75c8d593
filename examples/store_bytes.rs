//! Where a sled store's bytes go: per key space (the key's first part,
//! before `\0`), how many rows, their key and value bytes, and the
//! folder's size on disk beside it. With `CODECS=1`, also what the
//! entries would weigh, and cost to encode, in other forms. For
//! `BENCHMARKS.md`'s per-entry breakdown.
//!
//! usage: [CODECS=1] store_bytes STORE_PATH   (the store must not be in use)

use std::collections::BTreeMap;
use std::time::Instant;

use thau::model::Entry;

fn main() {
    let path = std::env::args().nth(1).unwrap_or_else(|| {
        eprintln!("usage: store_bytes STORE_PATH");
        std::process::exit(2);
    });
    let db = sled::Config::new().path(&path).open().expect("the store opens");
    let mut spaces: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
    let mut entries = Vec::new();
    for row in db.iter() {
        let (k, v) = row.expect("rows read");
        let space = match k.iter().position(|&b| b == 0) {
            Some(i) => String::from_utf8_lossy(&k[..i]).into_owned(),
            None => "?".into(),
        };
        let s = spaces.entry(space.clone()).or_default();
        s.0 += 1;
        s.1 += k.len() as u64;
        s.2 += v.len() as u64;
        if space == "e" {
            entries.push(thau::store::decode_entry(&k, &v).expect("entries decode"));
        }
    }
    let n = entries.len().max(1) as f64;
    let per = |x: u64| x as f64 / n;
    let disk = folder_bytes(std::path::Path::new(&path));
    println!("{} entries; on disk {disk} B = {:.0} B/entry", entries.len(), per(disk));
    println!(
        "{:<6} {:>9} {:>12} {:>14} {:>12}",
        "space", "rows", "key B/entry", "value B/entry", "rows/entry"
    );
    let (mut keys, mut values) = (0, 0);
    for (space, (rows, k, v)) in &spaces {
        keys += k;
        values += v;
        println!(
            "{space:<6} {rows:>9} {:>12.0} {:>14.0} {:>12.2}",
            per(*k),
            per(*v),
            per(*rows)
        );
    }
    println!(
        "logical (keys + values): {:.0} B/entry; sled's own beside it: {:.0} B/entry",
        per(keys + values),
        per(disk.saturating_sub(keys + values))
    );
    if std::env::var_os("CODECS").is_some() {
        codecs(&entries);
    }
}

/// Size and encoding time per entry of each form, on these entries.
fn codecs(entries: &[Entry]) {
    let json: Vec<Vec<u8>> = entries.iter().map(|e| serde_json::to_vec(e).unwrap()).collect();
    let measure = |name: &str, encode: &dyn Fn(usize) -> usize| {
        let start = Instant::now();
        let size: usize = (0..entries.len()).map(encode).sum();
        let took = start.elapsed().as_secs_f64();
        println!(
            "  {name:<28} {:6.0} B/entry, {:5.1} µs/entry",
            size as f64 / entries.len() as f64,
            took * 1e6 / entries.len() as f64
        );
    };
    println!("entry values:");
    measure("JSON", &|i| serde_json::to_vec(&entries[i]).unwrap().len());
    measure("JSON + LZ4 (schema 2)", &|i| {
        lz4_flex::block::compress(&serde_json::to_vec(&entries[i]).unwrap()).len() + 5
    });
    measure("binary + LZ4 (schema 3)", &|i| {
        thau::store::encode_entry(&entries[i]).len()
    });
    let old: Vec<Vec<u8>> = json
        .iter()
        .map(|j| [&[1u8][..], &lz4_flex::block::compress_prepend_size(j)].concat())
        .collect();
    let new: Vec<Vec<u8>> = entries.iter().map(thau::store::encode_entry).collect();
    for (name, bytes) in [("decoding schema 2", &old), ("decoding schema 3", &new)] {
        let start = Instant::now();
        for b in bytes {
            std::hint::black_box(thau::store::decode_entry(b"e", b).unwrap());
        }
        println!(
            "  {name:<28} {:5.1} µs/entry",
            start.elapsed().as_secs_f64() * 1e6 / entries.len() as f64
        );
    }
    for level in [1, 6] {
        let c = std::cell::RefCell::new(flate2::Compress::new(flate2::Compression::new(level), false));
        measure(&format!("JSON + deflate {level}"), &|i| {
            let mut c = c.borrow_mut();
            c.reset();
            let mut out = Vec::with_capacity(json[i].len() + 64);
            c.compress_vec(&json[i], &mut out, flate2::FlushCompress::Finish)
                .unwrap();
            out.len() + 5
        });
    }
    measure("brotli 1 (of JSON)", &|i| {
        let params = brotli::enc::BrotliEncoderParams {
            quality: 1,
            lgwin: 16,
            ..Default::default()
        };
        let mut out = Vec::new();
        brotli::BrotliCompress(&mut &json[i][..], &mut out, &params).unwrap();
        out.len() + 5
    });
}

fn folder_bytes(path: &std::path::Path) -> u64 {
    std::fs::read_dir(path)
        .map(|dir| {
            dir.flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => folder_bytes(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}
