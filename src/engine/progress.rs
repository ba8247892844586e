//! Live counters for the progress display: one cache line per worker, written by that worker
//! only (a relaxed load and store, no locked instruction), read by the display thread.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

#[derive(Default)]
#[repr(align(128))]
pub struct WorkerProgress {
    completed: AtomicU64,
    errors: AtomicU64,
}

impl WorkerProgress {
    #[inline]
    pub fn record(&self, ok: bool) {
        let bump = |c: &AtomicU64| c.store(c.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        bump(&self.completed);
        if !ok {
            bump(&self.errors);
        }
    }

    fn reset(&self) {
        self.completed.store(0, Ordering::Relaxed);
        self.errors.store(0, Ordering::Relaxed);
    }
}

pub struct Progress {
    workers: Vec<WorkerProgress>,
    /// Index into the run's phases of the phase now running.
    phase: AtomicU8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    pub phase: usize,
    pub completed: u64,
    pub errors: u64,
}

impl Progress {
    pub fn new(workers: usize) -> Progress {
        Progress {
            workers: (0..workers).map(|_| WorkerProgress::default()).collect(),
            phase: AtomicU8::new(0),
        }
    }

    pub fn worker(&self, id: usize) -> &WorkerProgress {
        &self.workers[id % self.workers.len()]
    }

    /// Called by worker 0 when a phase starts (the others reset their own counters).
    pub fn start_phase(&self, id: usize, phase: usize) {
        self.worker(id).reset();
        if id == 0 {
            self.phase.store(phase as u8, Ordering::Relaxed);
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        let sum = |f: fn(&WorkerProgress) -> &AtomicU64| {
            self.workers
                .iter()
                .map(|w| f(w).load(Ordering::Relaxed))
                .sum()
        };
        Snapshot {
            phase: self.phase.load(Ordering::Relaxed) as usize,
            completed: sum(|w| &w.completed),
            errors: sum(|w| &w.errors),
        }
    }
}
