//! `thau add`, `import`, `remove`, `hide`, `unhide`, `pin`, `unpin`,
//! `pick`, `unpick` and `key`: feeds.toml edited (comments kept,
//! checked, atomic) under its edit lock, credentials never echoed.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

use super::{UNUSABLE, edited, runtime};
use crate::config::Config;

pub fn add(
    config: &Config,
    path: &Path,
    url: &str,
    name: Option<String>,
    sections: &[String],
    pick: Option<usize>,
) -> ExitCode {
    if let Err(code) = known_sections(config, path, sections) {
        return code;
    }
    let Some(url) = feed_url(url) else {
        return ExitCode::from(UNUSABLE);
    };
    let Some(runtime) = runtime(false) else {
        return ExitCode::from(UNUSABLE);
    };
    let found = match runtime.block_on(crate::edit::discover(&url, config)) {
        Ok(found) => found,
        Err(e) => {
            eprintln!("thau: {}: {e}", crate::redact::Redacted(&url));
            return ExitCode::from(UNUSABLE);
        }
    };
    // Shown, never with credentials; written to feeds.toml as given.
    let shown = crate::redact::Redacted(&url);
    let chosen = match (found.len(), pick) {
        (0, _) => {
            eprintln!(
                "thau: {shown}: no feed found (the page announces none, and none of /feed, /rss.xml, /atom.xml, /feed.xml, /index.xml, /rss, /feed.json answered with one)"
            );
            return ExitCode::from(UNUSABLE);
        }
        (_, Some(n)) if n >= 1 && n <= found.len() => &found[n - 1],
        (_, Some(n)) => {
            eprintln!("thau: --pick {n}: there are {} feeds", found.len());
            return ExitCode::from(UNUSABLE);
        }
        (1, None) => &found[0],
        (_, None) => {
            let terminal = std::io::stdin().is_terminal();
            if terminal {
                eprintln!("{shown} has {} feeds:", found.len());
            } else {
                eprintln!("thau: {shown} has {} feeds; run again with --pick N:", found.len());
            }
            for (i, c) in found.iter().enumerate() {
                eprintln!(
                    "  {}. {}  {}",
                    i + 1,
                    crate::redact::redacted_str(&c.url),
                    c.title.as_deref().unwrap_or("")
                );
            }
            if !terminal {
                return ExitCode::from(UNUSABLE);
            }
            // On a terminal, the admin picks one now.
            eprint!("Which one (1-{})? ", found.len());
            let mut answer = String::new();
            let picked = std::io::stdin()
                .read_line(&mut answer)
                .ok()
                .and_then(|_| answer.trim().parse::<usize>().ok())
                .filter(|n| (1..=found.len()).contains(n));
            match picked {
                Some(n) => &found[n - 1],
                None => {
                    eprintln!("thau: nothing picked; nothing added");
                    return ExitCode::from(UNUSABLE);
                }
            }
        }
    };
    // Checked against the file as it is under the lock: another `thau
    // add` may have written it since this one started.
    let mut added = None;
    let written = edited(path, |text, now| {
        let followed = now.sources.iter().find(|s| match &s.location {
            crate::config::Location::Url(u) => u.as_str().trim_end_matches('/') == chosen.url.trim_end_matches('/'),
            _ => false,
        });
        if let Some(s) = followed {
            return Err(crate::edit::EditError::Followed(
                crate::redact::redacted_str(&chosen.url).into_owned(),
                s.name.clone(),
            ));
        }
        let taken = now.sources.iter().map(|s| s.name.clone()).collect();
        let source = crate::edit::NewSource {
            name: name.unwrap_or_else(|| crate::edit::derive_name(chosen.title.as_deref(), &chosen.url, &taken)),
            url: chosen.url.clone(),
            title: chosen.title.clone(),
            sections: sections.to_vec(),
        };
        let new = crate::edit::add_sources(text, path, std::slice::from_ref(&source))?;
        added = Some(source);
        Ok(new)
    });
    match (written, added) {
        (Ok(()), Some(source)) => {
            println!("added {}  {}", source.name, crate::redact::redacted_str(&source.url));
            ExitCode::SUCCESS
        }
        (Err(code), _) => code,
        (Ok(()), None) => ExitCode::from(UNUSABLE),
    }
}

/// The URL `thau add` was given, or None having said why; written without
/// a scheme (`127.0.0.1:8765/feed`, `localhost:8765/feed`), it suggests
/// one rather than guess between http and https.
fn feed_url(given: &str) -> Option<url::Url> {
    let shown = crate::redact::redacted_str(given);
    let parsed = url::Url::parse(given);
    let problem = match &parsed {
        Ok(url) if matches!(url.scheme(), "http" | "https") => return parsed.ok(),
        Ok(url) => format!("scheme {} is not http or https", url.scheme()),
        Err(e) => format!("not a URL ({e})"),
    };
    let guess = format!("http://{given}");
    match url::Url::parse(&guess) {
        Ok(url) if url.host_str().is_some() && !given.contains("://") => {
            let guess = crate::redact::redacted_str(&guess).into_owned();
            eprintln!("thau: {shown}: {problem}; did you mean {guess} (or https://…)?");
        }
        _ => eprintln!("thau: {shown}: {problem}"),
    }
    None
}

/// Every `--section` names a section of the config.
fn known_sections(config: &Config, path: &Path, sections: &[String]) -> Result<(), ExitCode> {
    match sections
        .iter()
        .find(|slug| !config.sections.iter().any(|s| &s.slug == *slug))
    {
        Some(slug) => {
            let hint = config.section_hint(slug);
            eprintln!("thau: --section {slug}: no such section in {}{hint}", path.display());
            Err(ExitCode::from(UNUSABLE))
        }
        None => Ok(()),
    }
}

pub fn import(config: &Config, path: &Path, file: &Path, sections: &[String]) -> ExitCode {
    if let Err(code) = known_sections(config, path, sections) {
        return code;
    }
    let opml = match std::fs::read(file) {
        Ok(bytes) => bytes,
        Err(e) => {
            eprintln!("thau: cannot read {}: {e}", file.display());
            return ExitCode::from(UNUSABLE);
        }
    };
    // Compared with the file as it is under the lock.
    let mut imported = None;
    let written = edited(path, |text, now| {
        let found = crate::edit::import_opml(now, &opml, sections)
            .map_err(|e| crate::edit::EditError::InFile(file.display().to_string(), Box::new(e)))?;
        let new = match found.added.is_empty() {
            true => text.to_string(),
            false => crate::edit::add_sources(text, path, &found.added)?,
        };
        imported = Some(found);
        Ok(new)
    });
    let imported = match (written, imported) {
        (Ok(()), Some(imported)) => imported,
        (Err(code), _) => return code,
        (Ok(()), None) => return ExitCode::from(UNUSABLE),
    };
    // Credentials in the file are written to feeds.toml, never echoed.
    for s in &imported.added {
        println!("added   {}  {}", s.name, crate::redact::redacted_str(&s.url));
    }
    for (url, why) in &imported.skipped {
        println!("skipped {}  ({why})", crate::redact::redacted_str(url));
    }
    let homeless: Vec<&str> = imported
        .added
        .iter()
        .filter(|s| s.sections.is_empty())
        .map(|s| s.name.as_str())
        .collect();
    if !homeless.is_empty() {
        eprintln!(
            "thau: note: {} in no section (no --section, and no OPML folder names one): {}. \
             Their stories reach a section only through its categories; `thau import --section SLUG` places them.",
            if homeless.len() == 1 {
                "1 new source is"
            } else {
                "these new sources are"
            },
            homeless.join(", ")
        );
    }
    println!(
        "{} added, {} skipped; {} written",
        imported.added.len(),
        imported.skipped.len(),
        if imported.added.is_empty() {
            "nothing"
        } else {
            "feeds.toml"
        }
    );
    ExitCode::SUCCESS
}

/// `thau remove NAME`.
pub fn remove(path: &Path, name: &str) -> ExitCode {
    let removed = edited(path, |text, now| match now.source(name) {
        Some(_) => crate::edit::remove_source(text, path, name),
        None => Err(crate::edit::EditError::NoSuchSource(now.no_such_source(name))),
    });
    match removed {
        Ok(()) => {
            println!("removed source \"{name}\" from {}", path.display());
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

/// `thau hide STORY [--reason TEXT]`: takes a story down (a `[[hidden]]`
/// table); `thau hide` alone lists the hidden stories.
pub fn hide(config: &Config, path: &Path, story: Option<&str>, reason: Option<&str>) -> ExitCode {
    let Some(story) = story else {
        if config.hidden.is_empty() {
            println!("no story is hidden");
        }
        for h in &config.hidden {
            let at = h.at.map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
            println!(
                "{}\t{}\t{}",
                h.story,
                at.as_deref().unwrap_or("-"),
                h.reason.as_deref().unwrap_or("")
            );
        }
        return ExitCode::SUCCESS;
    };
    let story = crate::desk::story_name(story);
    if story.is_empty() {
        eprintln!("thau: hide what? Give a story page's address, its id or its link");
        return ExitCode::from(UNUSABLE);
    }
    let mut already = false;
    let hidden = edited(path, |text, now| {
        let edit = crate::edit::DeskEdit::Hide { reason };
        let edited = edit.apply(text, path, now, &story, chrono::Utc::now())?;
        already = edited.is_none();
        Ok(edited.unwrap_or_else(|| text.to_string()))
    });
    match hidden {
        Ok(()) if already => {
            println!("\"{story}\" is already hidden");
            ExitCode::SUCCESS
        }
        Ok(()) => {
            println!(
                "hid \"{story}\" in {}: a running thau serve takes it off every feed and page within seconds",
                path.display()
            );
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

/// `thau unhide STORY`: shows a hidden story again.
pub fn unhide(path: &Path, story: &str) -> ExitCode {
    let story = crate::desk::story_name(story);
    match edited(path, |text, _| crate::edit::unhide_story(text, path, &story)) {
        Ok(()) => {
            println!("\"{story}\" is shown again ({})", path.display());
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

/// `thau pin STORY --section S [--until DATE]` (`pin`), `thau pick STORY
/// --section S`.
pub fn pin(
    config: &Config,
    path: &Path,
    pin: bool,
    story: &str,
    section: Option<&str>,
    until: Option<&str>,
) -> ExitCode {
    let verb = if pin { "pin" } else { "pick" };
    let Some(section) = section else {
        eprintln!("thau: {verb} in which section? Give --section SLUG (or --section front)");
        return ExitCode::from(UNUSABLE);
    };
    let story = crate::desk::story_name(story);
    let known = config.sections.iter().any(|s| s.slug == section) || (pin && section == crate::config::FRONT);
    if !known {
        let slugs = config.sections.iter().map(|s| s.slug.as_str());
        eprintln!(
            "thau: no section \"{section}\"{}",
            crate::config::did_you_mean(section, slugs)
        );
        return ExitCode::from(UNUSABLE);
    }
    let mut already = false;
    let edited = edited(path, |text, now| {
        let edit = match pin {
            true => crate::edit::DeskEdit::Pin { section, until },
            false => crate::edit::DeskEdit::Pick { section },
        };
        let edited = edit.apply(text, path, now, &story, chrono::Utc::now())?;
        already = edited.is_none();
        Ok(edited.unwrap_or_else(|| text.to_string()))
    });
    match edited {
        Ok(()) if already => {
            println!(
                "\"{story}\" is already {} in {section}",
                if pin { "pinned" } else { "picked" }
            );
            ExitCode::SUCCESS
        }
        Ok(()) => {
            let what = match pin {
                true => format!("leads {section}"),
                false => format!("is in {section}"),
            };
            println!(
                "\"{story}\" {what} ({}): a running thau serve shows it within seconds",
                path.display()
            );
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

/// `thau unpin STORY [--section S]`, `thau unpick STORY --section S`.
pub fn unpin(path: &Path, pin: bool, story: &str, section: Option<&str>) -> ExitCode {
    let story = crate::desk::story_name(story);
    match edited(path, |text, _| {
        crate::edit::unpin_story(text, path, pin, &story, section)
    }) {
        Ok(()) => {
            let verb = if pin { "unpinned" } else { "unpicked" };
            println!("\"{story}\" {verb} ({})", path.display());
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

/// `thau pin` alone: the pinned and picked stories.
pub fn list_pins(config: &Config) -> ExitCode {
    let date = |d: Option<chrono::DateTime<chrono::Utc>>| {
        d.map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_else(|| "-".into())
    };
    if config.pinned.is_empty() && config.picked.is_empty() {
        println!("no story is pinned or picked");
    }
    for p in &config.pinned {
        println!("pinned\t{}\t{}\tuntil {}", p.section, p.story, date(p.until));
    }
    for p in &config.picked {
        println!("picked\t{}\t{}", p.section, p.story);
    }
    ExitCode::SUCCESS
}

/// `thau key add NAME --section S…`: a new random key, printed once with
/// the addresses it opens; feeds.toml keeps only its SHA-256.
pub fn key_add(config: &Config, path: &Path, name: &str, sections: &[String]) -> ExitCode {
    for slug in sections {
        match config.sections.iter().find(|s| &s.slug == slug) {
            Some(s) if s.private => {}
            Some(_) => {
                eprintln!("thau: section \"{slug}\" is not private: set private = true on it first");
                return ExitCode::from(UNUSABLE);
            }
            None => {
                let hint = crate::config::did_you_mean(slug, config.sections.iter().map(|s| s.slug.as_str()));
                eprintln!("thau: no section \"{slug}\"{hint}");
                return ExitCode::from(UNUSABLE);
            }
        }
    }
    if config.keys.iter().any(|k| k.name == name) {
        eprintln!("thau: there is a key named \"{name}\" already (thau key remove {name} first)");
        return ExitCode::from(UNUSABLE);
    }
    let mut bytes = [0u8; 24];
    if let Err(e) = getrandom::fill(&mut bytes) {
        eprintln!("thau: no randomness from the operating system: {e}");
        return ExitCode::from(UNUSABLE);
    }
    let key = crate::normalize::hex(&bytes);
    let sha256 = {
        use sha2::Digest;
        crate::normalize::hex(&sha2::Sha256::digest(key.as_bytes()))
    };
    if let Err(code) = edited(path, |text, _| {
        crate::edit::add_key(text, path, name, sections, &sha256)
    }) {
        return code;
    }
    println!("key for {name} (shown once; feeds.toml keeps only its SHA-256):\n  {key}");
    let base = config
        .server
        .base_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", config.server.listen));
    for slug in sections {
        println!("  {base}/sections/{slug}/rss.xml?key={key}");
    }
    ExitCode::SUCCESS
}

/// `thau key remove NAME`: the key no longer opens anything.
pub fn key_remove(path: &Path, name: &str) -> ExitCode {
    match edited(path, |text, _| crate::edit::remove_key(text, path, name)) {
        Ok(()) => {
            println!("key \"{name}\" revoked ({})", path.display());
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

/// `thau key list`.
pub fn key_list(config: &Config) -> ExitCode {
    if config.keys.is_empty() {
        println!("no keys");
    }
    for k in &config.keys {
        println!("{}\t{}", k.name, k.sections.join(", "));
    }
    ExitCode::SUCCESS
}
