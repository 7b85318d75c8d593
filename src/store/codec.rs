//! How the store's records are written: entries as LZ4-compressed JSON, index
//! and listing rows in a compact binary form. Each record starts with a
//! byte saying its form, so records written by an older thau (plain JSON,
//! starting with `{` or `[`) are still read. Pure; depends on `model`.

use super::{Routing, StoreError};
use crate::model::Entry;

/// Compressed JSON (entries), or this module's binary form (other rows).
const V1: u8 = 0x01;

/// An entry: its JSON compressed with LZ4, about two thirds of its size
/// for news text. (Deflate keeps a third but costs ten times the CPU on
/// values this small: measured in BENCHMARKS.md.) Paid before the store's
/// write lock is taken.
pub fn encode_entry(entry: &Entry) -> Vec<u8> {
    compressed_json(entry)
}

/// Any record as an entry is written: its JSON compressed with LZ4.
pub fn compressed_json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    let json = serde_json::to_vec(value).expect("plain data serializes");
    let mut out = Vec::with_capacity(1 + 4 + lz4_flex::block::get_maximum_output_size(json.len()));
    out.push(V1);
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    let start = out.len();
    out.resize(out.capacity(), 0);
    let written = lz4_flex::block::compress_into(&json, &mut out[start..]).expect("the buffer has the maximum size");
    out.truncate(start + written);
    out
}

pub fn decode_entry(key: &[u8], bytes: &[u8]) -> Result<Entry, StoreError> {
    decode_json(key, bytes)
}

/// Reads what [`compressed_json`] wrote (or plain JSON).
pub fn decode_json<T: serde::de::DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T, StoreError> {
    let corrupt = |why: String| StoreError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        why,
    };
    match bytes.first() {
        Some(&V1) => {
            let json = lz4_flex::block::decompress_size_prepended(&bytes[1..]).map_err(|e| corrupt(e.to_string()))?;
            serde_json::from_slice(&json).map_err(|e| corrupt(e.to_string()))
        }
        _ => serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string())),
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
        assert_eq!(decode_entry(b"k", &serde_json::to_vec(&e).unwrap()).unwrap(), e);

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
