//! Property-based fuzzing of the parsers that read untrusted bytes: the response framer and the
//! JSONL loader. Runs in CI with proptest's default case count; `PROPTEST_CASES=1000000 cargo
//! test --release --test fuzz_parsers` runs it for longer.

use embperf::dataset::jsonl;
use embperf::http::{BodyDecoder, BodyKind, ResponseHead};
use proptest::prelude::*;

/// Frames `input` as a response fed in pieces of the given sizes; returns the body if complete.
fn frame(input: &[u8], pieces: &[usize]) -> Option<Vec<u8>> {
    let head = ResponseHead::parse(input).ok()??;
    assert!(head.len <= input.len());
    let mut decoder = BodyDecoder::new(head.body);
    let mut body = Vec::new();
    let mut rest = &input[head.len..];
    let mut sizes = pieces.iter().cycle();
    while !rest.is_empty() && !decoder.is_done() {
        let take = sizes.next().map_or(rest.len(), |&n| n.clamp(1, rest.len()));
        let used = decoder
            .feed(&rest[..take], |d| body.extend_from_slice(d))
            .ok()?;
        assert!(used <= take);
        if used < take {
            assert!(decoder.is_done(), "stopped early without finishing");
        }
        rest = &rest[used..];
    }
    assert_eq!(decoder.body_bytes(), body.len() as u64);
    (decoder.is_done() || decoder.ends_at_close()).then_some(body)
}

fn chunked(body: &[u8], sizes: &[usize], ext: bool, trailer: bool) -> Vec<u8> {
    let mut out = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    let mut rest = body;
    let mut sizes = sizes.iter().cycle();
    while !rest.is_empty() {
        let n = sizes.next().map_or(rest.len(), |&n| n.clamp(1, rest.len()));
        out.extend_from_slice(format!("{n:X}{}\r\n", if ext { ";a=b" } else { "" }).as_bytes());
        out.extend_from_slice(&rest[..n]);
        out.extend_from_slice(b"\r\n");
        rest = &rest[n..];
    }
    out.extend_from_slice(if trailer {
        b"0\r\nX-T: 1\r\n\r\n"
    } else {
        b"0\r\n\r\n"
    });
    out
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..512), pieces in proptest::collection::vec(1usize..64, 1..8)) {
        let _ = frame(&input, &pieces);
        for kind in [BodyKind::Chunked, BodyKind::Length(17), BodyKind::UntilClose] {
            let mut d = BodyDecoder::new(kind);
            let _ = d.feed(&input, |_| {});
        }
    }

    #[test]
    fn arbitrary_bytes_after_a_valid_head_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..512), pieces in proptest::collection::vec(1usize..64, 1..8)) {
        for head in [&b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"[..], b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n"] {
            let mut input = head.to_vec();
            input.extend_from_slice(&tail);
            let _ = frame(&input, &pieces);
        }
    }

    #[test]
    fn chunked_bodies_survive_any_split(body in proptest::collection::vec(any::<u8>(), 0..2048), sizes in proptest::collection::vec(1usize..300, 1..6), pieces in proptest::collection::vec(1usize..100, 1..8), ext: bool, trailer: bool) {
        let input = chunked(&body, &sizes, ext, trailer);
        prop_assert_eq!(frame(&input, &pieces), Some(body));
    }

    #[test]
    fn content_length_bodies_survive_any_split(body in proptest::collection::vec(any::<u8>(), 0..2048), pieces in proptest::collection::vec(1usize..100, 1..8)) {
        let mut input = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
        input.extend_from_slice(&body);
        prop_assert_eq!(frame(&input, &pieces), Some(body));
    }

    #[test]
    fn jsonl_never_panics_and_errors_name_a_line(text in "(\\PC|\n|\\{|\\}|\"|:|\\[|\\])*") {
        if let Err(e) = jsonl::parse(&text) {
            let line: usize = e.split(':').next().unwrap().parse().expect("error starts with a line number");
            prop_assert!(line >= 1 && line <= text.lines().count());
            prop_assert!(!e.contains('\n'));
        }
    }

    #[test]
    fn jsonl_round_trips_texts(texts in proptest::collection::vec("\\PC*", 1..5)) {
        let lines: Vec<String> = texts.iter().map(|t| serde_json::json!({"text": t}).to_string()).collect();
        let entries = jsonl::parse(&lines.join("\n")).unwrap();
        let got: Vec<&String> = entries.iter().map(|e| &e.texts[0]).collect();
        prop_assert_eq!(got, texts.iter().collect::<Vec<_>>());
    }
}
