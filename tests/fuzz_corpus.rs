//! Replays the committed fuzz corpora (fuzz/corpus/<target>/) through the same checks the
//! fuzz targets run, without libFuzzer, so that `cargo test` keeps every input the fuzzer
//! found interesting passing. Regression inputs for fixed crashes live in the corpora too.

use std::path::{Path, PathBuf};

use modemqtt::fuzzing::{check_codec, check_dialect, families};

fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join("corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("corpus entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "{}: no corpus files (run the fuzz target and `cargo fuzz cmin`)",
        dir.display()
    );
    files
}

fn replay(target: &str, check: impl Fn(&[u8]) -> Result<(), String>) {
    let mut failures = Vec::new();
    let files = corpus(target);
    for path in &files {
        let data = std::fs::read(path).expect("read corpus file");
        if let Err(e) = check(&data) {
            failures.push(format!("{}: {e}", path.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{target}: {} of {} corpus inputs fail:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn codec_corpus() {
    replay("codec", check_codec);
}

/// Each family's target `<name>_urc` (fuzz/fuzz_targets/).
#[test]
fn every_family_urc_corpus() {
    for family in families() {
        replay(&format!("{}_urc", family.name()), |d| {
            check_dialect(family, d)
        });
    }
}
