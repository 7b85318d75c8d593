//! Writes synthetic entries straight into a store, for the scale benchmark's
//! million-entry runs (`bench/scale.sh` polls real feeds up to 10,000
//! sources; a million entries would take hours to poll into existence).
//! Entries look like the generated feeds' (~1.5 KB of HTML, two
//! categories), spread over sources `s0`…, dated over the last year, and
//! written in polls of 20 (each source's last poll lists 20 entries).
//!
//! usage: [THAU_NEAR=0.65] fill_store STORE_PATH SOURCES ENTRIES_PER_SOURCE

use chrono::{Duration, Utc};
use thau::model::{Entry, FetchState, SourceRef};
use thau::store::Store;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [path, sources, per_source] = args.as_slice() else {
        eprintln!("usage: fill_store STORE_PATH SOURCES ENTRIES_PER_SOURCE");
        std::process::exit(2);
    };
    let (sources, per_source): (u64, u64) = (sources.parse().unwrap(), per_source.parse().unwrap());
    let store = Store::open(std::path::Path::new(path)).unwrap();
    // THAU_NEAR=0.65: with near-duplicate detection ([dedupe] similarity).
    store.set_near_duplicates(std::env::var("THAU_NEAR").ok().and_then(|s| s.parse().ok()));
    let towns = [
        "Sète",
        "Mèze",
        "Agde",
        "Montbazin",
        "Marseillan",
        "Balaruc",
        "Frontignan",
        "Bouzigues",
    ];
    let topics = ["Monde", "Culture", "Société", "Sport"];
    let now = Utc::now();
    let started = std::time::Instant::now();
    for s in 0..sources {
        let name = format!("s{s}");
        let entries: Vec<Entry> = (0..per_source)
            .map(|i| {
                let n = s * per_source + i;
                let link = format!("https://source{s}.example/articles/{i}.html");
                let t = now - Duration::minutes(((n * 7919) % (365 * 24 * 60)) as i64);
                let town = towns[(n % 8) as usize];
                let body: String = (0..4)
                    .map(|p| format!("<p>Paragraphe {p} de l'article {n}, {town}, étang de Thau, conseil municipal, quai de la Marine, joutes et marché du jeudi. <a href=\"https://source{s}.example/articles/{i}/{p}.html\">lire</a></p>"))
                    .collect();
                Entry {
                    key: format!("u:{link}"),
                    id: link.clone(),
                    link: Some(link),
                    title: format!("{town} : article {n} de la source {s}"),
                    summary: Some(format!("Résumé de l'article {n}, à {town}.")),
                    content: Some(body),
                    published: t,
                    updated: t,
                    first_seen: t,
                    dated: true,
                    generic_link: false,
                    image: None,
                    duration: None,
                    authors: vec![],
                    categories: vec![town.to_string(), topics[(n % 4) as usize].to_string()],
                    enclosures: vec![],
                    language: Some("fr".into()),
                    sources: vec![SourceRef {
                        name: name.clone(),
                        guid: None,
                        feed_title: Some(format!("Le journal {s}")),
                        feed_url: Some(format!("http://127.0.0.{}:18090/feed-{s}.xml", s % 32 + 1)),
                        feed_updated: None,
                        full_text: false,
                        updated: None,
                        categories: vec![town.to_string()],
                        fingerprint: format!("{n:032x}"),
                    }],
                }
            })
            .collect();
        // In polls of 20, as a feed would have given them over time: the
        // source's last document lists its 20 newest only.
        for poll in entries.chunks(20) {
            let mut state = FetchState::default();
            store.apply_poll(&name, poll.to_vec(), vec![], &mut state, now).unwrap();
        }
        if s % 1000 == 999 {
            store.flush().unwrap();
            eprintln!("{} sources, {:.0}s", s + 1, started.elapsed().as_secs_f64());
        }
    }
    store.flush().unwrap();
    println!(
        "{} entries in {:.1}s",
        sources * per_source,
        started.elapsed().as_secs_f64()
    );
}
