//! `inputs.json`: the exact bodies sent, as AIPerf writes them
//! (`{"data":[{"session_id","payloads":[body]}]}`).

use std::io::Write;

use crate::dataset::Payload;

/// Deterministic for a given dataset: same seed, same bytes.
pub fn render(payloads: &[Payload]) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(payloads.iter().map(|p| p.body.len() + 64).sum::<usize>() + 16);
    out.extend_from_slice(b"{\n  \"data\": [");
    for (i, p) in payloads.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let _ = write!(
            out,
            "\n    {{\"session_id\": \"session_{i:06}\", \"payloads\": ["
        );
        out.extend_from_slice(&p.body);
        out.extend_from_slice(b"]}");
    }
    out.extend_from_slice(b"\n  ]\n}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_valid_json_with_the_bodies() {
        let p = |b: &str| Payload {
            body: b.as_bytes().to_vec(),
            inputs: 1,
            isl: 1,
        };
        let bytes = render(&[
            p(r#"{"model":"m","input":["a"]}"#),
            p(r#"{"model":"m","input":["b"]}"#),
        ]);
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["data"][1]["payloads"][0]["input"][0], "b");
        assert_eq!(v["data"][0]["session_id"], "session_000000");
    }
}
