//! `lmi-plugin.toml` comes from a plugin author: any text must either parse into a manifest
//! that passes validation or be a clear error — never a panic. A manifest that parses must
//! survive the round trip the store makes at install (serialize, write, parse again).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use lmi::plugins::manifest::Manifest;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz/lmi-plugin.toml");
    let Ok(manifest) = Manifest::parse(text, path) else {
        return;
    };
    let _ = manifest.host_compatible();
    let _ = manifest
        .permissions
        .describe(Path::new("/data/plugin-data/fuzz"));
    let written = toml::to_string_pretty(&manifest).expect("a parsed manifest serializes");
    let again = Manifest::parse(&written, path).unwrap_or_else(|e| {
        panic!("the installed copy of a valid manifest is invalid: {e}\n{written}")
    });
    assert_eq!(
        again, manifest,
        "the manifest changed in the install round trip"
    );
});
