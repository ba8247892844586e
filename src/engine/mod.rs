//! The load engine: W pinned threads, each with its own monoio runtime and its own slice of
//! the connections and of the schedule. Nothing crosses threads while measuring except relaxed
//! progress counters; recorders are merged after the threads join.

pub mod conn;
pub mod cpu;
pub mod dispatch;
pub mod gate;
pub mod progress;
pub mod runtime;
pub mod schedule;
pub mod signal;
mod validate;
mod worker;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub use cpu::CpuTime;
pub use progress::Progress;
pub use runtime::DriverKind;
pub use schedule::{Arrivals, Pattern};

use crate::stats::{Recorder, Slo};
use gate::Gate;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Warmup,
    Profiling,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Warmup => "warmup",
            Phase::Profiling => "profiling",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Load {
    /// Every connection sends its next request as soon as the previous one completes.
    Closed,
    /// Requests are sent at scheduled times, whatever the server does.
    Open(Arrivals),
}

#[derive(Debug, Clone, PartialEq)]
pub struct PhaseSpec {
    pub phase: Phase,
    /// Requests to send; `None` for no count bound.
    pub count: Option<u64>,
    /// Stop issuing after this long; `None` for no time bound.
    pub duration: Option<Duration>,
    /// After the duration, requests in flight may finish within this long, then are cancelled.
    pub grace: Duration,
    pub load: Load,
    /// Connections start one after another over this long.
    pub concurrency_ramp: Option<Duration>,
}

/// Everything a run needs, prepared before any thread starts.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Target addresses; connection i goes to `endpoints[i % len]`.
    pub endpoints: Vec<SocketAddr>,
    /// Complete request bytes, `[endpoint][payload]`.
    pub requests: Vec<Vec<Vec<u8>>>,
    /// Number of inputs in each payload, to validate responses.
    pub payload_inputs: Vec<u32>,
    pub workers: usize,
    /// Total connections, the in-flight cap.
    pub connections: usize,
    pub cores: Vec<core_affinity::CoreId>,
    pub phases: Vec<PhaseSpec>,
    pub request_timeout: Duration,
    pub max_response_bytes: u64,
    /// Validate one response in this many (0: never); the first of each phase always.
    pub validate_every: u64,
    pub seed: u64,
    pub slo: Slo,
    /// Per-request records each worker keeps for the records export (0: none).
    pub records_per_worker: usize,
}

/// What one phase measured, merged over the workers.
#[derive(Debug, Clone)]
pub struct PhaseOutcome {
    pub spec: PhaseSpec,
    pub recorder: Recorder,
    /// CPU used by each worker thread during the phase.
    pub worker_cpu: Vec<CpuTime>,
    /// Wall clock at the phase start, to anchor timestamps in exports.
    pub started: SystemTime,
    /// Requests in flight when the grace period ended (counted as cancelled errors).
    pub cancelled_at_grace: u64,
}

#[derive(Debug, Clone)]
pub struct EngineOutcome {
    pub phases: Vec<PhaseOutcome>,
    /// Wall clock at the run's time origin: record times are nanoseconds after it.
    pub anchor: SystemTime,
    pub driver: DriverKind,
    pub workers: usize,
    pub interrupted: bool,
    /// Workers that failed (a runtime that would not start, a panic): their share is missing.
    pub worker_failures: Vec<String>,
}

impl EngineOutcome {
    pub fn phase(&self, phase: Phase) -> Option<&PhaseOutcome> {
        self.phases.iter().find(|p| p.spec.phase == phase)
    }
}

/// Runs every phase on `config.workers` threads and merges what they measured.
pub fn run(config: EngineConfig, progress: Arc<Progress>) -> EngineOutcome {
    let workers = config.workers.clamp(1, config.connections.max(1));
    let config = Arc::new(config);
    let gate = Arc::new(Gate::new(workers));
    let (anchor, anchor_wall) = (std::time::Instant::now(), SystemTime::now());
    let handles: Vec<_> = (0..workers)
        .map(|id| {
            let plan = worker::WorkerPlan::new(&config, id, workers, anchor);
            let (config, gate, progress) = (config.clone(), gate.clone(), progress.clone());
            std::thread::Builder::new()
                .name(format!("embperf-worker-{id}"))
                .spawn(move || {
                    let out = worker::run(plan, config, &gate, progress);
                    // Whatever happened, the others must not wait for this worker at a gate.
                    gate.leave();
                    out
                })
        })
        .collect();
    let mut per_worker = Vec::new();
    let mut failures = Vec::new();
    let mut driver = DriverKind::IoUring;
    for (id, handle) in handles.into_iter().enumerate() {
        match handle
            .map_err(|e| e.to_string())
            .and_then(|h| h.join().map_err(|_| "panicked".to_string()))
        {
            Ok(Ok(out)) => {
                driver = out.driver;
                per_worker.push(out.phases);
            }
            Ok(Err(e)) | Err(e) => failures.push(format!("worker {id}: {e}")),
        }
    }
    let phases = config
        .phases
        .iter()
        .enumerate()
        .filter_map(|(i, spec)| {
            let parts: Vec<&worker::PhaseOutput> =
                per_worker.iter().filter_map(|w| w.get(i)).collect();
            let first = parts.first()?;
            let mut recorder = Recorder::new(config.payload_inputs.len(), config.slo);
            for p in &parts {
                recorder.merge(&p.recorder);
            }
            Some(PhaseOutcome {
                spec: spec.clone(),
                recorder,
                worker_cpu: parts.iter().map(|p| p.cpu).collect(),
                started: parts
                    .iter()
                    .map(|p| p.started)
                    .min()
                    .unwrap_or(first.started),
                cancelled_at_grace: parts.iter().map(|p| p.cancelled_at_grace).sum(),
            })
        })
        .collect();
    EngineOutcome {
        phases,
        anchor: anchor_wall,
        driver,
        workers,
        interrupted: signal::interrupted(),
        worker_failures: failures,
    }
}
