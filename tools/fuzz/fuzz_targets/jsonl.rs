//! The JSONL dataset loader on arbitrary text: errors, never panics, and names a line.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Err(e) = embperf::dataset::jsonl::parse(text) {
        let line: usize = e.split(':').next().and_then(|n| n.parse().ok()).expect("error names a line");
        assert!(line >= 1 && !e.contains('\n'));
    }
});
