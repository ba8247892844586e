//! Request bytes, built once per payload before the clock starts.

/// The parts of a request that are the same for every payload sent to one endpoint.
#[derive(Debug, Clone)]
pub struct RequestTemplate {
    head_prefix: Vec<u8>,
}

impl RequestTemplate {
    /// `headers` are sent in order after the fixed ones; a user header with the same name as a
    /// fixed one replaces it.
    pub fn new(authority: &str, path: &str, headers: &[(String, String)]) -> RequestTemplate {
        let mut fixed: Vec<(String, String)> = vec![
            ("Host".into(), authority.into()),
            (
                "User-Agent".into(),
                concat!("embperf/", env!("CARGO_PKG_VERSION")).into(),
            ),
            ("Content-Type".into(), "application/json".into()),
            ("Accept".into(), "application/json".into()),
        ];
        for (name, value) in headers {
            match fixed.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
                Some(slot) => slot.1 = value.clone(),
                None => fixed.push((name.clone(), value.clone())),
            }
        }
        let mut head_prefix = format!("POST {path} HTTP/1.1\r\n").into_bytes();
        for (name, value) in &fixed {
            head_prefix.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        RequestTemplate { head_prefix }
    }

    /// The complete request: head, `Content-Length`, blank line, body.
    pub fn build(&self, body: &[u8]) -> Vec<u8> {
        let length_line = format!("Content-Length: {}\r\n\r\n", body.len());
        let mut out = Vec::with_capacity(self.head_prefix.len() + length_line.len() + body.len());
        out.extend_from_slice(&self.head_prefix);
        out.extend_from_slice(length_line.as_bytes());
        out.extend_from_slice(body);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_a_parseable_request() {
        let t = RequestTemplate::new(
            "h:1",
            "/v1/embeddings",
            &[("X-A".into(), "1".into()), ("accept".into(), "*/*".into())],
        );
        let bytes = t.build(br#"{"model":"m","input":["a"]}"#);
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut req = httparse::Request::new(&mut headers);
        let n = match req.parse(&bytes).unwrap() {
            httparse::Status::Complete(n) => n,
            httparse::Status::Partial => panic!("partial"),
        };
        assert_eq!(req.method, Some("POST"));
        assert_eq!(req.path, Some("/v1/embeddings"));
        let get = |name: &str| {
            req.headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| h.value.to_vec())
        };
        assert_eq!(get("x-a").unwrap(), b"1");
        assert_eq!(get("accept").unwrap(), b"*/*");
        assert_eq!(
            req.headers
                .iter()
                .filter(|h| h.name.eq_ignore_ascii_case("accept"))
                .count(),
            1
        );
        assert_eq!(get("content-length").unwrap(), b"27");
        assert_eq!(&bytes[n..], br#"{"model":"m","input":["a"]}"#);
    }
}
