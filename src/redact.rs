//! Pure: URLs as thau may show them. A source URL can carry credentials
//! (`https://alice:S3cret@host/feed?apikey=…`): thau fetches with them but
//! never publishes, shows or logs them. Depends on nothing else in thau.

use std::borrow::Cow;
use std::fmt;

use url::Url;

/// What replaces a secret.
pub const MASK: &str = "***";

/// Whether a query parameter's name says its value is a secret.
pub fn is_secret_param(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    const EXACT: &[&str] = &[
        "sig", "pw", "pwd", "pass", "auth", "code", "session", "sid", "hash", "jwt",
    ];
    const PARTS: &[&str] = &[
        "token",
        "key",
        "secret",
        "passw",
        "signature",
        "credential",
        "auth",
        "session",
    ];
    EXACT.contains(&name.as_str()) || PARTS.iter().any(|p| name.contains(p))
}

/// Whether `url` carries anything [`redacted`] would hide.
pub fn has_secrets(url: &Url) -> bool {
    !url.username().is_empty() || url.password().is_some() || url.query_pairs().any(|(k, _)| is_secret_param(&k))
}

/// `url` with its user name and password, and the values of query
/// parameters named like secrets, replaced by `***`: for status pages,
/// logs and published feeds.
pub fn redacted(url: &Url) -> Cow<'_, Url> {
    if !has_secrets(url) {
        return Cow::Borrowed(url);
    }
    let mut out = url.clone();
    if !out.username().is_empty() || out.password().is_some() {
        let _ = out.set_password(None);
        let _ = out.set_username(MASK);
    }
    mask_query(&mut out, |_| Some(MASK));
    Cow::Owned(out)
}

/// `url` as a base for relative links: without user name and password, and
/// without the query parameters named like secrets (a relative link never
/// inherits credentials from the document it is in).
pub fn base(url: &Url) -> Cow<'_, Url> {
    if !has_secrets(url) {
        return Cow::Borrowed(url);
    }
    let mut out = url.clone();
    let _ = out.set_password(None);
    let _ = out.set_username("");
    mask_query(&mut out, |_| None);
    Cow::Owned(out)
}

/// Rewrites secret query values with `mask` (None: drops the parameter).
fn mask_query(url: &mut Url, mask: impl Fn(&str) -> Option<&'static str>) {
    if !url.query_pairs().any(|(k, _)| is_secret_param(&k)) {
        return;
    }
    let pairs: Vec<(String, Option<String>)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if is_secret_param(&k) {
                mask(&k).map(str::to_owned)
            } else {
                Some(v.into_owned())
            };
            (k.into_owned(), v)
        })
        .collect();
    let kept: Vec<(String, String)> = pairs.into_iter().filter_map(|(k, v)| Some((k, v?))).collect();
    if kept.is_empty() {
        url.set_query(None);
    } else {
        url.query_pairs_mut().clear().extend_pairs(kept);
    }
}

/// A URL given as text (stored before redaction existed, or from a header):
/// redacted when it parses, else shown as is.
pub fn redacted_str(text: &str) -> Cow<'_, str> {
    match Url::parse(text) {
        Ok(url) if has_secrets(&url) => Cow::Owned(redacted(&url).to_string()),
        _ => Cow::Borrowed(text),
    }
}

/// Displays a URL redacted: `tracing::info!(url = %Redacted(&url))`.
pub struct Redacted<'a>(pub &'a Url);

impl fmt::Display for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(redacted(self.0).as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_and_secret_parameters_are_masked() {
        let url =
            Url::parse("http://alice:S3cret@host.example/feed.xml?apikey=TOPSECRET&lang=fr&Access_Token=t").unwrap();
        assert_eq!(
            redacted(&url).as_str(),
            "http://***@host.example/feed.xml?apikey=***&lang=fr&Access_Token=***"
        );
        assert_eq!(base(&url).as_str(), "http://host.example/feed.xml?lang=fr");
        let plain = Url::parse("https://mairie.example/rss?page=2").unwrap();
        assert!(matches!(redacted(&plain), Cow::Borrowed(_)));
        assert_eq!(redacted_str("https://x.example/?sig=abc"), "https://x.example/?sig=***");
        assert_eq!(redacted_str("not a url"), "not a url");
    }

    #[test]
    fn secret_parameter_names() {
        for secret in [
            "token",
            "key",
            "apikey",
            "api_key",
            "API-KEY",
            "password",
            "secret",
            "sig",
            "signature",
            "auth_token",
        ] {
            assert!(is_secret_param(secret), "{secret}");
        }
        for plain in ["page", "lang", "id", "format", "category"] {
            assert!(!is_secret_param(plain), "{plain}");
        }
    }
}
