//! The request path allocates nothing per request, on the client and on the mock server: the
//! number of heap allocations a run makes does not grow with its request count. (An allocation
//! per request would show as thousands here; connection set-up and histogram growth are a
//! fixed few.) Runs in-process, so this binary's counting allocator sees both sides.

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use embperf::mock::{MockConfig, MockServer};
use support::run_engine;

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
    let body = br#"{"model":"BAAI/bge-small-en-v1.5","input":["the quick brown fox jumps over"]}"#;
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    // Sampled validation keeps a body copy by design; the path measured here is the rest.
    let recorder = run_engine(url, body, requests, 8, 0);
    let after = ALLOCATIONS.load(Ordering::Relaxed);
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
