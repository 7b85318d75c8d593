//! Pure: bytes in any charset to the UTF-8 feed-rs reads. A BOM wins, then
//! the HTTP `charset`, then the XML declaration; UTF-16 and UTF-32 are
//! transcoded; an undeclared legacy charset is read as windows-1252, and a
//! document that says UTF-8 and mostly is keeps its text.

use super::*;

/// The document in UTF-8, as quick-xml reads it: a legacy charset feed-rs
/// decoded itself (named in the XML declaration, else windows-1252) is
/// transcoded.
pub(super) fn utf8(bytes: &[u8]) -> Cow<'_, [u8]> {
    if std::str::from_utf8(bytes).is_ok() {
        return Cow::Borrowed(bytes);
    }
    if let Some(text) = lenient_utf8(bytes) {
        return Cow::Owned(text.into_bytes());
    }
    let declared = xml_declaration(bytes)
        .and_then(declared_encoding)
        .and_then(|l| Encoding::for_label(l.as_bytes()));
    Cow::Owned(transcode(bytes, declared.unwrap_or(encoding_rs::WINDOWS_1252)))
}

/// A document that is not valid UTF-8 although it says it is (or says
/// nothing): UTF-8 with a few bad bytes stays UTF-8 (they become U+FFFD,
/// as browsers read it: one stray byte must not turn every `è` into
/// `Ã¨`); anything else is read as windows-1252, as browsers do.
pub(super) fn legacy_charset(bytes: &[u8]) -> Option<Vec<u8>> {
    if std::str::from_utf8(bytes).is_ok() || Encoding::for_bom(bytes).is_some() {
        return None;
    }
    Some(match lenient_utf8(bytes) {
        Some(text) => text.into_bytes(),
        None => transcode(bytes, encoding_rs::WINDOWS_1252),
    })
}

/// `bytes` as UTF-8 with replacement characters, when they say they are
/// UTF-8 (or say nothing) and are mostly valid UTF-8: at least as many
/// well-formed multi-byte characters as broken sequences.
pub(super) fn lenient_utf8(bytes: &[u8]) -> Option<String> {
    let declared = xml_declaration(bytes).and_then(declared_encoding);
    if declared.is_some_and(|d| !matches!(d.to_ascii_lowercase().as_str(), "utf-8" | "utf8")) {
        return None;
    }
    let (mut valid, mut broken) = (0usize, 0usize);
    for chunk in bytes.utf8_chunks() {
        valid += chunk.valid().chars().filter(|c| !c.is_ascii()).count();
        broken += usize::from(!chunk.invalid().is_empty());
    }
    (valid >= broken).then(|| String::from_utf8_lossy(bytes).into_owned())
}

/// The HTTP charset wins over the XML declaration (RFC 7303), a BOM over both.
/// Returns bytes feed-rs will decode right.
pub(super) fn decode<'b>(bytes: &'b [u8], content_type: Option<&str>) -> Cow<'b, [u8]> {
    if let Some(utf8) = decode_utf32(bytes) {
        return Cow::Owned(utf8);
    }
    // UTF-16 without a BOM, recognised by how `<?` is spelled (XML 1.0
    // appendix F); feed-rs's reader cannot take it.
    match bytes {
        [0, b'<', 0, b'?', ..] => return Cow::Owned(transcode(bytes, encoding_rs::UTF_16BE)),
        [b'<', 0, b'?', 0, ..] => return Cow::Owned(transcode(bytes, encoding_rs::UTF_16LE)),
        _ => {}
    }
    match Encoding::for_bom(bytes) {
        // quick-xml has panicked on UTF-16 with a BOM: hand it UTF-8.
        Some((enc, bom)) if enc != encoding_rs::UTF_8 => {
            return Cow::Owned(transcode(&bytes[bom..], enc));
        }
        // A JSON Feed after a UTF-8 BOM: JSON has no BOM, feed-rs refuses it.
        Some((_, bom)) if bytes[bom..].iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') => {
            return Cow::Borrowed(&bytes[bom..]);
        }
        Some(_) => return Cow::Borrowed(bytes),
        None => {}
    }
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        return Cow::Borrowed(bytes);
    }
    let declared = xml_declaration(bytes)
        .and_then(declared_encoding)
        .and_then(|l| Encoding::for_label(l.as_bytes()));
    let http = content_type
        .and_then(charset)
        .and_then(|l| Encoding::for_label(l.as_bytes()));
    if [http, declared].into_iter().flatten().any(|e| e.is_single_byte()) && is_multibyte_utf8(bytes) {
        return Cow::Owned(transcode(bytes, encoding_rs::UTF_8));
    }
    let Some(http) = http else {
        return Cow::Borrowed(bytes);
    };
    match declared {
        Some(d) if d == http => Cow::Borrowed(bytes),
        None if http == encoding_rs::UTF_8 => Cow::Borrowed(bytes),
        _ => Cow::Owned(transcode(bytes, http)),
    }
}

/// Whether `bytes` are UTF-8 with characters beyond ASCII: a document
/// that says it is ISO-8859-1 or windows-1252 (the commonest mislabel)
/// and is this is UTF-8, since Latin text almost never forms valid
/// multi-byte sequences (`isn’t` must not become `isnâ€™t`).
fn is_multibyte_utf8(bytes: &[u8]) -> bool {
    !bytes.is_ascii() && std::str::from_utf8(bytes).is_ok()
}

/// UTF-32 (which encoding_rs does not do), with or without a BOM.
pub(super) fn decode_utf32(bytes: &[u8]) -> Option<Vec<u8>> {
    let big_endian = match bytes {
        [0, 0, 0xFE, 0xFF, ..] | [0, 0, 0, b'<', ..] => true,
        [0xFF, 0xFE, 0, 0, ..] | [b'<', 0, 0, 0, ..] => false,
        _ => return None,
    };
    let text: String = bytes
        .chunks_exact(4)
        .map(|c| {
            let unit = [c[0], c[1], c[2], c[3]];
            let n = if big_endian {
                u32::from_be_bytes(unit)
            } else {
                u32::from_le_bytes(unit)
            };
            char::from_u32(n).unwrap_or(char::REPLACEMENT_CHARACTER)
        })
        .filter(|c| *c != '\u{feff}')
        .collect();
    Some(transcode(text.as_bytes(), encoding_rs::UTF_8))
}

pub(super) fn charset(content_type: &str) -> Option<&str> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| v.trim().trim_matches(['"', '\'']))
    })
}

pub(super) fn xml_declaration(bytes: &[u8]) -> Option<&[u8]> {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace())?;
    let rest = &bytes[start..];
    if !rest.starts_with(b"<?xml") {
        return None;
    }
    let end = rest.windows(2).position(|w| w == b"?>")?;
    Some(&rest[..end + 2])
}

pub(super) fn declared_encoding(declaration: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(declaration).ok()?;
    let at = text.find("encoding")?;
    let rest = text[at + "encoding".len()..]
        .trim_start()
        .strip_prefix('=')?
        .trim_start();
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let value = &rest[1..];
    Some(value[..value.find(quote)?].to_string())
}

/// A document in the encoding its source's `encoding` names, whatever it
/// declares or seems to be: UTF-8 with a declaration that says so. (A
/// byte-order mark still wins: the document is left for it.)
pub fn transcode_from(bytes: &[u8], encoding: &'static Encoding) -> Vec<u8> {
    match Encoding::for_bom(bytes) {
        Some(_) => bytes.to_vec(),
        None => transcode(bytes, encoding),
    }
}

/// Decodes `bytes` as `encoding` into UTF-8 and makes the XML declaration say so.
pub(super) fn transcode(bytes: &[u8], encoding: &'static Encoding) -> Vec<u8> {
    let (text, _) = encoding.decode_without_bom_handling(bytes);
    let text = text.as_ref();
    let decl_len = xml_declaration(text.as_bytes()).map(|d| {
        let start = text.len() - text.trim_start().len();
        start + d.len()
    });
    match decl_len {
        Some(len) => {
            let mut out = String::with_capacity(text.len() + 40);
            out.push_str(r#"<?xml version="1.0" encoding="utf-8"?>"#);
            out.push_str(&text[len..]);
            out.into_bytes()
        }
        None => text.as_bytes().to_vec(),
    }
}
