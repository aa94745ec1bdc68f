//! Every environment variable the code reads is documented in `.env.template`.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if path
                .file_name()
                .is_some_and(|n| n != "target" && n != "tests")
            {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The upper-case string literals that follow one of `markers` (whitespace allowed between)
/// in `source`.
fn variables_after(source: &str, markers: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for marker in markers {
        for (at, _) in source.match_indices(marker) {
            let Some(rest) = source[at + marker.len()..].trim_start().strip_prefix('"') else {
                continue;
            };
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            if name.len() > 2 && rest[name.len()..].starts_with('"') {
                found.push(name);
            }
        }
    }
    found
}

#[test]
fn every_variable_read_by_the_code_is_in_the_env_template() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let template = std::fs::read_to_string(root.join(".env.template")).unwrap();
    let mut files = Vec::new();
    rust_files(&root.join("crates"), &mut files);
    rust_files(&root.join("services"), &mut files);

    let mut read = Vec::new();
    for file in &files {
        let source = std::fs::read_to_string(file).unwrap();
        read.extend(variables_after(
            &source,
            &[
                ".required(",
                ".optional(",
                ".or(",
                ">(",
                "listen_var:",
                "env =",
                "var:",
                "seconds(",
            ],
        ));
    }
    read.sort();
    read.dedup();

    assert!(
        read.contains(&"DATABASE_URL".to_owned()),
        "the scan finds nothing: {read:?}"
    );
    let missing: Vec<_> = read
        .iter()
        .filter(|var| {
            !template
                .lines()
                .any(|l| l.trim_start_matches('#').starts_with(&format!("{var}=")))
        })
        .collect();
    assert!(missing.is_empty(), "not in .env.template: {missing:?}");
}
