//! Regenerates `include/kinetype.h` with cbindgen and fails when the committed header differs.
//! Run with `KINETYPE_BLESS=1` to write the new header instead.

use std::path::Path;

#[test]
fn header_matches_sources() {
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
    let generated = String::from_utf8(generated).expect("the header is UTF-8");

    let path = crate_dir.join("include/kinetype.h");
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
