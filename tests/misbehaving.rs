//! Misbehaving servers, each a real socket server written for the test. For each: no panic,
//! no hang past the timeout, the right error class and count, and every request accounted for.

mod support;

use std::io::Write;
use std::time::{Duration, Instant};

use support::*;

/// Runs `count` requests over 2 connections against `server`; returns the export.
fn run(server: &TestServer, count: u64, extra: &[&str]) -> serde_json::Value {
    let dir = temp_dir("misbehaving");
    let url = server.url();
    let count_arg = count.to_string();
    let mut args = vec![
        "--request-count",
        &count_arg,
        "--concurrency",
        "2",
        "--isl",
        "8",
        "--validate-every",
        "1",
    ];
    args.extend_from_slice(extra);
    let started = Instant::now();
    let out = profile_url(&dir, &url, &args);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    assert_success(&out);
    let json = export(&dir.join("out"));
    let acc = &json["run_info"]["accounting"];
    assert_eq!(acc["balanced"], true, "{acc}");
    assert_eq!(acc["sent"], count, "{acc}");
    json
}

fn errors(json: &serde_json::Value, class: &str) -> u64 {
    error_count(json, class)
}

#[test]
fn closes_before_responding() {
    let server = TestServer::start(|_, _| Flow::Close);
    let json = run(&server, 12, &[]);
    assert_eq!(errors(&json, "closed_before_response"), 12);
    // Fresh connections are never retried: one server request per client request.
    assert_eq!(server.requests(), 12);
}

#[test]
fn closes_mid_body() {
    let server = TestServer::start(|s, _| {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"object\":\"list\"");
        Flow::Close
    });
    assert_eq!(errors(&run(&server, 12, &[]), "closed_mid_response"), 12);
}

#[test]
fn resets_the_connection() {
    let server = TestServer::start(|_, _| Flow::Reset);
    assert_eq!(errors(&run(&server, 12, &[]), "connection_reset"), 12);
}

#[test]
fn never_answers() {
    let server = TestServer::start(|_, _| {
        std::thread::sleep(Duration::from_secs(5));
        Flow::Close
    });
    let started = Instant::now();
    let json = run(&server, 4, &["--request-timeout-seconds", "0.3"]);
    // 4 requests, 2 at a time, 0.3 s each: about 0.6 s, far from the server's 5 s.
    assert!(started.elapsed() < Duration::from_secs(4));
    assert_eq!(errors(&json, "request_timeout"), 4);
}

#[test]
fn trickles_one_byte_at_a_time() {
    let server = TestServer::start(|s, _| {
        let body = embeddings_body(1);
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        for b in response.bytes() {
            if s.write_all(&[b]).is_err() {
                return Flow::Close;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        Flow::Continue
    });
    let json = run(&server, 4, &[]);
    assert_eq!(
        scalar(&json, "request_count"),
        4.0,
        "{}",
        json["error_summary"]
    );
    assert_eq!(json["run_info"]["validated_responses"], 4);
}

#[test]
fn sends_garbage() {
    let server = TestServer::start(|s, _| {
        let _ = s.write_all(b"\x00\xffGARBAGE\r\n\r\n");
        Flow::Continue
    });
    assert_eq!(errors(&run(&server, 12, &[]), "malformed_status_line"), 12);
}

#[test]
fn sends_a_100_mb_body() {
    let server = TestServer::start(|s, _| {
        let size = 100 << 20;
        let _ = write!(s, "HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n");
        let chunk = vec![b' '; 1 << 20];
        for _ in 0..100 {
            if s.write_all(&chunk).is_err() {
                break;
            }
        }
        Flow::Close
    });
    let json = run(&server, 2, &[]);
    assert_eq!(errors(&json, "oversized_body"), 2);
}

#[test]
fn sends_chunked_with_extensions_and_trailers() {
    let server = TestServer::start(|s, _| {
        let body = embeddings_body(1);
        let (a, b) = body.split_at(body.len() / 2);
        let _ = write!(s, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n{:x};ext=1;q=\"v\"\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\nX-Checksum: abc\r\n\r\n", a.len(), b.len());
        Flow::Continue
    });
    let json = run(&server, 12, &[]);
    assert_eq!(
        scalar(&json, "request_count"),
        12.0,
        "{}",
        json["error_summary"]
    );
    assert_eq!(json["run_info"]["validated_responses"], 12);
    // Keep-alive held across chunked responses: 2 connections plus the probe.
    assert_eq!(
        server
            .connections
            .load(std::sync::atomic::Ordering::Relaxed),
        3
    );
}

#[test]
fn answers_http_1_0_without_keep_alive() {
    let server = TestServer::start(|s, _| {
        let body = embeddings_body(1);
        let _ = write!(
            s,
            "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        Flow::Close
    });
    let json = run(&server, 12, &[]);
    assert_eq!(
        scalar(&json, "request_count"),
        12.0,
        "{}",
        json["error_summary"]
    );
    assert_eq!(server.requests(), 12);
}

#[test]
fn answers_http_1_0_with_a_body_until_close() {
    let server = TestServer::start(|s, _| {
        let _ = write!(s, "HTTP/1.0 200 OK\r\n\r\n{}", embeddings_body(1));
        Flow::Close
    });
    assert_eq!(scalar(&run(&server, 12, &[]), "request_count"), 12.0);
}

#[test]
fn answers_503_with_connection_close() {
    let server = TestServer::start(|s, _| {
        respond(
            s,
            "503 Service Unavailable",
            "Connection: close\r\n",
            "{\"error\":\"overloaded\"}",
        );
        Flow::Close
    });
    let json = run(&server, 12, &[]);
    let e = &json["error_summary"][0];
    assert_eq!(
        (e["error_details"]["code"].as_u64(), e["count"].as_u64()),
        (Some(503), Some(12))
    );
    assert!(e["error_details"]["message"]
        .as_str()
        .unwrap()
        .contains("overloaded"));
    assert_eq!(server.requests(), 12);
}

#[test]
fn pipelines_an_extra_unsolicited_response() {
    let server = TestServer::start(|s, _| {
        let body = embeddings_body(1);
        let one = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let _ = s.write_all(format!("{one}{one}").as_bytes());
        Flow::Continue
    });
    let json = run(&server, 12, &[]);
    assert_eq!(
        errors(&json, "unsolicited_data"),
        12,
        "{}",
        json["error_summary"]
    );
}

#[test]
fn sends_a_2xx_that_is_not_an_embeddings_list() {
    let server = TestServer::start(|s, n| {
        let body = if n % 2 == 0 {
            "{\"choices\":[]}".to_string()
        } else {
            embeddings_body(3)
        };
        respond(s, "200 OK", "", &body);
        Flow::Continue
    });
    let json = run(&server, 12, &[]);
    assert_eq!(errors(&json, "not_embeddings"), 12);
    let messages: Vec<&str> = json["error_summary"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["error_details"]["message"].as_str().unwrap())
        .collect();
    assert!(
        messages.iter().any(|m| m.contains("embeddings")),
        "{messages:?}"
    );
}

#[test]
fn sends_malformed_heads() {
    for (response, class) in [
        (
            "HTTP/1.1 200 OK\r\nBad Header Line\r\n\r\n",
            "malformed_header",
        ),
        (
            "HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n",
            "bad_content_length",
        ),
        (
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            "bad_chunk",
        ),
        (
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
            "unsupported_transfer_encoding",
        ),
    ] {
        let server = TestServer::start(move |s, _| {
            let _ = s.write_all(response.as_bytes());
            Flow::Continue
        });
        assert_eq!(errors(&run(&server, 12, &[]), class), 12, "{class}");
    }
    let server = TestServer::start(|s, _| {
        let _ = write!(s, "HTTP/1.1 200 OK\r\nX-Big: {}\r\n", "a".repeat(70_000));
        Flow::Continue
    });
    assert_eq!(errors(&run(&server, 12, &[]), "oversized_head"), 12);
}

#[test]
fn wait_for_model_polls_until_the_server_is_up() {
    let port = free_port();
    let dir = temp_dir("wait");
    let starter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1200));
        embperf::mock::MockServer::start(embperf::mock::MockConfig {
            port,
            ..Default::default()
        })
        .unwrap()
    });
    let url = format!("127.0.0.1:{port}");
    let out = profile(
        &dir,
        &[
            "-m",
            "m",
            "--url",
            &url,
            "--request-count",
            "5",
            "--isl",
            "8",
            "--artifact-dir",
            "out",
            "--wait-for-model-timeout",
            "20",
        ],
    );
    let server = starter.join().unwrap();
    assert_success(&out);
    assert_eq!(scalar(&export(&dir.join("out")), "request_count"), 5.0);
    drop(server);
    let out = profile(
        &dir,
        &[
            "-m",
            "m",
            "--url",
            &url,
            "--isl",
            "8",
            "--wait-for-model-timeout",
            "0.5",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("not ready after --wait-for-model-timeout"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn reads_large_requests_late() {
    // 8 MiB requests, more than the socket buffers hold, to a server that waits before reading
    // each one: the client's first non-blocking send takes only part of a request, and the rest
    // must follow through the ring byte-exact, or the server's framing and the counts break.
    let server = TestServer::start_reading_late(Duration::from_millis(100), |s, _| {
        respond(s, "200 OK", "", &embeddings_body(1));
        Flow::Continue
    });
    let body = serde_json::json!({ "model": "m", "input": ["x".repeat(8 << 20)] }).to_string();
    let recorder = run_engine(&server.url(), body.as_bytes(), 6, 2, 1);
    assert_eq!(recorder.succeeded, 6, "{:?}", recorder.errors);
    assert_eq!(server.requests(), 6);
}
