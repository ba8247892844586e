//! Response framing on arbitrary bytes, fed in pieces whose sizes come from the input.
#![no_main]

use embperf::http::{BodyDecoder, ResponseHead};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&split, input)) = data.split_first() else { return };
    let Ok(Some(head)) = ResponseHead::parse(input) else { return };
    let mut decoder = BodyDecoder::new(head.body);
    let mut rest = &input[head.len..];
    let step = usize::from(split).max(1);
    let mut seen = 0u64;
    while !rest.is_empty() && !decoder.is_done() {
        let take = step.min(rest.len());
        let Ok(used) = decoder.feed(&rest[..take], |d| seen += d.len() as u64) else { return };
        assert!(used <= take);
        rest = &rest[used..];
        if used < take {
            assert!(decoder.is_done());
        }
    }
    assert_eq!(decoder.body_bytes(), seen);
});
