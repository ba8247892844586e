//! One client connection of the mock server: read a request, answer it, repeat while the
//! client keeps the connection alive.

use std::rc::Rc;

use monoio::io::AsyncWriteRentExt;
use monoio::net::TcpStream;

use super::body::{write_error, Responder, Route};
use super::{WorkerContext, WorkerCounters};
use crate::http::response::MAX_HEAD_BYTES;
use crate::net::read_more;

const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// The parts of a request head the server needs, copied out of the read buffer.
struct RequestHead {
    len: usize,
    target: Target,
    content_length: usize,
    keep_alive: bool,
}

/// The request line, copied out of the buffer only when it is not the common embeddings POST
/// (which needs no allocation).
enum Target {
    Embeddings,
    Other { method: String, path: String },
}

enum HeadError {
    Malformed(&'static str),
    LengthRequired,
}

fn parse_head(buf: &[u8]) -> Result<Option<RequestHead>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(HeadError::Malformed("malformed request head")),
    };
    let mut keep_alive = req.version == Some(1);
    let mut content_length = 0;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            content_length = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .ok_or(HeadError::Malformed("invalid Content-Length"))?;
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(HeadError::LengthRequired);
        } else if h.name.eq_ignore_ascii_case("connection") {
            let v = h.value.to_ascii_lowercase();
            if v.windows(5).any(|w| w == b"close") {
                keep_alive = false;
            } else if v.windows(10).any(|w| w == b"keep-alive") {
                keep_alive = true;
            }
        }
    }
    let (method, path) = (req.method.unwrap_or(""), req.path.unwrap_or(""));
    let target = if method == "POST" && Route::of(path) == Route::Embeddings {
        Target::Embeddings
    } else {
        Target::Other {
            method: method.to_string(),
            path: path.to_string(),
        }
    };
    Ok(Some(RequestHead {
        len,
        target,
        content_length,
        keep_alive,
    }))
}

pub async fn serve_connection(
    mut stream: TcpStream,
    ctx: Rc<WorkerContext>,
    responder: Rc<Responder>,
) {
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut out: Vec<u8> = Vec::with_capacity(16 * 1024);
    // Unconsumed input is buf[start..]; a pipelined next request may already be there.
    let mut start = 0;
    loop {
        let head = loop {
            match parse_head(&buf[start..]) {
                Ok(Some(head)) => break head,
                Ok(None) if buf.len() - start >= MAX_HEAD_BYTES => {
                    write_error(
                        &mut out,
                        431,
                        "Request Header Fields Too Large",
                        "request head too large",
                    );
                    let _ = stream.write_all(out).await;
                    return;
                }
                Ok(None) => {}
                Err(e) => {
                    let (status, reason, message) = match e {
                        HeadError::Malformed(m) => (400, "Bad Request", m),
                        HeadError::LengthRequired => (
                            411,
                            "Length Required",
                            "chunked request bodies are not supported",
                        ),
                    };
                    WorkerCounters::bump(&ctx.counters().bad_requests);
                    write_error(&mut out, status, reason, message);
                    let _ = stream.write_all(out).await;
                    return;
                }
            }
            if start > 0 {
                buf.drain(..start);
                start = 0;
            }
            let (res, b) = read_more(&mut stream, buf).await;
            buf = b;
            if !matches!(res, Ok(n) if n > 0) {
                return;
            }
        };
        WorkerCounters::bump(&ctx.counters().requests);
        if head.content_length > MAX_BODY_BYTES {
            write_error(&mut out, 413, "Payload Too Large", "request body too large");
            let _ = stream.write_all(out).await;
            return;
        }
        let end = start + head.len + head.content_length;
        while buf.len() < end {
            if buf.capacity() < end {
                buf.reserve(end - buf.len());
            }
            let (res, b) = read_more(&mut stream, buf).await;
            buf = b;
            if !matches!(res, Ok(n) if n > 0) {
                return;
            }
        }
        let (method, path) = match &head.target {
            Target::Embeddings => ("POST", "/v1/embeddings"),
            Target::Other { method, path } => (method.as_str(), path.as_str()),
        };
        let reply = responder.respond(
            method,
            path,
            &buf[start + head.len..end],
            ctx.counters(),
            &mut out,
        );
        if !reply.delay.is_zero() {
            monoio::time::sleep(reply.delay).await;
        }
        let (res, o) = stream.write_all(out).await;
        out = o;
        if res.is_err() || !head.keep_alive {
            return;
        }
        start = end;
        if start == buf.len() {
            buf.clear();
            start = 0;
        }
    }
}
