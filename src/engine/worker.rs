//! One worker thread: its connections, its share of each phase, its recorder.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use monoio::time::{sleep, sleep_until, timeout_at};

use super::conn::{Capture, Connection, Failure};
use super::dispatch::{Dispatch, Job};
use super::gate::Gate;
use super::progress::Progress;
use super::schedule::Schedule;
use super::{runtime, signal, validate, CpuTime, DriverKind, EngineConfig, Load, PhaseSpec};
use crate::net::SharedBytes;
use crate::stats::{ErrorClass, Recorder, RequestRecord};

/// How often the worker's supervisor looks at the clock and the interrupt flag.
const SUPERVISE_EVERY: Duration = Duration::from_millis(20);
/// After an interrupt, requests in flight get this long to finish before they are cancelled.
const INTERRUPT_DRAIN: Duration = Duration::from_secs(1);
/// Pause of one connection after a failed connect before it tries again.
const CONNECT_BACKOFF: Duration = Duration::from_millis(10);
/// Open-loop connections opened before the clock starts (the rest connect on first use).
const OPEN_LOOP_PRECONNECT: usize = 16;

/// This worker's share of the run.
pub struct WorkerPlan {
    id: usize,
    workers: usize,
    /// Global indices of this worker's connections: id, id + W, id + 2W, ...
    connections: Vec<usize>,
    core: Option<core_affinity::CoreId>,
    /// The run's time origin, shared by all workers, for per-request records.
    anchor: Instant,
}

impl WorkerPlan {
    pub fn new(config: &EngineConfig, id: usize, workers: usize, anchor: Instant) -> WorkerPlan {
        let connections = (id..config.connections.max(1)).step_by(workers).collect();
        let core = (!config.cores.is_empty()).then(|| config.cores[id % config.cores.len()]);
        WorkerPlan {
            id,
            workers,
            connections,
            core,
            anchor,
        }
    }

    /// This worker's share of `total`, split in proportion to connections (closed loop) or
    /// evenly (open loop, where each worker runs rate R/W).
    fn share(&self, total: u64, load: &Load, all_connections: usize) -> u64 {
        let (mine, parts, index) = match load {
            Load::Closed => (
                self.connections.len() as u64,
                all_connections.max(1) as u64,
                self.id as u64,
            ),
            Load::Open(_) => (1, self.workers as u64, self.id as u64),
        };
        let base = total / parts * mine;
        // Spread the remainder one by one over the first parts.
        let rem = total % parts;
        let extra = match load {
            Load::Closed => self
                .connections
                .iter()
                .filter(|&&g| (g as u64) < rem)
                .count() as u64,
            Load::Open(_) => u64::from(index < rem),
        };
        base + extra
    }
}

pub struct PhaseOutput {
    pub recorder: Recorder,
    pub cpu: CpuTime,
    pub started: SystemTime,
    pub cancelled_at_grace: u64,
}

pub struct WorkerOutput {
    pub phases: Vec<PhaseOutput>,
    pub driver: DriverKind,
}

pub fn run(
    plan: WorkerPlan,
    config: Arc<EngineConfig>,
    gate: &Gate,
    progress: Arc<Progress>,
) -> Result<WorkerOutput, String> {
    runtime::pin_to(plan.core);
    let (phases, driver) = runtime::block_on(|_| run_phases(&plan, config, gate, progress))
        .map_err(|e| format!("cannot start a runtime: {e}"))?;
    Ok(WorkerOutput { phases, driver })
}

async fn run_phases(
    plan: &WorkerPlan,
    config: Arc<EngineConfig>,
    gate: &Gate,
    progress: Arc<Progress>,
) -> Vec<PhaseOutput> {
    // Each thread gets its own copy of the request bytes: no reference count is shared between
    // cores, and the bytes sit in this core's memory.
    let requests: Rc<Vec<Vec<SharedBytes>>> = Rc::new(
        config
            .requests
            .iter()
            .map(|per_payload| per_payload.iter().map(|r| SharedBytes::new(r)).collect())
            .collect(),
    );
    let mut pool: Vec<Option<Connection>> = Vec::with_capacity(plan.connections.len());
    let preconnect = match config.phases.first().map(|p| p.load) {
        Some(Load::Open(_)) => OPEN_LOOP_PRECONNECT,
        _ => usize::MAX,
    };
    for (slot, &global) in plan.connections.iter().enumerate() {
        let addr = config.endpoints[global % config.endpoints.len()];
        pool.push(if slot < preconnect {
            Connection::connect(addr).await.ok()
        } else {
            None
        });
    }
    let mut outputs = Vec::new();
    for (index, spec) in config.phases.iter().enumerate() {
        gate.wait();
        if signal::interrupted() {
            break;
        }
        progress.start_phase(plan.id, index);
        let phase = PhaseRun::new(
            plan,
            config.clone(),
            spec.clone(),
            requests.clone(),
            progress.clone(),
        );
        let (output, finished) = phase.run(plan, &mut pool).await;
        outputs.push(output);
        if !finished {
            // Tasks of the cancelled phase may still be running: this worker cannot start
            // another phase on this runtime.
            break;
        }
    }
    outputs
}

/// The state one phase shares between this worker's connection tasks.
struct PhaseRun {
    anchor: Instant,
    config: Arc<EngineConfig>,
    spec: PhaseSpec,
    requests: Rc<Vec<Vec<SharedBytes>>>,
    progress: Arc<Progress>,
    worker: usize,
    recorder: RefCell<Recorder>,
    deadline: Option<Instant>,
    /// Closed loop: requests this worker may still start.
    tickets: Cell<u64>,
    in_flight: Cell<u64>,
    next_payload: Cell<usize>,
    responses: Cell<u64>,
    dispatch: Option<Dispatch>,
}

impl PhaseRun {
    fn new(
        plan: &WorkerPlan,
        config: Arc<EngineConfig>,
        spec: PhaseSpec,
        requests: Rc<Vec<Vec<SharedBytes>>>,
        progress: Arc<Progress>,
    ) -> PhaseRun {
        let start = Instant::now();
        let count = spec
            .count
            .map_or(u64::MAX, |c| plan.share(c, &spec.load, config.connections));
        let dispatch = match spec.load {
            Load::Open(arrivals) => {
                let schedule = Schedule::new(arrivals, plan.id, plan.workers, config.seed);
                Some(Dispatch::new(
                    start,
                    schedule,
                    count,
                    spec.duration,
                    plan.connections.len(),
                ))
            }
            Load::Closed => None,
        };
        let payloads = requests.first().map_or(0, Vec::len);
        let mut recorder = Recorder::new(payloads, config.slo);
        recorder.keep_records(
            config.records_per_worker,
            usize::try_from(count).unwrap_or(usize::MAX),
        );
        let recorder = RefCell::new(recorder);
        PhaseRun {
            anchor: plan.anchor,
            deadline: spec.duration.map(|d| start + d),
            config,
            spec,
            progress,
            worker: plan.id,
            recorder,
            tickets: Cell::new(count),
            in_flight: Cell::new(0),
            // Workers start at different payloads so that short runs still cover the dataset.
            next_payload: Cell::new(if payloads > 0 {
                plan.id * payloads / plan.workers
            } else {
                0
            }),
            responses: Cell::new(0),
            dispatch,
            requests,
        }
    }

    /// Runs the phase to its end; `false` when it had to be cut short (grace period over or
    /// interrupt) with tasks still running.
    async fn run(self, plan: &WorkerPlan, pool: &mut [Option<Connection>]) -> (PhaseOutput, bool) {
        let cpu_start = CpuTime::thread();
        let started = SystemTime::now();
        let this = Rc::new(self);
        let mut tasks = Vec::with_capacity(pool.len());
        for (slot, conn) in pool.iter_mut().enumerate() {
            let global = plan.connections[slot];
            let delay = this
                .spec
                .concurrency_ramp
                .map(|ramp| ramp.mul_f64(global as f64 / this.config.connections.max(1) as f64));
            tasks.push(monoio::spawn(drive_connection(
                this.clone(),
                slot,
                global,
                conn.take(),
                delay,
            )));
        }
        let pacer = this
            .dispatch
            .is_some()
            .then(|| monoio::spawn(pace(this.clone())));
        let joined = async {
            let mut conns = Vec::with_capacity(tasks.len());
            for t in tasks {
                conns.push(t.await);
            }
            if let Some(p) = pacer {
                p.await;
            }
            conns
        };
        let mut joined = pin!(joined);
        let cancel_at = this.deadline.map(|d| d + this.spec.grace);
        let mut interrupted_at: Option<Instant> = None;
        let mut cancelled_at_grace = 0;
        let finished = loop {
            monoio::select! {
                conns = &mut joined => {
                    for (slot, conn) in conns.into_iter().enumerate() {
                        pool[slot] = conn;
                    }
                    break true;
                }
                _ = sleep(SUPERVISE_EVERY) => {}
            }
            let now = Instant::now();
            if signal::interrupted() {
                let since = *interrupted_at.get_or_insert(now);
                if now.duration_since(since) >= INTERRUPT_DRAIN {
                    break false;
                }
            } else if cancel_at.is_some_and(|c| now >= c) {
                cancelled_at_grace = this.in_flight.get();
                break false;
            }
        };
        let mut recorder = this.recorder.replace(Recorder::new(0, this.config.slo));
        if !finished {
            // Requests still in flight are cancelled: AIPerf counts them as errors (499).
            recorder
                .errors
                .add_n(ErrorClass::Cancelled, this.in_flight.get(), None);
            if let Some(d) = &this.dispatch {
                recorder.unsent += d.drop_queued();
            }
        }
        let cpu = CpuTime::thread().since(cpu_start);
        (
            PhaseOutput {
                recorder,
                cpu,
                started,
                cancelled_at_grace,
            },
            finished,
        )
    }

    fn endpoint(&self, global: usize) -> (usize, SocketAddr) {
        let i = global % self.config.endpoints.len();
        (i, self.config.endpoints[i])
    }

    /// Closed loop: the next request may start at `now` if the count, the duration and the
    /// interrupt flag all allow it.
    fn take_ticket(&self, now: Instant) -> bool {
        let left = self.tickets.get();
        if left == 0 || signal::interrupted() || self.deadline.is_some_and(|d| now >= d) {
            return false;
        }
        self.tickets.set(left - 1);
        true
    }

    fn take_payload(&self) -> usize {
        let n = self.requests[0].len();
        let p = self.next_payload.get();
        self.next_payload.set(if p + 1 >= n { 0 } else { p + 1 });
        p
    }

    /// Whether this response's body is kept and validated.
    fn sample_for_validation(&self) -> bool {
        let n = self.responses.get();
        self.responses.set(n + 1);
        let every = self.config.validate_every;
        every > 0 && n % every == 0
    }

    /// Sends one request on `conn` (connecting or reconnecting as needed) and records it.
    /// Returns the error class of a failed request.
    async fn execute(
        &self,
        conn: &mut Option<Connection>,
        global: usize,
        job: Job,
        sent: Instant,
    ) -> Option<ErrorClass> {
        let (endpoint, addr) = self.endpoint(global);
        let payload = self.take_payload();
        let request = self.requests[endpoint][payload].clone();
        self.recorder
            .borrow_mut()
            .on_send(job.intended, sent, job.late);
        self.in_flight.set(self.in_flight.get() + 1);
        let deadline = monoio::time::Instant::from_std(sent + self.config.request_timeout);
        let mut body = self.sample_for_validation().then(Vec::new);
        let result = self
            .attempt(conn, addr, request, deadline, body.as_mut())
            .await;
        let end = Instant::now();
        self.in_flight.set(self.in_flight.get() - 1);
        let mut rec = self.recorder.borrow_mut();
        let outcome = result.and_then(|response| match &body {
            Some(body) => {
                rec.validated += 1;
                validate::check_embeddings(body, self.config.payload_inputs[payload])
                    .map(|()| response)
                    .map_err(|m| Failure {
                        class: ErrorClass::NotEmbeddings,
                        message: Some(m),
                    })
            }
            None => Ok(response),
        });
        let ok = outcome.is_ok();
        if rec.wants_record() {
            let since = |t: Instant| t.saturating_duration_since(self.anchor).as_nanos() as u64;
            rec.keep(RequestRecord {
                intended_ns: since(job.intended),
                start_ns: since(sent),
                end_ns: since(end),
                payload: payload as u32,
                worker: self.worker as u16,
                error: outcome.as_ref().err().map(|f| f.class),
            });
        }
        self.progress.worker(self.worker).record(ok);
        match outcome {
            Ok(response) => {
                rec.on_success(payload, job.intended, sent, end, response.body_bytes);
                if !response.keep_alive {
                    *conn = None;
                }
                None
            }
            Err(failure) => {
                let class = failure.class;
                rec.on_error(class, failure.message, end);
                *conn = None;
                Some(class)
            }
        }
    }

    /// One request, with one retry when a reused keep-alive connection turns out to have been
    /// closed by the server before it saw the request (the race every HTTP client handles).
    async fn attempt(
        &self,
        conn: &mut Option<Connection>,
        addr: SocketAddr,
        request: SharedBytes,
        deadline: monoio::time::Instant,
        mut body: Option<&mut Vec<u8>>,
    ) -> Result<super::conn::Response, Failure> {
        let mut may_retry = true;
        loop {
            let mut c = match conn.take() {
                Some(c) => c,
                None => match timeout_at(deadline, Connection::connect(addr)).await {
                    Ok(c) => c?,
                    Err(_) => {
                        return Err(Failure {
                            class: ErrorClass::ConnectTimeout,
                            message: None,
                        })
                    }
                },
            };
            let capture = match body.as_deref_mut() {
                Some(b) => Capture::Keep(b),
                None => Capture::Discard,
            };
            let max_body = self.config.max_response_bytes;
            match timeout_at(deadline, c.exchange(request.clone(), capture, max_body)).await {
                Err(_) => {
                    return Err(Failure {
                        class: ErrorClass::RequestTimeout,
                        message: None,
                    })
                }
                Ok(Ok(response)) => {
                    *conn = Some(c);
                    return Ok(response);
                }
                Ok(Err(f))
                    if may_retry
                        && c.reused()
                        && matches!(
                            f.class,
                            ErrorClass::ClosedBeforeResponse | ErrorClass::ConnectionReset
                        ) =>
                {
                    may_retry = false;
                    if let Some(b) = body.as_deref_mut() {
                        b.clear();
                    }
                }
                Ok(Err(f)) => return Err(f),
            }
        }
    }
}

/// One connection's loop for the phase. Returns the connection for the next phase.
async fn drive_connection(
    run: Rc<PhaseRun>,
    slot: usize,
    global: usize,
    mut conn: Option<Connection>,
    delay: Option<Duration>,
) -> Option<Connection> {
    if let Some(d) = delay.filter(|d| !d.is_zero()) {
        sleep(d).await;
    }
    loop {
        let job = match &run.dispatch {
            None => {
                let now = Instant::now();
                if !run.take_ticket(now) {
                    break;
                }
                Job {
                    intended: now,
                    late: false,
                }
            }
            Some(d) => match d.next(slot).await {
                Some(job) => job,
                None => break,
            },
        };
        let sent = if run.dispatch.is_some() {
            Instant::now()
        } else {
            job.intended
        };
        let failed = run.execute(&mut conn, global, job, sent).await;
        if matches!(
            failed,
            Some(
                ErrorClass::ConnectRefused | ErrorClass::ConnectFailed | ErrorClass::ConnectTimeout
            )
        ) {
            // A server that is gone refuses in microseconds: without a pause, a closed loop
            // would spin out connect errors as fast as the CPU allows.
            sleep(CONNECT_BACKOFF).await;
        }
    }
    conn
}

/// The open-loop timer task: releases due requests at every wake-up. monoio's timer has 1 ms
/// resolution, so each wake-up releases everything due by then and the lag is recorded.
async fn pace(run: Rc<PhaseRun>) {
    let Some(dispatch) = &run.dispatch else {
        return;
    };
    loop {
        if signal::interrupted() {
            break;
        }
        let now = Instant::now();
        match dispatch.release(now) {
            Some(next) => {
                sleep_until(monoio::time::Instant::from_std(
                    next.min(now + SUPERVISE_EVERY),
                ))
                .await
            }
            None => break,
        }
    }
    let unsent = dispatch.close(Instant::now());
    run.recorder.borrow_mut().unsent += unsent;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(connections: usize) -> EngineConfig {
        EngineConfig {
            endpoints: vec!["127.0.0.1:1".parse().unwrap()],
            requests: vec![vec![b"x".to_vec()]],
            payload_inputs: vec![1],
            workers: 3,
            connections,
            cores: vec![],
            phases: vec![],
            request_timeout: Duration::from_secs(1),
            max_response_bytes: 1,
            validate_every: 0,
            seed: 0,
            slo: Default::default(),
            records_per_worker: 0,
        }
    }

    #[test]
    fn shares_add_up_to_the_total() {
        for connections in [1, 2, 3, 4, 7, 64] {
            for total in [0, 1, 5, 10, 20, 1001] {
                for load in [
                    Load::Closed,
                    Load::Open(super::super::Arrivals {
                        rate: 1.0,
                        pattern: super::super::Pattern::Poisson,
                        ramp: None,
                    }),
                ] {
                    let workers = 3.min(connections);
                    let sum: u64 = (0..workers)
                        .map(|id| {
                            WorkerPlan::new(&config(connections), id, workers, Instant::now())
                                .share(total, &load, connections)
                        })
                        .sum();
                    assert_eq!(
                        sum, total,
                        "connections {connections} total {total} {load:?}"
                    );
                }
            }
        }
    }
}
