//! Response framing: parse the head with httparse, then frame the body by `Content-Length`,
//! chunked transfer coding, or connection close. The decoder is a byte-level state machine, so
//! a response may arrive split at any byte.

use std::fmt;
use std::mem::MaybeUninit;

/// The largest response head accepted; a server sending more is broken or hostile.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
const MAX_HEADERS: usize = 64;
/// Chunk extensions and trailer lines longer than this are rejected.
const MAX_CHUNK_LINE: u32 = 8 * 1024;

/// What went wrong while framing a response. Each variant is one error class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HttpError {
    BadStatusLine,
    BadHeader,
    HeadTooLarge,
    BadContentLength,
    UnsupportedTransferEncoding,
    BadChunk,
}

impl HttpError {
    pub fn as_str(self) -> &'static str {
        match self {
            HttpError::BadStatusLine => "malformed status line",
            HttpError::BadHeader => "malformed header",
            HttpError::HeadTooLarge => "response head too large",
            HttpError::BadContentLength => "invalid Content-Length",
            HttpError::UnsupportedTransferEncoding => "unsupported Transfer-Encoding",
            HttpError::BadChunk => "malformed chunked encoding",
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the body of a response is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    Length(u64),
    Chunked,
    /// No length given: the body runs until the server closes the connection.
    UntilClose,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    /// Bytes of the head, including the blank line.
    pub len: usize,
    pub body: BodyKind,
    /// Whether the connection may carry another request after this response.
    pub keep_alive: bool,
}

impl ResponseHead {
    /// Parses a response head from the start of `buf`; `Ok(None)` means more bytes are needed.
    /// Interim (1xx) responses are returned like any other; callers skip them.
    pub fn parse(buf: &[u8]) -> Result<Option<ResponseHead>, HttpError> {
        // Left uninitialised: httparse writes only the headers it finds, and zeroing 64 slots
        // would cost more than parsing a typical head.
        let mut headers = [const { MaybeUninit::<httparse::Header>::uninit() }; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut []);
        let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
            &mut response,
            buf,
            &mut headers,
        );
        let len = match parsed {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD_BYTES => {
                return Err(HttpError::HeadTooLarge)
            }
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(e) => return Err(classify(e)),
        };
        let status = response.code.ok_or(HttpError::BadStatusLine)?;
        let http10 = response.version == Some(0);
        let mut keep_alive = !http10;
        let mut content_length: Option<u64> = None;
        let mut chunked = false;
        for h in response.headers.iter() {
            if h.name.eq_ignore_ascii_case("content-length") {
                let v = parse_decimal(h.value).ok_or(HttpError::BadContentLength)?;
                if content_length.is_some_and(|old| old != v) {
                    return Err(HttpError::BadContentLength);
                }
                content_length = Some(v);
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                let last = h.value.rsplit(|&b| b == b',').next().unwrap_or(b"");
                if !trim(last).eq_ignore_ascii_case(b"chunked") {
                    return Err(HttpError::UnsupportedTransferEncoding);
                }
                chunked = true;
            } else if h.name.eq_ignore_ascii_case("connection") {
                for token in h.value.split(|&b| b == b',') {
                    let token = trim(token);
                    if token.eq_ignore_ascii_case(b"close") {
                        keep_alive = false;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") && http10 {
                        keep_alive = true;
                    }
                }
            }
        }
        let body = if (100..200).contains(&status) || status == 204 || status == 304 {
            BodyKind::Length(0)
        } else if chunked {
            BodyKind::Chunked
        } else if let Some(n) = content_length {
            BodyKind::Length(n)
        } else {
            keep_alive = false;
            BodyKind::UntilClose
        };
        Ok(Some(ResponseHead {
            status,
            len,
            body,
            keep_alive,
        }))
    }
}

fn classify(e: httparse::Error) -> HttpError {
    match e {
        httparse::Error::Status | httparse::Error::Version => HttpError::BadStatusLine,
        httparse::Error::TooManyHeaders => HttpError::HeadTooLarge,
        _ => HttpError::BadHeader,
    }
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

fn parse_decimal(v: &[u8]) -> Option<u64> {
    let v = trim(v);
    if v.is_empty() || v.len() > 19 {
        return None;
    }
    v.iter().try_fold(0u64, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + u64::from(b - b'0'))
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    Size { value: u64, digits: u8 },
    Extension { value: u64, len: u32 },
    SizeLf { value: u64 },
    Data { left: u64 },
    DataCr,
    DataLf,
    Trailer { len: u32 },
    TrailerLf { len: u32 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Length { left: u64 },
    Chunked(Chunk),
    UntilClose,
    Done,
}

/// Incremental body framing. Feed it the bytes after the head, in any split; it says how many
/// it consumed and hands body data (without chunk framing) to a callback.
#[derive(Debug, Clone)]
pub struct BodyDecoder {
    state: State,
    body_bytes: u64,
}

impl BodyDecoder {
    pub fn new(kind: BodyKind) -> BodyDecoder {
        let state = match kind {
            BodyKind::Length(0) => State::Done,
            BodyKind::Length(n) => State::Length { left: n },
            BodyKind::Chunked => State::Chunked(Chunk::Size {
                value: 0,
                digits: 0,
            }),
            BodyKind::UntilClose => State::UntilClose,
        };
        BodyDecoder {
            state,
            body_bytes: 0,
        }
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Whether the body ends when the peer closes (so EOF is the normal end, not an error).
    pub fn ends_at_close(&self) -> bool {
        self.state == State::UntilClose
    }

    /// Body bytes seen so far (payload only, without chunk framing).
    pub fn body_bytes(&self) -> u64 {
        self.body_bytes
    }

    /// Consumes a prefix of `input`, returning how many bytes belonged to this body. Stops at the
    /// end of the body: any bytes after it are not consumed.
    pub fn feed(
        &mut self,
        input: &[u8],
        mut on_data: impl FnMut(&[u8]),
    ) -> Result<usize, HttpError> {
        let mut pos = 0;
        while pos < input.len() {
            match self.state {
                State::Done => break,
                State::UntilClose => {
                    self.data(&input[pos..], &mut on_data);
                    pos = input.len();
                }
                State::Length { left } => {
                    let take = left.min((input.len() - pos) as u64) as usize;
                    self.data(&input[pos..pos + take], &mut on_data);
                    pos += take;
                    let left = left - take as u64;
                    self.state = if left == 0 {
                        State::Done
                    } else {
                        State::Length { left }
                    };
                }
                State::Chunked(Chunk::Data { left }) => {
                    let take = left.min((input.len() - pos) as u64) as usize;
                    self.data(&input[pos..pos + take], &mut on_data);
                    pos += take;
                    let left = left - take as u64;
                    self.state = State::Chunked(if left == 0 {
                        Chunk::DataCr
                    } else {
                        Chunk::Data { left }
                    });
                }
                State::Chunked(chunk) => {
                    self.state = step_chunk(chunk, input[pos])?;
                    pos += 1;
                }
            }
        }
        Ok(pos)
    }

    fn data(&mut self, bytes: &[u8], on_data: &mut impl FnMut(&[u8])) {
        self.body_bytes += bytes.len() as u64;
        on_data(bytes);
    }
}

/// One byte of chunk framing (sizes, extensions, CRLFs and trailers).
fn step_chunk(chunk: Chunk, b: u8) -> Result<State, HttpError> {
    let next = match (chunk, b) {
        (Chunk::Size { value, digits }, _) if b.is_ascii_hexdigit() => {
            if digits >= 15 {
                return Err(HttpError::BadChunk);
            }
            let d = (b as char).to_digit(16).unwrap_or(0) as u64;
            Chunk::Size {
                value: value * 16 + d,
                digits: digits + 1,
            }
        }
        (Chunk::Size { digits: 0, .. }, _) => return Err(HttpError::BadChunk),
        (Chunk::Size { value, .. }, b';' | b' ' | b'\t') => Chunk::Extension { value, len: 0 },
        (Chunk::Size { value, .. }, b'\r') => Chunk::SizeLf { value },
        (Chunk::Extension { value, .. }, b'\r') => Chunk::SizeLf { value },
        (Chunk::Extension { value, len }, _) if len < MAX_CHUNK_LINE && b != b'\n' => {
            Chunk::Extension {
                value,
                len: len + 1,
            }
        }
        (Chunk::SizeLf { value: 0 }, b'\n') => Chunk::Trailer { len: 0 },
        (Chunk::SizeLf { value }, b'\n') => Chunk::Data { left: value },
        (Chunk::DataCr, b'\r') => Chunk::DataLf,
        (Chunk::DataLf, b'\n') => Chunk::Size {
            value: 0,
            digits: 0,
        },
        (Chunk::Trailer { len }, b'\r') => Chunk::TrailerLf { len },
        (Chunk::Trailer { len }, _) if len < MAX_CHUNK_LINE && b != b'\n' => {
            Chunk::Trailer { len: len + 1 }
        }
        (Chunk::TrailerLf { len: 0 }, b'\n') => return Ok(State::Done),
        (Chunk::TrailerLf { .. }, b'\n') => Chunk::Trailer { len: 0 },
        _ => return Err(HttpError::BadChunk),
    };
    Ok(State::Chunked(next))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(s: &str) -> ResponseHead {
        ResponseHead::parse(s.as_bytes()).unwrap().unwrap()
    }

    /// Feeds `input` split at every possible point and returns the decoded body.
    fn decode_split(kind: BodyKind, input: &[u8]) -> Vec<Result<(Vec<u8>, usize), HttpError>> {
        (0..=input.len())
            .map(|cut| {
                let mut d = BodyDecoder::new(kind);
                let mut body = Vec::new();
                let a = d.feed(&input[..cut], |b| body.extend_from_slice(b))?;
                let mut used = a;
                if a == cut {
                    used += d.feed(&input[cut..], |b| body.extend_from_slice(b))?;
                }
                assert!(d.is_done(), "not done after full input (cut {cut})");
                Ok((body, used))
            })
            .collect()
    }

    #[test]
    fn parses_heads() {
        let h = head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
        assert_eq!(
            (h.status, h.body, h.keep_alive, h.len),
            (200, BodyKind::Length(5), true, 38)
        );
        let h = head(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 9\r\n\r\n",
        );
        assert_eq!(h.body, BodyKind::Chunked);
        let h = head("HTTP/1.1 503 Busy\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
        assert!(!h.keep_alive);
        let h = head("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n");
        assert!(!h.keep_alive);
        let h = head("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 1\r\n\r\n");
        assert!(h.keep_alive);
        let h = head("HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!((h.body, h.keep_alive), (BodyKind::UntilClose, false));
        let h = head("HTTP/1.1 204 No Content\r\n\r\n");
        assert_eq!((h.body, h.keep_alive), (BodyKind::Length(0), true));
        assert_eq!(
            ResponseHead::parse(b"HTTP/1.1 200 OK\r\nContent-Le").unwrap(),
            None
        );
    }

    #[test]
    fn rejects_bad_heads() {
        let err = |s: &str| ResponseHead::parse(s.as_bytes()).unwrap_err();
        assert_eq!(err("garbage\r\n\r\n"), HttpError::BadStatusLine);
        assert_eq!(
            err("HTTP/1.1 200 OK\r\nBad Header\r\n\r\n"),
            HttpError::BadHeader
        );
        assert_eq!(
            err("HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"),
            HttpError::BadContentLength
        );
        assert_eq!(
            err("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            HttpError::BadContentLength
        );
        assert_eq!(
            err("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"),
            HttpError::UnsupportedTransferEncoding
        );
        let big = format!("HTTP/1.1 200 OK\r\nX: {}", "a".repeat(MAX_HEAD_BYTES));
        assert_eq!(err(&big), HttpError::HeadTooLarge);
    }

    #[test]
    fn frames_content_length_at_every_split() {
        for r in decode_split(BodyKind::Length(5), b"helloHTTP/1.1") {
            assert_eq!(r.unwrap(), (b"hello".to_vec(), 5));
        }
    }

    #[test]
    fn frames_chunked_with_extensions_and_trailers_at_every_split() {
        let input = b"5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT";
        for r in decode_split(BodyKind::Chunked, input) {
            assert_eq!(r.unwrap(), (b"hello world".to_vec(), input.len() - 4));
        }
    }

    #[test]
    fn rejects_bad_chunks() {
        for bad in [
            &b"x\r\n"[..],
            b"\r\n",
            b"5\r\nhelloXX",
            b"5\n",
            b"ffffffffffffffff\r\n",
        ] {
            let mut d = BodyDecoder::new(BodyKind::Chunked);
            assert_eq!(
                d.feed(bad, |_| {}),
                Err(HttpError::BadChunk),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn until_close_takes_everything() {
        let mut d = BodyDecoder::new(BodyKind::UntilClose);
        assert_eq!(d.feed(b"abc", |_| {}), Ok(3));
        assert!(d.ends_at_close() && !d.is_done());
        assert_eq!(d.body_bytes(), 3);
    }
}
