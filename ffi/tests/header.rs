//! Regenerates `include/kinetype.h` with cbindgen and fails when the committed header differs.
//! Run with `KINETYPE_BLESS=1` to write the new header instead.
//!
//! Also ties `KINETYPE_ABI_VERSION` to the header's declarations, so a change to a struct, an
//! enum or a signature fails this test until the version rises and its fingerprint is
//! recorded.

use std::path::Path;

use sha2::{Digest, Sha256};

/// Each ABI version with the SHA-256 of its header's declarations (see [`declarations`]).
/// Append a row when `KINETYPE_ABI_VERSION` rises, and never edit an old row.
const ABI_FINGERPRINTS: &[(u32, &str)] = &[
    (
        1,
        "bb8704947e34ed7726f4b4c9e505f1e1cca3a1464bdeb35e3657a9c25be1ebfe",
    ),
    (
        2,
        "6359464e5f05a620a830a36d36b7174a502eb2546d8a5f72479ab60bfeb84da9",
    ),
    (
        3,
        "5956c9d77b12b7e926687f076697a610d7e8cbb6eff8817046f65035a4da8034",
    ),
];

fn generated_header() -> String {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config =
        cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml parses");
    let bindings = cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header");
    let mut generated = Vec::new();
    bindings.write(&mut generated);
    String::from_utf8(generated).expect("the header is UTF-8")
}

#[test]
fn header_matches_sources() {
    let generated = generated_header();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("include/kinetype.h");
    if std::env::var_os("KINETYPE_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("header is writable");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is out of date; regenerate it with `KINETYPE_BLESS=1 cargo test -p kinetype-ffi \
         --test header` and commit it",
        path.display()
    );
}

/// Returns the header without its comments and with every run of white space made one
/// space, so that editing documentation leaves the ABI fingerprint alone. The header's only
/// string literal is `extern "C"`, so outside comments `//` and `/*` always start one.
fn declarations(header: &str) -> String {
    let mut code = String::with_capacity(header.len());
    let mut rest = header;
    while !rest.is_empty() {
        let line = rest.find("//");
        let block = rest.find("/*");
        match (line, block) {
            (Some(at), b) if b.is_none_or(|b| at < b) => {
                code.push_str(&rest[..at]);
                rest = rest[at..].find('\n').map_or("", |end| &rest[at + end..]);
            }
            (_, Some(at)) => {
                code.push_str(&rest[..at]);
                let end = rest[at + 2..]
                    .find("*/")
                    .expect("every block comment in the header is closed");
                rest = &rest[at + 2 + end + 2..];
                code.push(' ');
            }
            (_, None) => {
                code.push_str(rest);
                rest = "";
            }
        }
    }
    code.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn declarations_ignore_comments() {
    let header = "/* a\n b */ int f(void); // c\n// d\nint  g(int x);\n";
    assert_eq!(declarations(header), "int f(void); int g(int x);");
    let nested = "/* a // b */ int f(void); // c /* d\nint g(void);\n";
    assert_eq!(declarations(nested), "int f(void); int g(void);");
}

#[test]
fn abi_version_follows_declarations() {
    let header = generated_header();
    // The library crate builds no rlib, so the constant is read from the header.
    let version: u32 = header
        .lines()
        .find_map(|line| line.strip_prefix("#define KINETYPE_ABI_VERSION "))
        .expect("the header defines KINETYPE_ABI_VERSION")
        .trim()
        .parse()
        .expect("KINETYPE_ABI_VERSION is a number");
    let fingerprint: String = Sha256::digest(declarations(&header).as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let recorded = ABI_FINGERPRINTS
        .iter()
        .find(|(v, _)| *v == version)
        .map(|(_, f)| *f);
    let last = ABI_FINGERPRINTS.last().map_or(0, |(v, _)| *v);
    assert!(
        recorded == Some(fingerprint.as_str()),
        "the C declarations do not match ABI version {version} (recorded: {recorded:?}, now: \
         {fingerprint}). When a struct, enum or signature changed, raise KINETYPE_ABI_VERSION \
         in ffi/src/lib.rs to {} and append ({}, \"<the new fingerprint>\") to \
         ABI_FINGERPRINTS in ffi/tests/header.rs",
        last + 1,
        last + 1
    );
}
