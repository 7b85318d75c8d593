//! `thau export` and `[export] dir`: the site as static files.

use super::*;

/// Writes the site as static files under `out`, as `thau export` does (a
/// file whose bytes did not change is not touched, so an unchanged store
/// changes no file). Each feed and the OPML get `.gz` and `.br` siblings
/// for nginx's `gzip_static`/`brotli_static`.
pub fn export(config: &Config, out: &Path) -> anyhow::Result<ExportReport> {
    let store = Store::open_config(&config.store)?;
    let base_url = config.server.base_url(config.server.listen);
    let selection = Selection::scan(&store, config)?;
    let now = Utc::now();
    crate::digest::freeze_due(&store, config, &selection, now)?;
    let mut selection = selection;
    while crate::archive::archive_due(&store, config, &mut selection, now)?.more {}
    let site = Site::build(&store, config, &selection, &base_url, None, None, now)?;
    let report = write_site(&site, &store, config, out)?;
    store.flush()?;
    Ok(report)
}

pub(super) fn write_site(site: &Site, store: &Store, config: &Config, out: &Path) -> anyhow::Result<ExportReport> {
    let mut docs: Vec<(PathBuf, &crate::site::Doc)> = Vec::new();
    // A private section is not exported: static files have no keys.
    let public = || site.sections.iter().filter(|s| !s.section.private);
    for s in public() {
        for format in Format::ALL {
            let path = Path::new("sections").join(&s.section.slug).join(format.file_name());
            docs.push((path, &s.feeds[&format]));
            if let Some(digest) = s.digest.get(&format) {
                docs.push((
                    Path::new("sections")
                        .join(&s.section.slug)
                        .join(format.digest_file_name()),
                    digest,
                ));
            }
        }
    }
    if let Some(all) = &site.all {
        for format in Format::ALL {
            docs.push((format.all_file_name().into(), &all.feeds[&format]));
        }
    }
    docs.push(("sections.opml".into(), &site.opml));
    // No "next poll" in a static page: it would change every minute. A
    // private status is not exported (static files have no token), and
    // one exported while it was public is taken away.
    let private = config.server.status == crate::config::StatusAccess::Private;
    let index = match private {
        true => {
            crate::export::remove_file(out, Path::new("status.html"))?;
            Vec::new()
        }
        false => {
            let sources = server::source_statuses(store, config, site, None, None);
            publish::index_html(
                &config.site,
                &site.base_url,
                &site.summaries(),
                &sources,
                config,
                None,
                None,
            )
        }
    };
    let mut files = with_siblings(docs.iter().map(|(path, doc)| (path.clone(), *doc)));
    if !private {
        files.push(("status.html".into(), &index));
    }
    // A story taken down leaves the folder too.
    for id in site.hidden.story_ids() {
        crate::export::remove_file(out, &Path::new("stories").join(format!("{id}.html")))?;
    }
    let pages = site_pages(site, config);
    for (path, bytes) in &pages {
        files.push((path.clone(), bytes));
    }
    let mut report = crate::export::write_files(out, files)?;
    // Archive pages: each written once, and one at a time, so that an
    // export holds one page in memory however many the store has (a first
    // export at 10,000 sources writes thousands). A page already in the
    // folder is not rendered again (so a poll does not rewrite them all).
    for s in public() {
        for n in 1..=s.archives {
            let dir = Path::new("sections").join(&s.section.slug).join("archive");
            if out.join(&dir).join(format!("{n}.xml")).exists() && !site.archive_hides(store, &s.section.slug, n)? {
                continue;
            }
            let mut page: Vec<_> = site
                .archive_docs(store, &s.section.slug, n, &Format::ALL)?
                .into_iter()
                .map(|(format, doc)| (dir.join(format!("{n}.{}", format.archive_extension())), doc))
                .collect();
            // The RSS page last, so that an interrupted export writes it again.
            page.sort_by_key(|(path, _)| path.extension().is_some_and(|e| e == "xml"));
            let written = crate::export::write_files(out, with_siblings(page.iter().map(|(p, d)| (p.clone(), d))))?;
            report.unchanged += written.unchanged;
            report.written.extend(written.written);
        }
    }
    Ok(report)
}

/// Each document's bytes at its path, then its `.gz` and `.br` siblings
/// when it has them.
fn with_siblings<'a>(docs: impl Iterator<Item = (PathBuf, &'a crate::site::Doc)>) -> Vec<(PathBuf, &'a [u8])> {
    let mut files: Vec<(PathBuf, &[u8])> = Vec::new();
    for (path, doc) in docs {
        let sibling = |ext: &str| PathBuf::from(format!("{}.{ext}", path.display()));
        if !doc.gzip.is_empty() {
            files.push((sibling("gz"), &doc.gzip));
        }
        if !doc.brotli.is_empty() {
            files.push((sibling("br"), &doc.brotli));
        }
        files.push((path, &doc.identity));
    }
    files
}

/// The reading pages of a static export: the front page, each section's
/// page and the page of each story they list, with dates (an age would be
/// wrong by the time the page is read).
pub(super) fn site_pages(site: &Site, config: &Config) -> Vec<(PathBuf, Vec<u8>)> {
    let pages = publish::Pages {
        site: &config.site,
        base_url: &site.base_url,
        sections: &config.sections,
        now: None,
    };
    pub(super) fn listing(s: &crate::site::SiteSection, n: usize) -> publish::Listing<'_> {
        publish::Listing {
            section: &s.section,
            entries: &s.entries[..s.entries.len().min(n)],
        }
    }
    let public = || site.sections.iter().filter(|s| !s.section.private);
    let fronts: Vec<_> = public().map(|s| listing(s, site.page_size)).collect();
    let lead = site.front_lead();
    let lead = lead.as_ref().map(|(e, s)| (e.as_ref(), *s));
    let mut out = vec![(PathBuf::from("index.html"), pages.front_with_lead(&fronts, lead))];
    let mut stories = std::collections::BTreeSet::new();
    for s in public() {
        let listing = listing(s, site.page_size);
        out.push((
            Path::new("sections").join(&s.section.slug).join("index.html"),
            pages.section(&listing),
        ));
        stories.extend(listing.entries.iter().map(|e| publish::story_id(e)));
    }
    for id in stories {
        if let Some((entry, sections)) = site.story(&id) {
            out.push((
                Path::new("stories").join(format!("{id}.html")),
                pages.story(&entry, &sections.into_iter().filter(|s| !s.private).collect::<Vec<_>>()),
            ));
        }
    }
    out
}
