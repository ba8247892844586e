//! Microbenchmarks of the per-request work on the client's hot path: parsing and framing a
//! response, recording a completion, drawing the next arrival. (Request bytes are built before
//! the clock starts; their cost is shown too, as it bounds start-up.)

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use embperf::engine::schedule::{Arrivals, Pattern, Schedule};
use embperf::http::{BodyDecoder, RequestTemplate, ResponseHead};
use embperf::stats::{Dist, Recorder, Slo};

/// A typical mock-server response: one 384-dimension embedding.
fn embeddings_response() -> Vec<u8> {
    let vector: Vec<String> = (0..384)
        .map(|i| format!("{:.6}", (i as f64 * 0.618).fract() - 0.5))
        .collect();
    let body = format!(
        "{{\"object\":\"list\",\"data\":[{{\"object\":\"embedding\",\"index\":0,\"embedding\":[{}]}}],\"model\":\"BAAI/bge-small-en-v1.5\",\"usage\":{{\"prompt_tokens\":512,\"total_tokens\":512}}}}",
        vector.join(",")
    );
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn chunked_response() -> Vec<u8> {
    let mut r =
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec();
    for _ in 0..4 {
        r.extend_from_slice(b"400\r\n");
        r.extend(std::iter::repeat_n(b'x', 1024));
        r.extend_from_slice(b"\r\n");
    }
    r.extend_from_slice(b"0\r\n\r\n");
    r
}

fn frame(response: &[u8]) -> usize {
    let head = ResponseHead::parse(response).unwrap().unwrap();
    let mut decoder = BodyDecoder::new(head.body);
    let used = decoder.feed(&response[head.len..], |_| {}).unwrap();
    assert!(decoder.is_done());
    head.len + used
}

fn response_parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("response");
    for (name, response) in [
        ("content_length_4k", embeddings_response()),
        ("chunked_4k", chunked_response()),
    ] {
        g.throughput(Throughput::Bytes(response.len() as u64));
        g.bench_function(name, |b| b.iter(|| frame(black_box(&response))));
    }
    g.finish();
}

fn record(c: &mut Criterion) {
    let mut g = c.benchmark_group("record");
    let mut dist = Dist::new();
    let mut v = 40_000u64;
    g.bench_function("histogram", |b| {
        b.iter(|| {
            v = v
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407)
                % 10_000_000;
            dist.record(black_box(v));
        })
    });
    let mut rec = Recorder::new(100, Slo::default());
    let t0 = Instant::now();
    let mut i = 0u64;
    g.bench_function("send_and_success", |b| {
        b.iter(|| {
            i += 1;
            let sent = t0 + Duration::from_nanos(i * 1000);
            rec.on_send(sent, sent, false);
            rec.on_success(
                (i % 100) as usize,
                sent,
                sent,
                sent + Duration::from_nanos(40_000 + i % 5000),
                4096,
            );
        })
    });
    g.finish();
}

fn schedule(c: &mut Criterion) {
    let mut s = Schedule::new(
        Arrivals {
            rate: 100_000.0,
            pattern: Pattern::Poisson,
            ramp: None,
        },
        0,
        1,
        1,
    );
    c.bench_function("schedule/poisson_next", |b| b.iter(|| black_box(s.next())));
}

fn request_build(c: &mut Criterion) {
    let t = RequestTemplate::new("localhost:8000", "/v1/embeddings", &[]);
    let body = vec![b'a'; 3000];
    c.bench_function("request/build_3k_before_clock", |b| {
        b.iter(|| black_box(t.build(black_box(&body))))
    });
}

criterion_group!(benches, response_parse, record, schedule, request_build);
criterion_main!(benches);
