//! How the store's records are written: entries in a compact binary form
//! compressed with LZ4, index and listing rows in a compact binary form,
//! other records as JSON. Each record starts with a byte saying its form,
//! so records written by an older thau (LZ4-compressed JSON, or plain JSON
//! starting with `{` or `[`) are still read. Pure; depends on `model`.

use chrono::{DateTime, Utc};

use super::{Routing, StoreError};
use crate::model::{Enclosure, Entry, Person, SourceRef};

/// Compressed JSON (entries before schema 3, log records), or this
/// module's binary form (other rows).
const V1: u8 = 0x01;

/// An entry in [`write_entry`]'s binary form, compressed with LZ4.
const V2: u8 = 0x02;

/// An entry: its fields in a binary form (no field names, dates as
/// integers), compressed with LZ4 (what the choice cost and saved against
/// JSON and deflate is in BENCHMARKS.md). Paid before the store's write
/// lock is taken.
pub fn encode_entry(entry: &Entry) -> Vec<u8> {
    let mut plain = Vec::with_capacity(2048);
    write_entry(&mut plain, entry);
    compressed(V2, &plain)
}

/// Any record as a log record is written: its JSON compressed with LZ4.
pub fn compressed_json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    compressed(V1, &serde_json::to_vec(value).expect("plain data serializes"))
}

/// `form`, the length of `plain`, and `plain` compressed with LZ4.
fn compressed(form: u8, plain: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + 4 + lz4_flex::block::get_maximum_output_size(plain.len()));
    out.push(form);
    out.extend_from_slice(&(plain.len() as u32).to_le_bytes());
    let start = out.len();
    out.resize(out.capacity(), 0);
    let written = lz4_flex::block::compress_into(plain, &mut out[start..]).expect("the buffer has the maximum size");
    out.truncate(start + written);
    out
}

fn corrupt(key: &[u8], why: impl ToString) -> StoreError {
    StoreError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        why: why.to_string(),
    }
}

/// Reads an entry in any form a thau ever wrote it.
pub fn decode_entry(key: &[u8], bytes: &[u8]) -> Result<Entry, StoreError> {
    match bytes.split_first() {
        Some((&V2, rest)) => {
            let plain = lz4_flex::block::decompress_size_prepended(rest).map_err(|e| corrupt(key, e))?;
            let mut r = Reader(&plain);
            let entry = read_entry(&mut r).ok_or_else(|| corrupt(key, "an entry record is cut short"))?;
            match r.0.is_empty() {
                true => Ok(entry),
                false => Err(corrupt(key, "an entry record has bytes after its end")),
            }
        }
        _ => decode_json(key, bytes),
    }
}

/// Reads what [`compressed_json`] wrote (or plain JSON).
pub fn decode_json<T: serde::de::DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T, StoreError> {
    match bytes.first() {
        Some(&V1) => {
            let json = lz4_flex::block::decompress_size_prepended(&bytes[1..]).map_err(|e| corrupt(key, e))?;
            serde_json::from_slice(&json).map_err(|e| corrupt(key, e))
        }
        _ => serde_json::from_slice(bytes).map_err(|e| corrupt(key, e)),
    }
}

// The binary form: fields in a fixed order, each as [`Writer`] puts it.
// Destructuring (not field access) makes a field added to a struct a
// compile error here until it is written and read.

fn write_entry(w: &mut Vec<u8>, entry: &Entry) {
    let Entry {
        key,
        id,
        link,
        title,
        summary,
        content,
        published,
        updated,
        first_seen,
        dated,
        generic_link,
        image,
        duration,
        authors,
        categories,
        enclosures,
        language,
        sources,
    } = entry;
    w.str(key);
    w.str(id);
    w.opt_str(link);
    w.str(title);
    w.opt_str(summary);
    w.opt_str(content);
    w.time(published);
    w.time(updated);
    w.time(first_seen);
    w.push(u8::from(*dated) | u8::from(*generic_link) << 1);
    w.opt_str(image);
    w.opt_str(duration);
    w.uint(authors.len() as u64);
    for Person { name, email, uri } in authors {
        w.str(name);
        w.opt_str(email);
        w.opt_str(uri);
    }
    w.strs(categories);
    w.uint(enclosures.len() as u64);
    for Enclosure {
        url,
        media_type,
        length,
    } in enclosures
    {
        w.str(url);
        w.opt_str(media_type);
        w.uint(length.map_or(0, |l| l + 1));
    }
    w.opt_str(language);
    w.uint(sources.len() as u64);
    for source in sources {
        let SourceRef {
            name,
            guid,
            feed_title,
            feed_url,
            feed_updated,
            full_text,
            updated,
            categories,
            fingerprint,
        } = source;
        w.str(name);
        w.opt_str(guid);
        w.opt_str(feed_title);
        w.opt_str(feed_url);
        w.opt_time(feed_updated);
        w.push(u8::from(*full_text));
        w.opt_time(updated);
        w.strs(categories);
        w.str(fingerprint);
    }
}

fn read_entry(r: &mut Reader) -> Option<Entry> {
    let (key, id, link, title) = (r.str()?, r.str()?, r.opt_str()?, r.str()?);
    let (summary, content) = (r.opt_str()?, r.opt_str()?);
    let (published, updated, first_seen) = (r.time()?, r.time()?, r.time()?);
    let flags = r.byte()?;
    let (image, duration) = (r.opt_str()?, r.opt_str()?);
    let authors = r.list(|r| {
        Some(Person {
            name: r.str()?,
            email: r.opt_str()?,
            uri: r.opt_str()?,
        })
    })?;
    let categories = r.strs()?;
    let enclosures = r.list(|r| {
        Some(Enclosure {
            url: r.str()?,
            media_type: r.opt_str()?,
            length: r.uint()?.checked_sub(1),
        })
    })?;
    let language = r.opt_str()?;
    let sources = r.list(|r| {
        Some(SourceRef {
            name: r.str()?,
            guid: r.opt_str()?,
            feed_title: r.opt_str()?,
            feed_url: r.opt_str()?,
            feed_updated: r.opt_time()?,
            full_text: r.byte()? & 1 == 1,
            updated: r.opt_time()?,
            categories: r.strs()?,
            fingerprint: r.str()?,
        })
    })?;
    Some(Entry {
        key,
        id,
        link,
        title,
        summary,
        content,
        published,
        updated,
        first_seen,
        dated: flags & 1 == 1,
        generic_link: flags & 2 == 2,
        image,
        duration,
        authors,
        categories,
        enclosures,
        language,
        sources,
    })
}

/// Unsigned integers as LEB128; text as its length and bytes; an
/// absent value as 0 and a present one shifted by one; an instant as
/// seconds (zigzag) and nanoseconds.
trait Writer {
    fn uint(&mut self, v: u64);
    fn str(&mut self, s: &str);
    fn opt_str(&mut self, s: &Option<String>);
    fn strs(&mut self, list: &[String]);
    fn time(&mut self, t: &DateTime<Utc>);
    fn opt_time(&mut self, t: &Option<DateTime<Utc>>);
}

impl Writer for Vec<u8> {
    fn uint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.push(v as u8 | 0x80);
            v >>= 7;
        }
        self.push(v as u8);
    }

    fn str(&mut self, s: &str) {
        self.uint(s.len() as u64);
        self.extend_from_slice(s.as_bytes());
    }

    fn opt_str(&mut self, s: &Option<String>) {
        match s {
            None => self.uint(0),
            Some(s) => {
                self.uint(s.len() as u64 + 1);
                self.extend_from_slice(s.as_bytes());
            }
        }
    }

    fn strs(&mut self, list: &[String]) {
        self.uint(list.len() as u64);
        for s in list {
            self.str(s);
        }
    }

    fn time(&mut self, t: &DateTime<Utc>) {
        let secs = t.timestamp();
        self.uint(((secs << 1) ^ (secs >> 63)) as u64);
        self.uint(u64::from(t.timestamp_subsec_nanos()));
    }

    fn opt_time(&mut self, t: &Option<DateTime<Utc>>) {
        match t {
            None => self.push(0),
            Some(t) => {
                self.push(1);
                self.time(t);
            }
        }
    }
}

/// What a [`Writer`] wrote, read back; None when the bytes end early or
/// do not hold what was written.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn uint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Some(v);
            }
        }
        None
    }

    fn text(&mut self, len: u64) -> Option<String> {
        let len = usize::try_from(len).ok()?;
        let bytes = self.0.get(..len)?;
        self.0 = &self.0[len..];
        String::from_utf8(bytes.to_vec()).ok()
    }

    fn str(&mut self) -> Option<String> {
        let len = self.uint()?;
        self.text(len)
    }

    fn opt_str(&mut self) -> Option<Option<String>> {
        match self.uint()? {
            0 => Some(None),
            n => self.text(n - 1).map(Some),
        }
    }

    fn list<T>(&mut self, mut item: impl FnMut(&mut Self) -> Option<T>) -> Option<Vec<T>> {
        let n = usize::try_from(self.uint()?).ok()?;
        // A count cannot exceed the bytes left (each item takes one at least).
        let mut out = Vec::with_capacity(n.min(self.0.len()));
        for _ in 0..n {
            out.push(item(self)?);
        }
        Some(out)
    }

    fn strs(&mut self) -> Option<Vec<String>> {
        self.list(Self::str)
    }

    fn time(&mut self) -> Option<DateTime<Utc>> {
        let z = self.uint()?;
        let secs = (z >> 1) as i64 ^ -((z & 1) as i64);
        DateTime::from_timestamp(secs, u32::try_from(self.uint()?).ok()?)
    }

    fn opt_time(&mut self) -> Option<Option<DateTime<Utc>>> {
        match self.byte()? {
            0 => Some(None),
            1 => self.time().map(Some),
            _ => None,
        }
    }
}

/// Routing facts: the sources, then the folded categories, each list
/// joined by `\n` (neither names nor folded categories hold one).
pub fn encode_routing(routing: &Routing) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.push(V1);
    out.extend_from_slice(routing.sources.join("\n").as_bytes());
    out.push(0);
    out.extend_from_slice(routing.categories.join("\n").as_bytes());
    out
}

pub fn decode_routing(key: &[u8], bytes: &[u8]) -> Result<Routing, StoreError> {
    let Some((&V1, rest)) = bytes.split_first() else {
        return legacy_json(key, bytes);
    };
    let text = std::str::from_utf8(rest).map_err(|e| StoreError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        why: e.to_string(),
    })?;
    let (sources, categories) = text.split_once('\0').unwrap_or((text, ""));
    let list = |s: &str| s.split('\n').filter(|x| !x.is_empty()).map(str::to_owned).collect();
    Ok(Routing {
        sources: list(sources),
        categories: list(categories),
    })
}

/// One entry of a source's last document, as the listing row keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The key the source's own item gives (see [`Entry::key`]).
    pub key: String,
    /// The stored entry it is part of (another key when it relays a story).
    pub stored: String,
    /// Its fingerprint: equal means the source did not change it.
    pub fingerprint: String,
}

/// Length-prefixed fields: keys may hold any character but NUL.
pub fn encode_listed(listed: &[Listed]) -> Vec<u8> {
    let mut out = vec![V1];
    for l in listed {
        let stored = if l.stored == l.key { "" } else { l.stored.as_str() };
        for field in [l.key.as_str(), stored, l.fingerprint.as_str()] {
            out.extend_from_slice(&(field.len() as u32).to_le_bytes());
            out.extend_from_slice(field.as_bytes());
        }
    }
    out
}

/// The listing; from a row an older thau wrote (stored keys only, no
/// fingerprints), entries with empty fingerprints.
pub fn decode_listed(key: &[u8], bytes: &[u8]) -> Result<Vec<Listed>, StoreError> {
    let Some((&V1, mut rest)) = bytes.split_first() else {
        let keys: Vec<String> = legacy_json(key, bytes)?;
        return Ok(keys
            .into_iter()
            .map(|k| Listed {
                key: k.clone(),
                stored: k,
                fingerprint: String::new(),
            })
            .collect());
    };
    let corrupt = || StoreError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        why: "a listing row is cut short".into(),
    };
    let field = |rest: &mut &[u8]| -> Result<String, StoreError> {
        let len = u32::from_le_bytes(rest.get(..4).ok_or_else(corrupt)?.try_into().expect("4 bytes")) as usize;
        let text = rest.get(4..4 + len).ok_or_else(corrupt)?;
        let text = String::from_utf8_lossy(text).into_owned();
        *rest = &rest[4 + len..];
        Ok(text)
    };
    let mut out = Vec::new();
    while !rest.is_empty() {
        let key = field(&mut rest)?;
        let stored = field(&mut rest)?;
        let fingerprint = field(&mut rest)?;
        out.push(Listed {
            stored: if stored.is_empty() { key.clone() } else { stored },
            key,
            fingerprint,
        });
    }
    Ok(out)
}

fn legacy_json<T: serde::de::DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        why: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tests_support::entry;

    #[test]
    fn records_round_trip_and_old_json_records_are_read() {
        let mut e = entry("Les joutes de la Saint-Louis");
        e.content = Some("<p>Sète, quai de la Marine. </p>".repeat(40));
        let bytes = encode_entry(&e);
        assert!(
            bytes.len() * 2 < serde_json::to_vec(&e).unwrap().len(),
            "{} bytes",
            bytes.len()
        );
        assert_eq!(decode_entry(b"k", &bytes).unwrap(), e);
        // What earlier thaus wrote: LZ4-compressed JSON, plain JSON.
        assert_eq!(decode_entry(b"k", &compressed_json(&e)).unwrap(), e);
        assert_eq!(decode_entry(b"k", &serde_json::to_vec(&e).unwrap()).unwrap(), e);

        // Every field set, dates before 1970 and with nanoseconds among them.
        let mut full = entry("Fête de la Saint-Pierre");
        full.link = Some("https://mairie.example/fete#programme".into());
        full.content = None;
        full.published = DateTime::from_timestamp(-86_400 * 365, 7).unwrap();
        full.first_seen = DateTime::from_timestamp(1_780_000_000, 999_999_999).unwrap();
        full.generic_link = true;
        full.dated = false;
        full.image = Some("https://mairie.example/fete.jpg".into());
        full.duration = Some("1:02:03".into());
        full.authors = vec![crate::model::Person {
            name: "Mairie".into(),
            email: Some("contact@mairie.example".into()),
            uri: None,
        }];
        full.enclosures = vec![
            crate::model::Enclosure {
                url: "https://mairie.example/fete.mp3".into(),
                media_type: Some("audio/mpeg".into()),
                length: Some(0),
            },
            crate::model::Enclosure {
                url: "https://mairie.example/fete.ogg".into(),
                media_type: None,
                length: None,
            },
        ];
        full.language = Some("fr".into());
        let mut relay = full.sources[0].clone();
        relay.name = "relais".into();
        relay.guid = None;
        relay.feed_updated = Some(DateTime::from_timestamp(0, 0).unwrap());
        relay.updated = Some(DateTime::from_timestamp(1_780_000_001, 1).unwrap());
        relay.full_text = !relay.full_text;
        full.sources.push(relay);
        let bytes = encode_entry(&full);
        assert_eq!(bytes[0], V2);
        assert_eq!(decode_entry(b"k", &bytes).unwrap(), full);
        // A record cut short, or with bytes after its end, is an error, not a
        // panic and not a wrong entry.
        let mut plain = Vec::new();
        write_entry(&mut plain, &full);
        for cut in [0, 1, plain.len() / 2, plain.len() - 1] {
            let err = decode_entry(b"k", &compressed(V2, &plain[..cut])).unwrap_err();
            assert!(err.to_string().contains("cut short"), "{err}");
        }
        plain.push(0);
        assert!(decode_entry(b"k", &compressed(V2, &plain)).is_err());

        let routing = Routing {
            sources: vec!["courrier".into(), "mairie".into()],
            categories: vec!["sete".into(), "vie locale".into()],
        };
        assert_eq!(decode_routing(b"t", &encode_routing(&routing)).unwrap(), routing);
        assert_eq!(
            decode_routing(b"t", &serde_json::to_vec(&routing).unwrap()).unwrap(),
            routing
        );
        let empty = Routing {
            sources: vec!["s".into()],
            categories: vec![],
        };
        assert_eq!(decode_routing(b"t", &encode_routing(&empty)).unwrap(), empty);

        let listed = vec![
            Listed {
                key: "g:mairie\n42".into(),
                stored: "u:https://journal.example/42".into(),
                fingerprint: "ab".into(),
            },
            Listed {
                key: "u:https://mairie.example/43".into(),
                stored: "u:https://mairie.example/43".into(),
                fingerprint: "cd".into(),
            },
        ];
        assert_eq!(decode_listed(b"d", &encode_listed(&listed)).unwrap(), listed);
        let old = decode_listed(b"d", br#"["u:https://x.example/1"]"#).unwrap();
        assert_eq!(old[0].stored, "u:https://x.example/1");
        assert!(old[0].fingerprint.is_empty());
    }
}
