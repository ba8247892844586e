//! Builds a monoio runtime for the current thread: io_uring when the kernel allows it, epoll
//! otherwise, and says which one ran.

use std::future::Future;
use std::io;

use monoio::{IoUringDriver, LegacyDriver, RuntimeBuilder};

/// The IO driver a runtime used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DriverKind {
    IoUring,
    Epoll,
}

impl DriverKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DriverKind::IoUring => "io_uring",
            DriverKind::Epoll => "epoll",
        }
    }
}

/// Submission queue size. Each connection has at most a read or a write in flight, plus the
/// timer; 1024 entries cover a few hundred connections per thread without overflow.
const RING_ENTRIES: u32 = 1024;

/// Runs `make(driver)` to completion on a new single-threaded runtime. `EMBPERF_DRIVER=epoll` forces
/// the fallback (to compare drivers, or where io_uring is filtered by seccomp).
pub fn block_on<Fut: Future>(
    make: impl FnOnce(DriverKind) -> Fut,
) -> io::Result<(Fut::Output, DriverKind)> {
    let force_epoll = std::env::var("EMBPERF_DRIVER").is_ok_and(|v| v == "epoll");
    if !force_epoll {
        // COOP_TASKRUN avoids an inter-processor interrupt per completion and SINGLE_ISSUER lets
        // the kernel skip submission locking: together they cut the per-request CPU cost by a
        // third on loopback (see ARCHITECTURE.md, "Measured facts").
        let mut uring = io_uring::IoUring::builder();
        uring
            .setup_coop_taskrun()
            .setup_single_issuer()
            .setup_defer_taskrun();
        let built = RuntimeBuilder::<IoUringDriver>::new()
            .with_entries(RING_ENTRIES)
            .uring_builder(uring)
            .enable_timer()
            .build();
        if let Ok(mut rt) = built {
            return Ok((rt.block_on(make(DriverKind::IoUring)), DriverKind::IoUring));
        }
    }
    let mut rt = RuntimeBuilder::<LegacyDriver>::new()
        .with_entries(RING_ENTRIES)
        .enable_timer()
        .build()?;
    Ok((rt.block_on(make(DriverKind::Epoll)), DriverKind::Epoll))
}

/// Pins the calling thread to `core` when it exists; returns whether it did.
pub fn pin_to(core: Option<core_affinity::CoreId>) -> bool {
    core.is_some_and(core_affinity::set_for_current)
}
