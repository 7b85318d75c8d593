//! The fidelity round trip (`bench/fidelity.py`) on a sample of the corpus,
//! through the real binary and HTTP: every story republished as Python
//! feedparser reads the original. The full run and every difference with
//! its cause are in CONFORMANCE.md. Skipped, with a message, without the
//! corpus or feedparser.

use std::path::Path;
use std::process::Command;

#[test]
fn a_sample_of_the_corpus_is_republished_as_feedparser_reads_it() {
    let corpus = std::env::var_os("THAU_CORPUS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    if !corpus.is_dir() {
        eprintln!("SKIPPED: no feed corpus at {} (THAU_CORPUS)", corpus.display());
        return;
    }
    if !Command::new("python3")
        .args(["-c", "import feedparser"])
        .status()
        .is_ok_and(|s| s.success())
    {
        eprintln!("SKIPPED: Python feedparser is not installed (pip install feedparser)");
        return;
    }
    let report = tempfile::NamedTempFile::new().unwrap();
    let run = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/fidelity.py"))
        .arg(env!("CARGO_BIN_EXE_thau"))
        .arg(&corpus)
        .args(["--sample", "150", "--json"])
        .arg(report.path())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{said}\n{}", String::from_utf8_lossy(&run.stderr));
    println!("{said}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(report.path()).unwrap()).unwrap();
    assert!(report["documents"].as_u64().unwrap() >= 140, "{said}");
    // A little under this sample's figures (CONFORMANCE.md): a change that
    // loses stories on the way fails here.
    for format in ["atom", "rss"] {
        let figures = &report["figures"][format];
        for (field, floor) in [("title", 96.0), ("link", 94.0), ("date", 93.0), ("content", 93.0)] {
            let got = figures[field].as_f64().unwrap();
            assert!(got >= floor, "{format} {field}: {got}% < {floor}%\n{said}");
        }
        assert!(figures["documents_losing_entries"].as_u64().unwrap() <= 2, "{said}");
    }
}
