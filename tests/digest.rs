//! Digest feeds as a newsletter tool meets them: `digest = "daily"` on a
//! section, the real binary polling a real origin on 127.0.0.1 whose items
//! are dated around the last period boundary, and rss2email reading the
//! digest feed twice (each digest mailed exactly once).

mod support;

use chrono::{DateTime, Duration, DurationRound, Utc};
use support::{Origin, Route, Site, get, http};

const TOKEN: &str = "digest-test-admin-token";

/// An RSS document of `(title, published)` items.
fn rss(items: &[(&str, DateTime<Utc>)]) -> String {
    let mut x = String::from(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Le Courrier</title><link>https://courrier.example/</link>\n",
    );
    for (i, (title, at)) in items.iter().enumerate() {
        x.push_str(&format!(
            "<item><title>{title}</title><link>https://courrier.example/{i}</link><guid>https://courrier.example/{i}</guid>\
             <pubDate>{}</pubDate><description>Résumé de « {title} ».</description></item>\n",
            at.to_rfc2822()
        ));
    }
    x.push_str("</channel></rss>\n");
    x
}

fn config(origin: &Origin) -> String {
    format!(
        r#"[site]
language = "fr"

[server]
listen = "127.0.0.1:0"
base_url = "http://news.example"
admin_token = "{TOKEN}"

[[sections]]
slug = "sete"
title = "Sète"
digest = "daily"
digest_delay = "0s"

[[sections]]
slug = "plain"
title = "Sans résumé"

[[sources]]
name = "courrier"
url = "{}"
sections = ["sete", "plain"]
"#,
        origin.url("/courrier.xml")
    )
}

/// Items of a digest's RSS: (guid, title, description).
fn digest_items(xml: &str) -> Vec<(String, String, String)> {
    let field = |item: &str, tag: &str| {
        let open = item
            .find(&format!("<{tag}"))
            .map(|i| i + item[i..].find('>').unwrap() + 1);
        open.map(|start| item[start..start + item[start..].find(&format!("</{tag}>")).unwrap()].to_string())
            .unwrap_or_default()
    };
    xml.split("<item>")
        .skip(1)
        .map(|item| (field(item, "guid"), field(item, "title"), field(item, "description")))
        .collect()
}

/// Now, away from a period boundary (midnight UTC), so that the boundary
/// the test computes is the one thau computes a moment later.
fn now_clear_of_midnight() -> DateTime<Utc> {
    loop {
        let now = Utc::now();
        let since = now - now.duration_trunc(Duration::days(1)).unwrap();
        if since > Duration::minutes(3) && since < Duration::hours(24) - Duration::minutes(3) {
            return now;
        }
        std::thread::sleep(std::time::Duration::from_secs(10));
    }
}

#[test]
fn a_daily_digest_lists_each_ended_day_once_and_never_changes() {
    let now = now_clear_of_midnight();
    let end = now.duration_trunc(Duration::days(1)).unwrap();
    let yesterday = end - Duration::days(1);
    let origin = Origin::start();
    let items = vec![
        ("Joutes du canal", end - Duration::hours(12)),
        ("Marché de Noël", end - Duration::hours(6)),
        ("Conseil municipal", end - Duration::hours(36)),
        ("Il y a dix jours", end - Duration::days(10)),
        ("Aujourd'hui", now - Duration::minutes(2)),
    ];
    origin.route("/courrier.xml", Route::feed(rss(&items), "application/rss+xml"));
    let site = Site::new(&config(&origin));
    let serve = site.serve();
    support::wait_for("the startup poll", || {
        get(&serve.url("/sections/sete/rss.xml"))
            .text()
            .matches("<item>")
            .count()
            == 5
    });
    support::wait_for("the digests", || {
        digest_items(&get(&serve.url("/sections/sete/digest.xml")).text()).len() == 2
    });
    let first = get(&serve.url("/sections/sete/digest.xml"));
    assert_eq!(first.status, 200);
    assert_eq!(first.header("content-type"), Some("application/rss+xml; charset=utf-8"));
    let xml = first.text();
    assert!(
        xml.contains("<title>Sète · l&apos;essentiel du jour</title>")
            || xml.contains("<title>Sète · l'essentiel du jour</title>"),
        "{xml}"
    );
    let digests = digest_items(&xml);
    // Newest first: yesterday's (two stories, newest first), then the day
    // before's. Today's story waits for today to end; the one ten days
    // old is beyond the seven days made when a digest is first configured.
    let day = |d: DateTime<Utc>| format!("tag:thau,2026:sections/sete/digest/{}", d.format("%Y-%m-%dT%H:%M:%SZ"));
    assert_eq!(digests[0].0, day(end));
    assert_eq!(digests[1].0, day(yesterday));
    let fr_date = |d: DateTime<Utc>| {
        const MONTHS: [&str; 12] = [
            "janvier",
            "février",
            "mars",
            "avril",
            "mai",
            "juin",
            "juillet",
            "août",
            "septembre",
            "octobre",
            "novembre",
            "décembre",
        ];
        use chrono::Datelike;
        format!("{} {} {}", d.day(), MONTHS[d.month0() as usize], d.year())
    };
    assert_eq!(digests[0].1, format!("Sète, {}", fr_date(yesterday)));
    assert_eq!(
        digests[1].1,
        format!("Sète, {}", fr_date(yesterday - Duration::days(1)))
    );
    let body = &digests[0].2;
    let (noel, joutes) = (
        body.find("Marché de Noël").unwrap(),
        body.find("Joutes du canal").unwrap(),
    );
    assert!(noel < joutes, "newest first: {body}");
    assert!(body.contains("2 articles"), "{body}");
    assert!(body.contains("https://courrier.example/0"), "{body}");
    assert!(
        !body.contains("Conseil municipal") && !body.contains("Aujourd"),
        "{body}"
    );
    assert!(digests[1].2.contains("Conseil municipal"));
    assert!(!xml.contains("Il y a dix jours") && !xml.contains("Aujourd"), "{xml}");

    // The same digests in Atom and JSON Feed; a section without a digest has none.
    let atom = get(&serve.url("/sections/sete/digest.atom")).text();
    assert_eq!(atom.matches("<entry>").count(), 2, "{atom}");
    assert!(atom.contains("<id>tag:thau,2026:sections/sete/digest</id>"), "{atom}");
    let json: serde_json::Value = serde_json::from_slice(&get(&serve.url("/sections/sete/digest.json")).body).unwrap();
    assert_eq!(json["items"].as_array().unwrap().len(), 2);
    assert_eq!(get(&serve.url("/sections/plain/digest.xml")).status, 404);
    // The section's page offers it.
    let page = get(&serve.url("/sections/sete/")).text();
    assert!(
        page.contains("href=\"http://news.example/sections/sete/digest.xml\">l&#39;essentiel (RSS)</a>")
            || page.contains("href=\"http://news.example/sections/sete/digest.xml\">l'essentiel (RSS)</a>"),
        "{page}"
    );
    assert!(!get(&serve.url("/sections/plain/")).text().contains("digest.xml"));

    // A newsletter tool mails each digest once.
    let clients = support::clients_dir();
    let state = site.dir.path().join("r2e");
    let url = serve.url("/sections/sete/digest.xml");
    if let Some(clients) = &clients {
        let mail = support::client(clients, "rss2email-read.sh", &["-s", state.to_str().unwrap(), &url]);
        assert_eq!(mail["new_message_count"], 2, "{mail:#}");
        let v = std::process::Command::new(clients.join("validate-atom.sh"))
            .arg(serve.url("/sections/sete/digest.atom"))
            .output()
            .unwrap();
        assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
    }

    // A story dated yesterday that arrives late changes no digest: the
    // bytes, the ETag, what the tool mails.
    let mut late = items.clone();
    late.push(("Arrivé en retard", end - Duration::hours(3)));
    origin.route("/courrier.xml", Route::feed(rss(&late), "application/rss+xml"));
    let poll = http(
        "POST",
        &serve.url("/api/sources/courrier/poll"),
        &[("Authorization", &format!("Bearer {TOKEN}"))],
    );
    assert_eq!(poll.status, 200, "{}", poll.text());
    support::wait_for("the late story in the section feed", || {
        get(&serve.url("/sections/sete/rss.xml"))
            .text()
            .contains("Arrivé en retard")
    });
    let second = get(&serve.url("/sections/sete/digest.xml"));
    assert_eq!(second.text(), first.text());
    assert_eq!(second.header("etag"), first.header("etag"));
    if let Some(clients) = &clients {
        let mail = support::client(clients, "rss2email-read.sh", &["-s", state.to_str().unwrap(), &url]);
        assert_eq!(mail["new_message_count"], 0, "{mail:#}");
    }

    // A restart keeps them as they were.
    assert!(serve.terminate().success());
    let serve = site.serve();
    let third = get(&serve.url("/sections/sete/digest.xml"));
    assert_eq!(third.text(), first.text());
    assert_eq!(third.header("last-modified"), first.header("last-modified"));
}

#[test]
fn check_explains_digest_mistakes_with_their_lines() {
    let site = Site::new(
        r#"[[sections]]
slug = "sete"
title = "Sète"
digest = "hourly"

[[sections]]
slug = "meze"
title = "Mèze"
digest = "daily"
digest_day = "lundi"
digest_time = "7h"

[[sections]]
slug = "agde"
title = "Agde"
digest_time = "07:00"

[[sections]]
slug = "culture"
title = "Culture"
digest = "weekly"
digest_day = "vendredi"
digest_time = "18:30"
"#,
    );
    let run = site.thau(&["check"]);
    assert_eq!(run.code(), 2);
    let err = run.stderr();
    let file = site.config_path().display().to_string();
    for expected in [
        format!("{file}:4: section \"sete\": digest: expected \"daily\" or \"weekly\", not \"hourly\""),
        format!("{file}:10: section \"meze\": digest_day is for weekly digests"),
        format!("{file}:11: section \"meze\": digest_time: expected a time of day such as \"07:00\", not \"7h\""),
        format!("{file}:16: section \"agde\": digest_time needs digest = \"daily\" or \"weekly\""),
    ] {
        assert!(err.contains(&expected), "missing {expected:?} in:\n{err}");
    }
    assert!(!err.contains("culture"), "{err}");
}
