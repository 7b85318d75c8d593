//! Editing `feeds.toml` for the admin commands (`thau import`, `thau
//! remove`) and reading and writing OPML subscription lists. Edits go
//! through toml_edit, so comments and layout are kept; the result must pass
//! the same checks as `thau check` before it is written, and it is written
//! atomically (a temporary file renamed over the old one), so a running
//! daemon reloads either the old file or the new one. Depends on `config`
//! and `model`.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::Path;

use quick_xml::events::Event;
use toml_edit::{ArrayOfTables, DocumentMut, Item, Table, value};

use crate::config::{Config, ConfigError, Location};
use crate::model::fold;
use crate::normalize::escape_html as esc;

#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("{0} is not valid TOML: {1}")]
    Toml(String, String),
    #[error("the edited file would not pass `thau check`, so it was not written:\n{0}")]
    Invalid(ConfigError),
    /// (The message, with a "did you mean" when a name is close.)
    #[error("{0}")]
    NoSuchSource(String),
    #[error("cannot write {0}: {1}")]
    Write(String, std::io::Error),
    #[error("cannot read {0}: {1}")]
    Read(String, std::io::Error),
    #[error("{0} does not pass `thau check` as it is; fix it first:\n{1}")]
    Current(String, ConfigError),
    #[error("{0} is already followed as \"{1}\"")]
    Followed(String, String),
    #[error("not an OPML subscription list: {0}")]
    Opml(String),
    #[error("{0}: {1}")]
    InFile(String, Box<EditError>),
    #[error("it lists more than {MAX_OPML_FEEDS} feeds: nothing was imported; import it in parts")]
    TooManyFeeds,
    /// (Nothing to unhide, unpin or unpick.)
    #[error("\"{0}\" is not hidden, pinned or picked there (`thau hide`, `thau pin` list what is)")]
    NotHidden(String),
}

/// A feed to add as a `[[sources]]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSource {
    pub name: String,
    pub url: String,
    pub title: Option<String>,
    pub sections: Vec<String>,
}

/// `text` (the file at `path`) with `sources` appended, checked.
pub fn add_sources(text: &str, path: &Path, sources: &[NewSource]) -> Result<String, EditError> {
    let mut doc = parse(text, path)?;
    if !doc.contains_key("sources") {
        doc.insert("sources", Item::ArrayOfTables(ArrayOfTables::new()));
    }
    let array = doc["sources"]
        .as_array_of_tables_mut()
        .ok_or_else(|| EditError::Toml(path.display().to_string(), "sources is not an array of tables".into()))?;
    for s in sources {
        let mut t = Table::new();
        t.decor_mut().set_prefix("\n");
        t["name"] = value(s.name.as_str());
        t["url"] = value(s.url.as_str());
        if let Some(title) = &s.title {
            t["title"] = value(title.as_str());
        }
        if !s.sections.is_empty() {
            let mut list = toml_edit::Array::new();
            for slug in &s.sections {
                list.push(slug.as_str());
            }
            t["sections"] = value(list);
        }
        array.push(t);
    }
    checked(doc.to_string(), path)
}

/// `text` without the `[[sources]]` table of `name`, checked.
pub fn remove_source(text: &str, path: &Path, name: &str) -> Result<String, EditError> {
    let mut doc = parse(text, path)?;
    let array = doc
        .get_mut("sources")
        .and_then(Item::as_array_of_tables_mut)
        .ok_or_else(|| EditError::NoSuchSource(format!("no source named \"{name}\"")))?;
    let at = array
        .iter()
        .position(|t| t.get("name").and_then(Item::as_str) == Some(name))
        .ok_or_else(|| EditError::NoSuchSource(format!("no source named \"{name}\"")))?;
    array.remove(at);
    checked(doc.to_string(), path)
}

/// What the desk does to a story: `thau hide`, `pin`, `pick` and their
/// undoing, and the admin API's verbs of those names.
#[derive(Debug, Clone, Copy)]
pub enum DeskEdit<'a> {
    Hide {
        reason: Option<&'a str>,
    },
    Unhide,
    Pin {
        section: &'a str,
        until: Option<&'a str>,
    },
    /// In `section`, or everywhere.
    Unpin {
        section: Option<&'a str>,
    },
    Pick {
        section: &'a str,
    },
    Unpick {
        section: &'a str,
    },
}

impl DeskEdit<'_> {
    /// `text` (the file at `path`, which holds `now`) with this done to
    /// `story`, checked; None when it is so already.
    pub fn apply(
        self,
        text: &str,
        path: &Path,
        now: &Config,
        story: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<String>, EditError> {
        let pinned = |section: &str| now.pinned.iter().any(|p| p.story == story && p.section == section);
        let picked = |section: &str| now.picked.iter().any(|p| p.story == story && p.section == section);
        Ok(Some(match self {
            DeskEdit::Hide { .. } if now.hidden.iter().any(|h| h.story == story) => return Ok(None),
            DeskEdit::Hide { reason } => hide_story(text, path, story, reason, at)?,
            DeskEdit::Unhide => unhide_story(text, path, story)?,
            DeskEdit::Pin { section, .. } if pinned(section) => return Ok(None),
            DeskEdit::Pin { section, until } => pin_story(text, path, true, story, section, until, at)?,
            DeskEdit::Unpin { section } => unpin_story(text, path, true, story, section)?,
            DeskEdit::Pick { section } if picked(section) => return Ok(None),
            DeskEdit::Pick { section } => pin_story(text, path, false, story, section, None, at)?,
            DeskEdit::Unpick { section } => unpin_story(text, path, false, story, Some(section))?,
        }))
    }
}

/// `text` with a `[[hidden]]` table for `story` appended, checked.
pub fn hide_story(
    text: &str,
    path: &Path,
    story: &str,
    reason: Option<&str>,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<String, EditError> {
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    add_table(text, path, "hidden", &[("story", Some(story)), ("reason", reason)], at)
}

/// `text` without the `[[hidden]]` table of `story`, checked.
pub fn unhide_story(text: &str, path: &Path, story: &str) -> Result<String, EditError> {
    remove_tables(text, path, "hidden", story, None)
}

/// `text` with a `[[pinned]]` (or, with `pin` false, `[[picked]]`) table
/// for `story` in `section` appended, checked.
pub fn pin_story(
    text: &str,
    path: &Path,
    pin: bool,
    story: &str,
    section: &str,
    until: Option<&str>,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<String, EditError> {
    let key = if pin { "pinned" } else { "picked" };
    let fields = [
        ("story", Some(story)),
        ("section", Some(section)),
        ("until", until.filter(|_| pin)),
    ];
    add_table(text, path, key, &fields, at)
}

/// `text` without the `[[pinned]]` (or `[[picked]]`) tables of `story`
/// (in `section`, or in any), checked.
pub fn unpin_story(
    text: &str,
    path: &Path,
    pin: bool,
    story: &str,
    section: Option<&str>,
) -> Result<String, EditError> {
    remove_tables(text, path, if pin { "pinned" } else { "picked" }, story, section)
}

/// `text` with a `[[keys]]` table: subscriber `name`, the private
/// `sections` the key opens, and its SHA-256 (the key is never written).
pub fn add_key(text: &str, path: &Path, name: &str, sections: &[String], sha256: &str) -> Result<String, EditError> {
    let mut doc = parse(text, path)?;
    if !doc.contains_key("keys") {
        doc.insert("keys", Item::ArrayOfTables(ArrayOfTables::new()));
    }
    let array = doc["keys"]
        .as_array_of_tables_mut()
        .ok_or_else(|| EditError::Toml(path.display().to_string(), "keys is not an array of tables".into()))?;
    let mut t = Table::new();
    t.decor_mut().set_prefix("\n");
    t["name"] = value(name);
    let mut list = toml_edit::Array::new();
    for slug in sections {
        list.push(slug.as_str());
    }
    t["sections"] = value(list);
    t["sha256"] = value(sha256);
    array.push(t);
    checked(doc.to_string(), path)
}

/// `text` without the `[[keys]]` table of subscriber `name`.
pub fn remove_key(text: &str, path: &Path, name: &str) -> Result<String, EditError> {
    let mut doc = parse(text, path)?;
    let none = || EditError::NoSuchSource(format!("no key named \"{name}\""));
    let array = doc
        .get_mut("keys")
        .and_then(Item::as_array_of_tables_mut)
        .ok_or_else(none)?;
    let at = array
        .iter()
        .position(|t| t.get("name").and_then(Item::as_str) == Some(name))
        .ok_or_else(none)?;
    array.remove(at);
    if array.is_empty() {
        doc.remove("keys");
    }
    checked(doc.to_string(), path)
}

/// `text` with a `[[key]]` table of `fields` (those given) and `at`.
fn add_table(
    text: &str,
    path: &Path,
    key: &str,
    fields: &[(&str, Option<&str>)],
    at: chrono::DateTime<chrono::Utc>,
) -> Result<String, EditError> {
    let mut doc = parse(text, path)?;
    if !doc.contains_key(key) {
        doc.insert(key, Item::ArrayOfTables(ArrayOfTables::new()));
    }
    let array = doc[key]
        .as_array_of_tables_mut()
        .ok_or_else(|| EditError::Toml(path.display().to_string(), format!("{key} is not an array of tables")))?;
    let mut t = Table::new();
    t.decor_mut().set_prefix("\n");
    for (name, v) in fields {
        if let Some(v) = v {
            t[*name] = value(*v);
        }
    }
    t["at"] = value(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    array.push(t);
    checked(doc.to_string(), path)
}

/// `text` without the `[[key]]` tables of `story` (in `section` when
/// given); [`EditError::NotHidden`] when there is none.
fn remove_tables(text: &str, path: &Path, key: &str, story: &str, section: Option<&str>) -> Result<String, EditError> {
    let mut doc = parse(text, path)?;
    let none = || EditError::NotHidden(story.to_string());
    let array = doc
        .get_mut(key)
        .and_then(Item::as_array_of_tables_mut)
        .ok_or_else(none)?;
    let before = array.len();
    array.retain(|t| {
        let named = t.get("story").and_then(Item::as_str).map(str::trim) == Some(story);
        let in_section = section.is_none_or(|s| t.get("section").and_then(Item::as_str) == Some(s));
        !(named && in_section)
    });
    if array.len() == before {
        return Err(none());
    }
    if array.is_empty() {
        doc.remove(key);
    }
    checked(doc.to_string(), path)
}

fn parse(text: &str, path: &Path) -> Result<DocumentMut, EditError> {
    text.parse::<DocumentMut>()
        .map_err(|e| EditError::Toml(path.display().to_string(), e.to_string()))
}

fn checked(text: String, path: &Path) -> Result<String, EditError> {
    Config::parse(&text, path).map_err(EditError::Invalid)?;
    Ok(text)
}

/// The edit lock of a `feeds.toml`: held while one command reads, edits
/// and writes it, so that concurrent edits (`thau add` run twice at once)
/// follow one another instead of losing one. An OS lock on
/// `{file}.lock` beside it: released when dropped, or when the process
/// dies.
pub struct EditLock(#[allow(dead_code)] std::fs::File);

/// Waits for, then takes, `path`'s edit lock.
pub fn lock(path: &Path) -> Result<EditLock, EditError> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    let lock_path = path.with_file_name(name);
    let err = |e: std::io::Error| EditError::Write(lock_path.display().to_string(), e);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(err)?;
    file.lock().map_err(err)?;
    Ok(EditLock(file))
}

/// Reads `path`, edits its text with `edit` (given the text and the config
/// it holds now), and writes the result atomically, all under the edit
/// lock: what another command wrote meanwhile is read, not overwritten.
pub fn edit_file(path: &Path, edit: impl FnOnce(&str, &Config) -> Result<String, EditError>) -> Result<(), EditError> {
    let _lock = lock(path)?;
    let text = std::fs::read_to_string(path).map_err(|e| EditError::Read(path.display().to_string(), e))?;
    let config = Config::parse(&text, path).map_err(|e| EditError::Current(path.display().to_string(), e))?;
    let new = edit(&text, &config)?;
    if new == text {
        return Ok(());
    }
    write_atomically(path, &new)
}

/// Writes `text` to `path` through a temporary file in the same folder.
pub fn write_atomically(path: &Path, text: &str) -> Result<(), EditError> {
    let err = |e: std::io::Error| EditError::Write(path.display().to_string(), e);
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".feeds-")
        .suffix(".toml")
        .tempfile_in(dir)
        .map_err(err)?;
    tmp.write_all(text.as_bytes()).map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    // Keep the file's permissions (it may hold tokens).
    if let Ok(meta) = std::fs::metadata(path) {
        std::fs::set_permissions(tmp.path(), meta.permissions()).map_err(err)?;
    }
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}

/// A feed an OPML file lists, with the folders it sits in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outline {
    pub title: Option<String>,
    pub xml_url: String,
    pub folders: Vec<String>,
}

/// The most feeds one OPML import takes: past it the file is refused
/// whole (split it), rather than half imported or held in memory.
pub const MAX_OPML_FEEDS: usize = 10_000;
/// Folders deeper than this are not named (their feeds are still read).
const MAX_OPML_DEPTH: usize = 32;

/// Every outline with an `xmlUrl` (OPML 1.0 and 2.0, nested folders), at
/// most [`MAX_OPML_FEEDS`].
pub fn read_opml(bytes: &[u8]) -> Result<Vec<Outline>, EditError> {
    let mut reader = quick_xml::Reader::from_reader(bytes);
    let mut folders: Vec<Option<String>> = Vec::new();
    let mut outlines = Vec::new();
    let mut saw_opml = false;
    let mut buf = Vec::new();
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| EditError::Opml(e.to_string()))?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(event, Event::Empty(_));
                let name = e.local_name();
                if name.as_ref().eq_ignore_ascii_case("opml") {
                    saw_opml = true;
                }
                if !name.as_ref().eq_ignore_ascii_case("outline") {
                    continue;
                }
                let mut attr = std::collections::HashMap::new();
                for a in e.attributes().flatten() {
                    let key = a.key.local_name().as_ref().to_ascii_lowercase();
                    let raw = a.value.to_string();
                    let v = quick_xml::escape::unescape(&raw)
                        .map_or_else(|_| raw.clone(), |u| u.into_owned())
                        .trim()
                        .to_string();
                    attr.insert(key, v);
                }
                let title = attr
                    .get("title")
                    .or(attr.get("text"))
                    .filter(|t| !t.is_empty())
                    .cloned();
                match attr.get("xmlurl").filter(|u| !u.is_empty()) {
                    Some(url) => {
                        if outlines.len() == MAX_OPML_FEEDS {
                            return Err(EditError::TooManyFeeds);
                        }
                        outlines.push(Outline {
                            title,
                            xml_url: url.clone(),
                            folders: folders.iter().take(MAX_OPML_DEPTH).flatten().cloned().collect(),
                        });
                        if !empty {
                            folders.push(None);
                        }
                    }
                    None if !empty => folders.push(title),
                    None => {}
                }
            }
            Event::End(ref e) if e.local_name().as_ref().eq_ignore_ascii_case("outline") => {
                folders.pop();
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if !saw_opml {
        return Err(EditError::Opml("no <opml> element".into()));
    }
    Ok(outlines)
}

/// A source name from a feed's title (or its host): `[A-Za-z0-9._-]+`,
/// not one of `taken`.
pub fn derive_name(title: Option<&str>, url: &str, taken: &HashSet<String>) -> String {
    let from = |text: &str| -> String {
        let folded = fold(text);
        let mut name = String::new();
        for c in folded.chars() {
            if c.is_ascii_alphanumeric() {
                name.push(c);
            } else if !name.ends_with('-') && !name.is_empty() {
                name.push('-');
            }
        }
        name.trim_matches('-')
            .chars()
            .take(40)
            .collect::<String>()
            .trim_matches('-')
            .to_string()
    };
    let mut base = title.map(from).unwrap_or_default();
    if base.is_empty() {
        base = url::Url::parse(url)
            .ok()
            .and_then(|u| u.host_str().map(from))
            .unwrap_or_default();
    }
    if base.is_empty() {
        base = "source".into();
    }
    let mut name = base.clone();
    let mut n = 2;
    while taken.contains(&name) {
        name = format!("{base}-{n}");
        n += 1;
    }
    name
}

/// The sources as an OPML 2.0 subscription list (the feeds thau reads, not
/// the ones it publishes), one folder per first section. URLs are
/// redacted as everywhere thau shows them: a list is shared, credentials
/// are not.
pub fn sources_opml(config: &Config) -> String {
    let mut o = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<opml version=\"2.0\">\n");
    o.push_str("<head><title>thau sources</title></head>\n<body>\n");
    let mut folders: Vec<(Option<&str>, Vec<&crate::config::Source>)> = Vec::new();
    for s in &config.sources {
        let Location::Url(_) = &s.location else { continue };
        let folder = s.sections.first().map(String::as_str);
        match folders.iter_mut().find(|(f, _)| *f == folder) {
            Some((_, list)) => list.push(s),
            None => folders.push((folder, vec![s])),
        }
    }
    for (folder, sources) in folders {
        let indent = if folder.is_some() { "  " } else { "" };
        if let Some(slug) = folder {
            let title = config
                .sections
                .iter()
                .find(|s| s.slug == slug)
                .map_or(slug, |s| s.title.as_str());
            o.push_str(&format!("<outline text=\"{}\">\n", esc(title)));
        }
        for s in sources {
            let Location::Url(url) = &s.location else { continue };
            let title = s.title.as_deref().unwrap_or(&s.name);
            o.push_str(&format!(
                "{indent}<outline type=\"rss\" text=\"{t}\" title=\"{t}\" xmlUrl=\"{}\"/>\n",
                esc(crate::redact::redacted(url).as_str()),
                t = esc(title)
            ));
        }
        if folder.is_some() {
            o.push_str("</outline>\n");
        }
    }
    o.push_str("</body>\n</opml>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_titles_without_accents_and_stay_unique() {
        let mut taken = HashSet::new();
        assert_eq!(
            derive_name(Some("Mairie de Mèze — Actualités"), "https://x", &taken),
            "mairie-de-meze-actualites"
        );
        taken.insert("le-courrier".to_string());
        assert_eq!(derive_name(Some("Le Courrier"), "https://x", &taken), "le-courrier-2");
        assert_eq!(
            derive_name(None, "https://www.ville-sete.fr/rss", &taken),
            "www-ville-sete-fr"
        );
        assert_eq!(derive_name(Some("★"), "not a url", &taken), "source");
    }

    #[test]
    fn an_edit_that_would_not_pass_check_is_refused() {
        let text = "[[sections]]\nslug = \"sete\"\ntitle = \"Sète\"\n";
        let bad = NewSource {
            name: "x".into(),
            url: "https://x.example/rss".into(),
            title: None,
            sections: vec!["setee".into()],
        };
        let e = add_sources(text, Path::new("feeds.toml"), &[bad]).unwrap_err();
        assert!(e.to_string().contains("unknown section \"setee\""), "{e}");
    }

    #[test]
    fn opml_outlines_are_read_with_their_folders() {
        let opml = r#"<?xml version="1.0"?><opml version="1.0"><head><title>x</title></head><body>
            <outline text="Sète"><outline text="Mairie" xmlUrl="https://sete.example/rss" type="rss"/>
              <outline title="Nested"><outline text="Deep" xmlUrl="https://deep.example/feed"/></outline></outline>
            <outline text="Top" xmlurl="https://top.example/atom"/>
            <outline text="No feed" htmlUrl="https://site.example/"/>
            </body></opml>"#;
        let outlines = read_opml(opml.as_bytes()).unwrap();
        assert_eq!(outlines.len(), 3);
        assert_eq!(outlines[0].folders, ["Sète"]);
        assert_eq!(outlines[1].folders, ["Sète", "Nested"]);
        assert_eq!(outlines[1].title.as_deref(), Some("Deep"));
        assert!(outlines[2].folders.is_empty());
        assert!(read_opml(b"<rss/>").is_err());
    }
}

/// What `thau import` did.
#[derive(Debug, Default)]
pub struct Imported {
    pub added: Vec<NewSource>,
    /// The URLs not added, each with why: not an http(s) URL, already
    /// followed (by which source), or listed twice in the file.
    pub skipped: Vec<(String, String)>,
}

/// The sources of an OPML file not yet in `config`, named from their
/// titles, in the sections given and the sections their folders name.
pub fn import_opml(config: &Config, opml: &[u8], sections: &[String]) -> Result<Imported, EditError> {
    // Each URL followed, and by which source (None: earlier in this file).
    let mut seen: HashMap<String, Option<String>> = config
        .sources
        .iter()
        .filter_map(|s| match &s.location {
            Location::Url(u) => Some((u.as_str().trim_end_matches('/').to_string(), Some(s.name.clone()))),
            Location::File(_) => None,
        })
        .collect();
    let mut taken: HashSet<String> = config.sources.iter().map(|s| s.name.clone()).collect();
    let mut imported = Imported::default();
    for outline in read_opml(opml)? {
        let url = match url::Url::parse(&outline.xml_url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => url,
            Ok(url) => {
                let why = format!("scheme {} is not http or https", url.scheme());
                imported.skipped.push((outline.xml_url, why));
                continue;
            }
            Err(e) => {
                imported.skipped.push((outline.xml_url, format!("not a URL ({e})")));
                continue;
            }
        };
        match seen.entry(url.as_str().trim_end_matches('/').to_string()) {
            std::collections::hash_map::Entry::Occupied(by) => {
                let why = match by.get() {
                    Some(name) => format!("already followed by source \"{name}\""),
                    None => "listed twice in the file".to_string(),
                };
                imported.skipped.push((outline.xml_url, why));
                continue;
            }
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(None);
            }
        }
        let mut in_sections: Vec<String> = sections.to_vec();
        for folder in &outline.folders {
            let folded = fold(folder);
            if let Some(s) = config
                .sections
                .iter()
                .find(|s| fold(&s.slug) == folded || fold(&s.title) == folded)
                && !in_sections.contains(&s.slug)
            {
                in_sections.push(s.slug.clone());
            }
        }
        let name = derive_name(outline.title.as_deref(), url.as_str(), &taken);
        taken.insert(name.clone());
        imported.added.push(NewSource {
            name,
            url: url.to_string(),
            title: outline.title,
            sections: in_sections,
        });
    }
    Ok(imported)
}

/// A feed `thau add` found: its URL and title.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub url: String,
    pub title: Option<String>,
}

/// Paths tried on a page's site when it announces no feed.
const COMMON_FEED_PATHS: [&str; 7] = [
    "/feed",
    "/rss.xml",
    "/atom.xml",
    "/feed.xml",
    "/index.xml",
    "/rss",
    "/feed.json",
];

/// The feeds behind `url`: itself when it is a feed; else the feeds the
/// page announces (`<link rel="alternate">`, the first
/// [`crate::normalize::MAX_ANNOUNCED_FEEDS`]), else the common paths of
/// its site that answer with a feed. Each is fetched and read once. `url`
/// is the admin's, and may be internal; the links its page gives are
/// content, fetched only on public addresses or on `url`'s own origin
/// when that is internal (the [`crate::outbound`] policy).
pub async fn discover(url: &url::Url, config: &Config) -> Result<Vec<Candidate>, String> {
    let outbound = crate::outbound::Outbound::new(&config.poll.internal_networks).map_err(|e| e.to_string())?;
    let fetcher = crate::fetch::Fetcher::new(outbound);
    let mut limits = crate::fetch::Limits::plain(
        config.poll.timeout,
        config.poll.max_body,
        config.poll.internal_networks.clone(),
    );
    limits.proxy = config.poll.proxy.clone();
    let read = |url: url::Url, reach: crate::outbound::Reach| {
        let (fetcher, limits) = (
            fetcher.clone(),
            crate::fetch::Limits {
                reach,
                ..limits.clone()
            },
        );
        async move {
            let out = fetcher
                .fetch(&Location::Url(url.clone()), &Default::default(), limits)
                .await
                .map_err(|e| e.to_string())?;
            let crate::fetch::Fetched::Document(doc) = out.fetched else {
                return Err("not modified".to_string());
            };
            let cx = crate::normalize::DocContext {
                source: "new",
                url: doc.url.as_ref(),
                content_type: doc.content_type.as_deref(),
                timezone: None,
                max_entries: Some(1),
                id_from: Default::default(),
            };
            let at = doc.url.clone().unwrap_or(url);
            Ok::<_, String>((at, crate::normalize::parse(&doc.body, &cx)))
        }
    };
    let found_on_page = crate::outbound::Reach::Found {
        within: Some(url.clone()),
    };
    let (at, parsed) = read(url.clone(), crate::outbound::Reach::Configured).await?;
    let announced = match parsed {
        Ok(feed) => {
            return Ok(vec![Candidate {
                url: at.to_string(),
                title: feed.title,
            }]);
        }
        Err(crate::normalize::NormalizeError::HtmlPage(feeds)) => feeds,
        Err(e) => return Err(e.to_string()),
    };
    let tries: Vec<url::Url> = if announced.is_empty() {
        COMMON_FEED_PATHS.iter().filter_map(|p| at.join(p).ok()).collect()
    } else {
        announced
            .iter()
            .take(crate::normalize::MAX_ANNOUNCED_FEEDS)
            .filter_map(|f| url::Url::parse(f).ok())
            .collect()
    };
    let mut found: Vec<Candidate> = Vec::new();
    let mut failed = None;
    for t in tries {
        match read(t.clone(), found_on_page.clone()).await {
            Ok((feed_url, Ok(feed))) => {
                if !found.iter().any(|c| c.url == feed_url.as_str()) {
                    found.push(Candidate {
                        url: feed_url.to_string(),
                        title: feed.title,
                    });
                }
            }
            Ok((_, Err(e))) => failed = Some(format!("{}: {e}", crate::redact::redacted(&t))),
            Err(e) => failed = Some(e),
        }
    }
    match failed {
        Some(why) if found.is_empty() && !announced.is_empty() => Err(format!(
            "the page announces {} feed{}, and none could be read (last: {why})",
            announced.len(),
            if announced.len() == 1 { "" } else { "s" }
        )),
        _ => Ok(found),
    }
}
