//! Request routing and response bytes for the mock server. Embeddings bodies are built once per
//! batch size and reused, so the server costs little more than the socket work.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::rc::Rc;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

use super::{MockConfig, WorkerCounters};

/// The most inputs one request may carry (OpenAI's limit).
const MAX_INPUTS: usize = 2048;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Embeddings,
    Models,
    Health,
    Other,
}

impl Route {
    pub fn of(path: &str) -> Route {
        let path = path.split('?').next().unwrap_or(path);
        if path.ends_with("/embeddings") {
            Route::Embeddings
        } else if path == "/v1/models" {
            Route::Models
        } else if path == "/health" {
            Route::Health
        } else {
            Route::Other
        }
    }
}

/// What to do after the response bytes are built.
pub struct Reply {
    pub delay: Duration,
}

pub struct Responder {
    model: String,
    base_latency_ms: f64,
    per_input_latency_ms: f64,
    error_rate: f64,
    embedding_json: String,
    /// `[{"object":"embedding","index":0,"embedding":[...]},...]` by number of inputs.
    data_by_count: RefCell<HashMap<usize, Rc<[u8]>>>,
    rng: RefCell<SmallRng>,
    tail: RefCell<Vec<u8>>,
}

impl Responder {
    pub fn new(config: &MockConfig, worker: usize) -> Responder {
        Responder {
            model: config.model.clone(),
            base_latency_ms: config.base_latency_ms,
            per_input_latency_ms: config.per_input_latency_ms,
            error_rate: config.error_rate_pct / 100.0,
            embedding_json: unit_vector_json(config.dims),
            data_by_count: RefCell::new(HashMap::new()),
            tail: RefCell::new(Vec::with_capacity(256)),
            rng: RefCell::new(SmallRng::seed_from_u64(
                config.seed.wrapping_add(worker as u64),
            )),
        }
    }

    /// Writes the full response (head and body) for one request into `out`.
    pub fn respond(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        counters: &WorkerCounters,
        out: &mut Vec<u8>,
    ) -> Reply {
        let instant = Reply {
            delay: Duration::ZERO,
        };
        match (Route::of(path), method) {
            (Route::Embeddings, "POST") => self.embeddings(body, counters, out),
            (Route::Models, "GET") => {
                let body = serde_json::json!({"object": "list", "data": [{"id": self.model, "object": "model", "owned_by": "embperf-mock"}]});
                write_response(out, 200, "OK", body.to_string().as_bytes());
                instant
            }
            (Route::Health, "GET") => {
                write_response(out, 200, "OK", b"{\"status\":\"ok\"}");
                instant
            }
            (Route::Other, _) => {
                WorkerCounters::bump(&counters.bad_requests);
                write_error(out, 404, "Not Found", &format!("no route for {path}"));
                instant
            }
            _ => {
                WorkerCounters::bump(&counters.bad_requests);
                write_error(
                    out,
                    405,
                    "Method Not Allowed",
                    &format!("{method} is not allowed on {path}"),
                );
                instant
            }
        }
    }

    fn embeddings(&self, body: &[u8], counters: &WorkerCounters, out: &mut Vec<u8>) -> Reply {
        let request: EmbeddingsRequest = match serde_json::from_slice(body) {
            Ok(r) => r,
            Err(e) => {
                WorkerCounters::bump(&counters.bad_requests);
                write_error(
                    out,
                    400,
                    "Bad Request",
                    &format!("invalid embeddings request: {e}"),
                );
                return Reply {
                    delay: Duration::ZERO,
                };
            }
        };
        let n = request.input.count;
        let delay_ms = self.base_latency_ms + self.per_input_latency_ms * n as f64;
        let delay = Duration::from_secs_f64(delay_ms.max(0.0) / 1000.0);
        if self.error_rate > 0.0 && self.rng.borrow_mut().gen::<f64>() < self.error_rate {
            WorkerCounters::bump(&counters.injected_errors);
            write_error(
                out,
                500,
                "Internal Server Error",
                "injected failure (--error-rate)",
            );
            return Reply { delay };
        }
        WorkerCounters::bump(&counters.embeddings_ok);
        let data = self.data_for(n);
        // The tail (model and usage) varies per request; it goes through a reused buffer so a
        // response costs no allocation.
        let mut tail = self.tail.borrow_mut();
        tail.clear();
        tail.extend_from_slice(b",\"model\":");
        let _ = serde_json::to_writer(
            &mut *tail,
            request.model.as_ref().map_or(&*self.model, |m| &m.0),
        );
        let tokens = request.input.approx_tokens;
        let _ = write!(
            tail,
            ",\"usage\":{{\"prompt_tokens\":{tokens},\"total_tokens\":{tokens}}}}}"
        );
        const PREFIX: &[u8] = b"{\"object\":\"list\",\"data\":";
        out.clear();
        write_head(out, 200, "OK", PREFIX.len() + data.len() + tail.len());
        out.extend_from_slice(PREFIX);
        out.extend_from_slice(&data);
        out.extend_from_slice(&tail);
        Reply { delay }
    }

    fn data_for(&self, n: usize) -> Rc<[u8]> {
        let mut cache = self.data_by_count.borrow_mut();
        cache
            .entry(n)
            .or_insert_with(|| {
                let mut s = String::with_capacity(n * (self.embedding_json.len() + 48) + 2);
                s.push('[');
                for i in 0..n {
                    if i > 0 {
                        s.push(',');
                    }
                    s.push_str(&format!(
                        "{{\"object\":\"embedding\",\"index\":{i},\"embedding\":{}}}",
                        self.embedding_json
                    ));
                }
                s.push(']');
                Rc::from(s.into_bytes())
            })
            .clone()
    }
}

/// A fixed unit vector, so every embedding is valid and the same size on the wire.
fn unit_vector_json(dims: usize) -> String {
    let raw: Vec<f64> = (0..dims)
        .map(|i| ((i as f64 + 1.0) * 0.618_033_988_75).fract() - 0.5)
        .collect();
    let norm = raw
        .iter()
        .map(|x| x * x)
        .sum::<f64>()
        .sqrt()
        .max(f64::MIN_POSITIVE);
    let parts: Vec<String> = raw.iter().map(|x| format!("{:.6}", x / norm)).collect();
    format!("[{}]", parts.join(","))
}

pub fn write_head(out: &mut Vec<u8>, status: u16, reason: &str, content_length: usize) {
    let _ = write!(out, "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {content_length}\r\n\r\n");
}

fn write_response(out: &mut Vec<u8>, status: u16, reason: &str, body: &[u8]) {
    out.clear();
    write_head(out, status, reason, body.len());
    out.extend_from_slice(body);
}

/// An OpenAI-style error body.
pub fn write_error(out: &mut Vec<u8>, status: u16, reason: &str, message: &str) {
    let kind = if status >= 500 {
        "server_error"
    } else {
        "invalid_request_error"
    };
    let body = serde_json::json!({"error": {"message": message, "type": kind, "code": status}});
    write_response(out, status, reason, body.to_string().as_bytes());
}

#[derive(Deserialize)]
struct EmbeddingsRequest<'a> {
    #[serde(borrow, default)]
    model: Option<ModelName<'a>>,
    input: InputSummary,
}

/// The request's model, borrowed from the body unless it holds escapes. (serde's own
/// `Option<Cow<str>>` always copies, which was the mock's only allocation per request.)
struct ModelName<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for ModelName<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct NameVisitor;
        impl<'de> Visitor<'de> for NameVisitor {
            type Value = ModelName<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a model name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<ModelName<'de>, E> {
                Ok(ModelName(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ModelName<'de>, E> {
                Ok(ModelName(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(NameVisitor)
    }
}

/// The number of inputs and a rough token count (4 bytes a token), taken without allocating
/// the texts.
struct InputSummary {
    count: usize,
    approx_tokens: usize,
}

fn approx_tokens(text_len: usize) -> usize {
    text_len.div_ceil(4).max(1)
}

impl<'de> Deserialize<'de> for InputSummary {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(InputVisitor)
    }
}

struct InputVisitor;

impl<'de> Visitor<'de> for InputVisitor {
    type Value = InputSummary;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string or a non-empty list of strings or token arrays")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<InputSummary, E> {
        Ok(InputSummary {
            count: 1,
            approx_tokens: approx_tokens(v.len()),
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<InputSummary, A::Error> {
        let mut summary = InputSummary {
            count: 0,
            approx_tokens: 0,
        };
        while let Some(item) = seq.next_element::<ItemTokens>()? {
            summary.count += 1;
            summary.approx_tokens += item.0;
            if summary.count > MAX_INPUTS {
                return Err(de::Error::custom(format!("more than {MAX_INPUTS} inputs")));
            }
        }
        if summary.count == 0 {
            return Err(de::Error::custom("input is empty"));
        }
        Ok(summary)
    }
}

/// One input: a string (tokens estimated) or a list of token ids (counted).
struct ItemTokens(usize);

impl<'de> Deserialize<'de> for ItemTokens {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ItemVisitor;
        impl<'de> Visitor<'de> for ItemVisitor {
            type Value = ItemTokens;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or a list of token ids")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ItemTokens, E> {
                Ok(ItemTokens(approx_tokens(v.len())))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ItemTokens, A::Error> {
                let mut n = 0;
                while seq.next_element::<u64>()?.is_some() {
                    n += 1;
                }
                Ok(ItemTokens(n))
            }
        }
        d.deserialize_any(ItemVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn respond(body: &str) -> (String, WorkerCounters) {
        let r = Responder::new(
            &MockConfig {
                dims: 4,
                ..MockConfig::default()
            },
            0,
        );
        let counters = WorkerCounters::default();
        let mut out = Vec::new();
        r.respond(
            "POST",
            "/v1/embeddings",
            body.as_bytes(),
            &counters,
            &mut out,
        );
        (String::from_utf8(out).unwrap(), counters)
    }

    fn json_body(response: &str) -> serde_json::Value {
        serde_json::from_str(response.split("\r\n\r\n").nth(1).unwrap()).unwrap()
    }

    #[test]
    fn answers_a_valid_embeddings_list() {
        let (out, counters) = respond(r#"{"model":"m\"x","input":["a b c d e","f"]}"#);
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"));
        let v = json_body(&out);
        assert_eq!(v["object"], "list");
        assert_eq!(v["model"], "m\"x");
        assert_eq!(v["data"].as_array().unwrap().len(), 2);
        assert_eq!(v["data"][1]["index"], 1);
        assert_eq!(v["data"][0]["object"], "embedding");
        assert_eq!(v["data"][0]["embedding"].as_array().unwrap().len(), 4);
        assert_eq!(v["usage"]["prompt_tokens"], 4);
        assert_eq!(counters.embeddings_ok.into_inner(), 1);
        let declared: usize = out
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(declared, out.split("\r\n\r\n").nth(1).unwrap().len());
    }

    #[test]
    fn a_single_string_input_is_one_embedding() {
        let (out, _) = respond(r#"{"model":"m","input":"hello"}"#);
        assert_eq!(json_body(&out)["data"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn rejects_malformed_requests_with_400() {
        for bad in [
            r#"{"model":"m"}"#,
            r#"{"model":"m","input":[]}"#,
            "not json",
            r#"{"input":[1.5]}"#,
        ] {
            let (out, counters) = respond(bad);
            assert!(out.starts_with("HTTP/1.1 400"), "{bad}: {out}");
            assert_eq!(json_body(&out)["error"]["code"], 400);
            assert_eq!(counters.bad_requests.into_inner(), 1);
        }
    }

    #[test]
    fn routes_other_paths() {
        let r = Responder::new(&MockConfig::default(), 0);
        let c = WorkerCounters::default();
        let mut out = Vec::new();
        r.respond("GET", "/nope", b"", &c, &mut out);
        assert!(out.starts_with(b"HTTP/1.1 404"));
        r.respond("GET", "/v1/embeddings", b"", &c, &mut out);
        assert!(out.starts_with(b"HTTP/1.1 405"));
        r.respond("GET", "/v1/models", b"", &c, &mut out);
        assert!(String::from_utf8_lossy(&out).contains("bge-small"));
        r.respond("GET", "/health", b"", &c, &mut out);
        assert!(out.starts_with(b"HTTP/1.1 200"));
    }
}
