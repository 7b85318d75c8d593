//! What compressing a rendered feed costs at each level, against the
//! levels thau used before (gzip 9, brotli 9), on the same bytes in the
//! same run: a real-world feed from the corpus (`THAU_CORPUS`, else
//! `../shared/corpus`) and a section of 45 entries of 200 KB of words.
//! `cargo bench --bench compress`

use std::io::Write;
use std::time::Instant;

fn gzip(body: &[u8], level: u32) -> usize {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
    e.write_all(body).unwrap();
    e.finish().unwrap().len()
}

fn brotli(body: &[u8], quality: i32) -> usize {
    let mut out = Vec::new();
    let params = brotli::enc::BrotliEncoderParams {
        quality,
        ..Default::default()
    };
    brotli::BrotliCompress(&mut &body[..], &mut out, &params).unwrap();
    out.len()
}

/// Median seconds of `runs` runs, and the size.
fn measure(runs: usize, f: impl Fn() -> usize) -> (f64, usize) {
    let mut times = Vec::with_capacity(runs);
    let mut size = 0;
    for _ in 0..runs {
        let t = Instant::now();
        size = f();
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(|a, b| a.total_cmp(b));
    (times[runs / 2], size)
}

fn report(name: &str, body: &[u8], runs: usize) {
    println!("{name}: {} bytes, median of {runs}", body.len());
    let (base_gz, _) = measure(runs, || gzip(body, 9));
    for level in [1, 4, 6, 9] {
        let (t, size) = measure(runs, || gzip(body, level));
        println!(
            "  gzip {level}:   {:5.1}% of the bytes, {:.2}x gzip 9's time",
            100.0 * size as f64 / body.len() as f64,
            t / base_gz
        );
    }
    let (base_br, _) = measure(runs, || brotli(body, 9));
    for quality in [4, 5, 6, 9] {
        let (t, size) = measure(runs, || brotli(body, quality));
        println!(
            "  brotli {quality}: {:5.1}% of the bytes, {:.2}x brotli 9's time",
            100.0 * size as f64 / body.len() as f64,
            t / base_br
        );
    }
}

fn main() {
    let corpus = std::env::var_os("THAU_CORPUS").map_or_else(|| "../shared/corpus".into(), std::path::PathBuf::from);
    let real = corpus.join("node-feedparser/test/feeds/wapowellness.xml");
    match std::fs::read(&real) {
        Ok(body) => report("a real-world feed (wapowellness.xml)", &body, 21),
        Err(_) => println!("SKIPPED: no corpus at {} (set THAU_CORPUS)", corpus.display()),
    }
    // Words drawn from a fixed vocabulary by a fixed generator: the same
    // bytes in every run.
    let mut seed = 1u64;
    let mut next = || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 33) as usize
    };
    let vocabulary: Vec<String> = (0..50_000)
        .map(|_| {
            (0..2 + next() % 9)
                .map(|_| (b'a' + (next() % 26) as u8) as char)
                .collect()
        })
        .collect();
    let mut section = String::from("<rss version=\"2.0\"><channel><title>long</title>");
    for i in 0..45 {
        section.push_str(&format!(
            "<item><guid>g{i}</guid><title>t{i}</title><description>&lt;p&gt;"
        ));
        while section.len() < (i + 1) * 200_000 {
            section.push_str(&vocabulary[next() % vocabulary.len()]);
            section.push(' ');
        }
        section.push_str("&lt;/p&gt;</description></item>");
    }
    section.push_str("</channel></rss>");
    report("a section of 45 entries of 200 KB", section.as_bytes(), 3);
}
