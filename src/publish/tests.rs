//! Snapshots of the three formats for a fixed set of entries, and each
//! format read back by an independent parser (feed-rs, serde_json).

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::*;
use crate::config::Config;
use crate::model::{Enclosure, Entry, Person, SourceRef};

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn source(name: &str, url: Option<&str>, title: &str) -> SourceRef {
    SourceRef {
        name: name.into(),
        guid: None,
        feed_title: Some(title.into()),
        feed_url: url.map(Into::into),
        feed_updated: None,
        full_text: false,
        updated: None,
        categories: vec![],
        fingerprint: String::new(),
    }
}

pub(crate) fn sample_entries() -> Vec<Arc<Entry>> {
    let joutes = Entry {
        key: "g:courrier\ncourrier-4102".into(),
        id: "courrier-4102".into(),
        link: Some("https://courrier-thau.example/sete/saint-louis.html".into()),
        title: "Sète : la Saint-Louis & ses joutes".into(),
        summary: Some("Les joutes ont réuni une foule record.".into()),
        content: Some(r#"<p>Les <strong>joutes</strong> &amp; la fête. <a href="https://courrier-thau.example/p.html" rel="noopener noreferrer">Palmarès</a></p>"#.into()),
        published: t("2026-11-24T17:30:00Z"),
        updated: t("2026-11-24T18:00:00Z"),
        first_seen: t("2026-11-24T17:31:00Z"),
        dated: true,
        generic_link: false,
        image: None,
        duration: None,
        authors: vec![Person { name: "Camille Roux".into(), email: None, uri: None }],
        categories: vec!["Sète".into(), "Culture".into()],
        enclosures: vec![Enclosure {
            url: "https://courrier-thau.example/joutes.mp3".into(),
            media_type: Some("audio/mpeg".into()),
            length: Some(4812345),
        }],
        language: Some("fr".into()),
        sources: vec![SourceRef {
            // atom:source carries the paper's feed date, not the entry's.
            feed_updated: Some(t("2026-11-24T18:31:00Z")),
            ..source("courrier", Some("https://courrier-thau.example/rss.xml"), "Le Courrier du Bassin de Thau")
        }],
    };
    let budget = Entry {
        key: "u:https://www.agde-ville.example/actualites/budget-2027".into(),
        id: "https://www.agde-ville.example/actualites/budget-2027".into(),
        link: Some("https://www.agde-ville.example/actualites/budget-2027".into()),
        title: "Budget 2027 : les priorités de la ville".into(),
        summary: None,
        content: Some("<p>Écoles, voirie et port.</p>".into()),
        published: t("2026-11-23T19:00:00Z"),
        updated: t("2026-11-24T08:00:00Z"),
        first_seen: t("2026-11-24T09:00:00Z"),
        dated: true,
        generic_link: false,
        image: None,
        duration: None,
        authors: vec![],
        categories: vec!["Agde".into(), "Société".into()],
        enclosures: vec![],
        language: Some("fr".into()),
        sources: vec![
            source("agde-ville", None, "Ville d’Agde"),
            source(
                "courrier",
                Some("https://courrier-thau.example/rss.xml"),
                "Le Courrier du Bassin de Thau",
            ),
        ],
    };
    vec![Arc::new(joutes), Arc::new(budget)]
}

fn section() -> crate::config::Section {
    let config = Config::parse(
        "[[sections]]\nslug = \"sete\"\ntitle = \"Sète\"\ndescription = \"Toute l'actualité de Sète\"\n",
        Path::new("feeds.toml"),
    )
    .unwrap();
    config.sections[0].clone()
}

fn render(format: Format) -> String {
    let section = section();
    let entries = sample_entries();
    let feed = SectionFeed {
        section: &section,
        base_url: "http://127.0.0.1:8080",
        kind: FeedKind::Section,
        archives: 0,
        hub: None,
        entries: &entries,
    };
    String::from_utf8(format.render(&feed)).unwrap()
}

#[test]
fn rss_snapshot() {
    insta::assert_snapshot!(render(Format::Rss));
}

#[test]
fn atom_snapshot() {
    insta::assert_snapshot!(render(Format::Atom));
}

#[test]
fn json_feed_snapshot() {
    insta::assert_snapshot!(render(Format::Json));
}

#[test]
fn every_format_reads_back_with_an_independent_parser() {
    for format in [Format::Rss, Format::Atom, Format::Json] {
        let parsed = feed_rs::parser::parse(render(format).as_bytes()).unwrap_or_else(|e| panic!("{format:?}: {e}"));
        assert_eq!(parsed.entries.len(), 2, "{format:?}");
        let first = &parsed.entries[0];
        assert_eq!(
            first.title.as_ref().unwrap().content,
            "Sète : la Saint-Louis & ses joutes",
            "{format:?}"
        );
        assert_eq!(first.published, Some(t("2026-11-24T17:30:00Z")), "{format:?}");
        assert_eq!(first.id, "tag:thau,2026:courrier/courrier-4102", "{format:?}");
        assert_eq!(
            parsed.entries[1].id,
            "https://www.agde-ville.example/actualites/budget-2027"
        );
    }
}

#[test]
fn rendering_is_deterministic_and_dates_come_from_entries() {
    for format in Format::ALL {
        assert_eq!(render(format), render(format));
    }
    let rss = render(Format::Rss);
    assert!(
        rss.contains("<lastBuildDate>Tue, 24 Nov 2026 18:00:00 +0000</lastBuildDate>"),
        "{rss}"
    );
    let empty = SectionFeed {
        section: &section(),
        base_url: "http://x",
        kind: FeedKind::Section,
        archives: 0,
        hub: None,
        entries: &[],
    };
    assert_eq!(empty.updated(), DateTime::UNIX_EPOCH);
}

#[test]
fn newest_first_is_a_total_order() {
    let mut entries = sample_entries();
    let mut twin = (*entries[0]).clone();
    twin.key = "g:other\ncourrier-4102".into();
    twin.sources[0].name = "other".into();
    entries.push(Arc::new(twin));
    entries.reverse();
    entries.sort_by(|a, b| newest_first(a, b));
    let keys: Vec<&str> = entries.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "g:courrier\ncourrier-4102",
            "g:other\ncourrier-4102",
            "u:https://www.agde-ville.example/actualites/budget-2027"
        ]
    );
}
