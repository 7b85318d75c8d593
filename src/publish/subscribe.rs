//! A feed opened in a browser: instead of raw XML (browsers are dropping
//! XSLT, so a stylesheet is no answer), a page that says what a feed is and
//! how to subscribe, gives the address to copy, and lists the stories. Feed
//! readers never see it: the server sends it only to a top-level browser
//! navigation (`Sec-Fetch-Dest: document`).

use std::fmt::Write;

use super::Format;
use super::pages::{Listing, Pages, feed_link_text};
use crate::config::Language;
use crate::normalize::escape_html as esc;

impl Pages<'_> {
    /// The page shown for the `format` feed of `listing`'s section, whose
    /// feeds are at `urls` (one per format); `page_url` is where a reader
    /// reads the section on the site.
    pub fn feed_page(
        &self,
        listing: &Listing<'_>,
        format: Format,
        urls: &[(Format, String)],
        page_url: &str,
    ) -> Vec<u8> {
        let url_of = |f: Format| urls.iter().find(|(g, _)| *g == f).map_or("", |(_, u)| u.as_str());
        let feed_url = url_of(format);
        let l = match self.site.language {
            Language::En => &EN,
            Language::Fr => &FR,
        };
        let s = listing.section;
        let name = feed_link_text(self.site.language, format, &s.title);
        let feeds = [(name.clone(), feed_url.to_string(), format.media_type())];
        let mut h = self.head(&format!("{name} · {}", self.site.title), &feeds, None);
        let _ = writeln!(
            h,
            "<main id=\"main\">\n<h1>{}</h1>\n<p class=\"lede\">{}</p>\n<p>{}</p>\n<p class=\"address\"><code>{}</code></p>",
            esc(&name),
            l.what,
            l.how,
            esc(feed_url)
        );
        let others: Vec<String> = Format::ALL
            .into_iter()
            .filter(|f| *f != format)
            .map(|f| {
                format!(
                    "<a href=\"{}\">{}</a>",
                    esc(url_of(f)),
                    esc(&feed_link_text(self.site.language, f, &s.title))
                )
            })
            .collect();
        let _ = write!(h, "<p>{} {}", l.other_formats, others.join(" · "));
        let _ = write!(h, " · <a href=\"{}\">{}</a>", esc(page_url), l.read_on_site);
        h.push_str("</p>\n");
        let _ = writeln!(h, "<h2>{}</h2>", l.latest);
        self.list(&mut h, listing.entries, 3);
        h.push_str("</main>\n");
        self.foot(&mut h);
        h.into_bytes()
    }
}

struct Labels {
    what: &'static str,
    how: &'static str,
    other_formats: &'static str,
    read_on_site: &'static str,
    latest: &'static str,
}

const EN: Labels = Labels {
    what: "This is a news feed: a feed reader (newsboat, Miniflux, NetNewsWire, Feedly…) follows it and shows each new story as it is published.",
    how: "To subscribe, copy this address into your feed reader:",
    other_formats: "The same stories as",
    read_on_site: "read them on the site",
    latest: "Latest stories",
};

const FR: Labels = Labels {
    what: "Ceci est un fil d'actualités : un lecteur de flux (newsboat, Miniflux, NetNewsWire, Feedly…) le suit et affiche chaque nouvel article dès sa publication.",
    how: "Pour vous abonner, copiez cette adresse dans votre lecteur de flux :",
    other_formats: "Les mêmes articles en",
    read_on_site: "les lire sur le site",
    latest: "Derniers articles",
};
