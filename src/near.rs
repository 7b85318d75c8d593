//! Near-duplicate stories across sources ("one story from the wire"): an
//! agency story that three papers carry under their own URLs. A story's
//! MinHash signature over its words (3-word shingles of its title and text,
//! case and accents folded), cut in bands for lookup (LSH: two stories
//! whose signatures agree on every row of one band are candidates), and
//! the similarity of two signatures (the share of their hashes that agree,
//! an estimate of the Jaccard similarity of their shingles). Hashes are
//! written out here (FNV-1a, splitmix64), not the standard library's, so
//! that what is stored stays valid across Rust releases. Pure; depends on
//! `model`, `filter` and `normalize`.

use crate::model::Entry;

/// Hashes in a signature.
pub const HASHES: usize = 32;
/// Words in a shingle.
const SHINGLE: usize = 2;
/// Rows of one band: a band is `ROWS` hashes that must all agree.
const ROWS: usize = 2;
/// Bands of a signature.
pub const BANDS: usize = HASHES / ROWS;
/// Words read of a story (its title, then its text).
const MAX_WORDS: usize = 400;
/// Stories shorter than this are not judged: too few words to tell an
/// agency story from a notice that shares its wording.
const MIN_WORDS: usize = 12;

/// A story's MinHash signature, and how many distinct shingles it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signature {
    pub hashes: [u32; HASHES],
    pub shingles: u32,
}

/// The signature of `entry`, or None when it is too short to judge.
pub fn signature(entry: &Entry) -> Option<Signature> {
    let body = entry.content.as_deref().or(entry.summary.as_deref()).unwrap_or("");
    let mut text = entry.title.clone();
    text.push(' ');
    text.push_str(&crate::normalize::html_to_text(body));
    let mut words = crate::filter::words(&text);
    words.truncate(MAX_WORDS);
    if words.len() < MIN_WORDS {
        return None;
    }
    let mut mins = [u32::MAX; HASHES];
    let mut seen = std::collections::HashSet::new();
    for shingle in words.windows(SHINGLE) {
        let mut h = FNV_OFFSET;
        for w in shingle {
            h = fnv1a(h, w.as_bytes());
            h = fnv1a(h, b" ");
        }
        if !seen.insert(h) {
            continue;
        }
        for (i, min) in mins.iter_mut().enumerate() {
            let v = splitmix64(h ^ SEEDS[i]) as u32;
            *min = (*min).min(v);
        }
    }
    Some(Signature {
        hashes: mins,
        shingles: seen.len() as u32,
    })
}

/// The buckets of a signature, one per band.
pub fn bands(signature: &Signature) -> [u64; BANDS] {
    let mut out = [0u64; BANDS];
    for (band, rows) in signature.hashes.chunks(ROWS).enumerate() {
        let mut h = fnv1a(FNV_OFFSET, &[band as u8]);
        for r in rows {
            h = fnv1a(h, &r.to_le_bytes());
        }
        out[band] = h;
    }
    out
}

/// How much of the shorter story the other holds (0 to 1): the share of
/// its shingles found in the other, estimated from the signatures (their
/// hashes that agree estimate the Jaccard similarity J; with the two
/// sizes, the shared shingles are J × (|A| + |B|) / (1 + J)). Containment
/// rather than Jaccard: a paper that adds a line of its own to an agency
/// story, or cuts its last paragraph, still carries the story.
pub fn similarity(a: &Signature, b: &Signature) -> f64 {
    let j = a.hashes.iter().zip(&b.hashes).filter(|(x, y)| x == y).count() as f64 / HASHES as f64;
    let (na, nb) = (f64::from(a.shingles), f64::from(b.shingles));
    let shared = j * (na + nb) / (1.0 + j);
    (shared / na.min(nb).max(1.0)).min(1.0)
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn fnv1a(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// One seed per hash: splitmix64 of 1..=HASHES.
const SEEDS: [u64; HASHES] = {
    let mut seeds = [0u64; HASHES];
    let mut i = 0;
    while i < HASHES {
        let mut x = (i as u64 + 1).wrapping_add(0x9e37_79b9_7f4a_7c15);
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        seeds[i] = x ^ (x >> 31);
        i += 1;
    }
    seeds
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tests_support::entry;

    fn story(title: &str, text: &str) -> Entry {
        let mut e = entry(title);
        e.content = Some(format!("<p>{text}</p>"));
        e
    }

    const WIRE: &str = "Le préfet de l'Hérault a annoncé mardi la fermeture temporaire de la pêche \
        aux coquillages dans l'étang de Thau après la détection d'une contamination bactérienne \
        dans plusieurs parcs conchylicoles entre Bouzigues et Mèze, une mesure qui devrait durer \
        au moins deux semaines selon les services de l'État";

    #[test]
    fn an_agency_story_is_near_its_copies_and_far_from_other_stories() {
        let agency = signature(&story("Fermeture de la pêche aux coquillages à Thau", WIRE)).unwrap();
        let paper = signature(&story(
            "Étang de Thau : la pêche aux coquillages fermée",
            &format!("{WIRE}. Les producteurs s'inquiètent (avec AFP)."),
        ))
        .unwrap();
        let other = signature(&story(
            "Joutes nautiques : le tournoi de la Saint-Louis",
            "Le grand prix de la Saint-Louis a réuni mardi les jouteurs du quartier haut sur le canal \
             royal de Sète devant plusieurs milliers de spectateurs venus de tout le bassin de Thau",
        ))
        .unwrap();
        assert!(similarity(&agency, &paper) >= 0.6, "{}", similarity(&agency, &paper));
        assert!(similarity(&agency, &other) < 0.2, "{}", similarity(&agency, &other));
        assert!(
            bands(&agency).iter().zip(bands(&paper)).any(|(a, b)| *a == b),
            "found as a candidate"
        );
        // Folding: case and accents do not matter.
        let shouted = signature(&story(
            "FERMETURE DE LA PECHE AUX COQUILLAGES A THAU",
            &WIRE.to_uppercase(),
        ))
        .unwrap();
        assert_eq!(similarity(&agency, &shouted), 1.0);
    }

    #[test]
    fn a_short_story_is_not_judged() {
        assert!(signature(&story("Avis", "Mairie fermée lundi.")).is_none());
    }
}
