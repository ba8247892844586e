//! The request path allocates nothing per request, on the client and on the mock server: the
//! number of heap allocations a run makes does not grow with its request count. (An allocation
//! per request would show as thousands here; connection set-up and histogram growth are a
//! fixed few.) Runs in-process, so this binary's counting allocator sees both sides.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use embperf::engine::{self, EngineConfig, Load, Phase, PhaseSpec, Progress};
use embperf::http::{Endpoint, RequestTemplate};
use embperf::mock::{MockConfig, MockServer};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by a closed-loop run of `requests` against `url`.
fn allocations_for(url: &str, requests: u64) -> u64 {
    let endpoint = Endpoint::parse(url, "/v1/embeddings").unwrap();
    let body =
        br#"{"model":"BAAI/bge-small-en-v1.5","input":["the quick brown fox","jumps over"]}"#;
    let request = RequestTemplate::new(&endpoint.authority, &endpoint.path, &[]).build(body);
    let config = EngineConfig {
        endpoints: endpoint.resolve().unwrap(),
        requests: vec![vec![request]],
        payload_inputs: vec![2],
        workers: 1,
        connections: 8,
        cores: vec![],
        phases: vec![PhaseSpec {
            phase: Phase::Profiling,
            count: Some(requests),
            duration: None,
            grace: Duration::from_secs(5),
            load: Load::Closed,
            concurrency_ramp: None,
        }],
        request_timeout: Duration::from_secs(10),
        max_response_bytes: 1 << 20,
        // Sampled validation keeps a body copy by design; the path measured here is the rest.
        validate_every: 0,
        seed: 1,
        slo: Default::default(),
        records_per_worker: 0,
    };
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let outcome = engine::run(config, Arc::new(Progress::new(1)));
    let after = ALLOCATIONS.load(Ordering::Relaxed);
    let recorder = &outcome.phases[0].recorder;
    assert_eq!(
        recorder.succeeded, requests,
        "errors: {:?}",
        recorder.errors
    );
    after - before
}

#[test]
fn no_allocation_per_request_on_client_or_mock() {
    let server = MockServer::start(MockConfig::default()).unwrap();
    let url = server.url();
    allocations_for(&url, 500); // warm-up: first-use allocations of both sides
    let small = allocations_for(&url, 2_000);
    let large = allocations_for(&url, 20_000);
    server.stop();
    assert!(
        large.saturating_sub(small) < 200,
        "{small} allocations for 2,000 requests but {large} for 20,000"
    );
}
