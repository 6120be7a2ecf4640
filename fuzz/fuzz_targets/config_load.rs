//! Config loading (TOML → typed config → every section's check) on any text:
//! it returns settings or errors, and every error names a key or a line.
#![no_main]

use driftwatch::settings::Settings;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(errors) = Settings::from_str_with_base(text, std::path::Path::new("/nonexistent")) {
        assert!(!errors.is_empty());
        for e in &errors {
            assert!(
                !e.path.is_empty() || e.line.is_some() || !e.message.is_empty(),
                "{e:?}"
            );
        }
    }
});
