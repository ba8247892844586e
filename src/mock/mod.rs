//! The built-in embeddings server: the default target of `profile --mock`, the peer of the
//! tests and the zero-work server for calibration. Thread per core like the client, with one
//! SO_REUSEPORT listener per thread so the kernel spreads connections.

mod body;
mod conn;

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::engine::runtime::{self, DriverKind};

#[derive(Debug, Clone)]
pub struct MockConfig {
    pub host: String,
    pub port: u16,
    pub workers: usize,
    pub dims: usize,
    pub model: String,
    pub base_latency_ms: f64,
    pub per_input_latency_ms: f64,
    /// Percentage of embeddings requests answered with a 500.
    pub error_rate_pct: f64,
    pub seed: u64,
    /// Cores to pin worker i to (`cores[i % len]`); empty means no pinning.
    pub cores: Vec<core_affinity::CoreId>,
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig {
            host: "127.0.0.1".into(),
            port: 0,
            workers: 1,
            dims: 384,
            model: "BAAI/bge-small-en-v1.5".into(),
            base_latency_ms: 0.0,
            per_input_latency_ms: 0.0,
            error_rate_pct: 0.0,
            seed: 0,
            cores: Vec::new(),
        }
    }
}

/// What the server counted, summed over its workers.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct MockCounts {
    pub connections: u64,
    /// Every request parsed, whatever the answer.
    pub requests: u64,
    /// Embeddings requests answered 200.
    pub embeddings_ok: u64,
    /// Embeddings requests answered 500 by `--error-rate`.
    pub injected_errors: u64,
    /// Requests answered 4xx.
    pub bad_requests: u64,
}

/// One worker's counters, written only by that worker, on their own cache line.
#[derive(Default)]
#[repr(align(128))]
struct WorkerCounters {
    connections: AtomicU64,
    requests: AtomicU64,
    embeddings_ok: AtomicU64,
    injected_errors: AtomicU64,
    bad_requests: AtomicU64,
}

impl WorkerCounters {
    /// Single writer: a plain load and store, no locked instruction.
    fn bump(counter: &AtomicU64) {
        counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }
}

/// A running server; stopped on `stop()` or drop.
pub struct MockServer {
    addr: SocketAddr,
    driver: DriverKind,
    stop: Arc<AtomicBool>,
    counters: Arc<Vec<WorkerCounters>>,
    threads: Vec<JoinHandle<()>>,
}

impl MockServer {
    pub fn start(config: MockConfig) -> Result<MockServer, String> {
        let workers = config.workers.max(1);
        let stop = Arc::new(AtomicBool::new(false));
        let counters: Arc<Vec<WorkerCounters>> =
            Arc::new((0..workers).map(|_| WorkerCounters::default()).collect());
        let config = Arc::new(config);
        let mut threads = Vec::new();
        let mut bound: Option<(SocketAddr, DriverKind)> = None;
        // Workers start one after another: the first binds (possibly port 0) and the rest join
        // its port with SO_REUSEPORT.
        for id in 0..workers {
            let (tx, rx) = mpsc::channel();
            let addr = bound
                .map(|(a, _)| a.to_string())
                .unwrap_or_else(|| join_host_port(&config.host, config.port));
            let ctx = WorkerContext {
                id,
                config: config.clone(),
                stop: stop.clone(),
                counters: counters.clone(),
            };
            let thread = std::thread::Builder::new()
                .name(format!("embperf-mock-{id}"))
                .spawn(move || worker_thread(ctx, addr, tx))
                .map_err(|e| format!("cannot start mock server thread: {e}"))?;
            threads.push(thread);
            match rx.recv() {
                Ok(Ok(started)) => bound = bound.or(Some(started)),
                Ok(Err(e)) => {
                    stop.store(true, Ordering::Relaxed);
                    return Err(e);
                }
                Err(_) => return Err("mock server thread exited during start-up".into()),
            }
        }
        let (addr, driver) = bound.expect("at least one worker");
        Ok(MockServer {
            addr,
            driver,
            stop,
            counters,
            threads,
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn driver(&self) -> DriverKind {
        self.driver
    }

    pub fn counts(&self) -> MockCounts {
        sum_counts(&self.counters)
    }

    pub fn stop(mut self) -> MockCounts {
        self.shutdown();
        self.counts()
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn sum_counts(counters: &[WorkerCounters]) -> MockCounts {
    let get = |f: fn(&WorkerCounters) -> &AtomicU64| {
        counters.iter().map(|c| f(c).load(Ordering::Relaxed)).sum()
    };
    MockCounts {
        connections: get(|c| &c.connections),
        requests: get(|c| &c.requests),
        embeddings_ok: get(|c| &c.embeddings_ok),
        injected_errors: get(|c| &c.injected_errors),
        bad_requests: get(|c| &c.bad_requests),
    }
}

fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

struct WorkerContext {
    id: usize,
    config: Arc<MockConfig>,
    stop: Arc<AtomicBool>,
    counters: Arc<Vec<WorkerCounters>>,
}

impl WorkerContext {
    fn counters(&self) -> &WorkerCounters {
        &self.counters[self.id]
    }
}

type Started = Result<(SocketAddr, DriverKind), String>;

fn worker_thread(ctx: WorkerContext, addr: String, started: mpsc::Sender<Started>) {
    let cores = &ctx.config.cores;
    if !cores.is_empty() {
        runtime::pin_to(Some(cores[ctx.id % cores.len()]));
    }
    let tx = started.clone();
    if let Err(e) = runtime::block_on(|driver| serve(Rc::new(ctx), addr, driver, tx)) {
        let _ = started.send(Err(format!("mock server cannot start a runtime: {e}")));
    }
}

async fn serve(
    ctx: Rc<WorkerContext>,
    addr: String,
    driver: DriverKind,
    started: mpsc::Sender<Started>,
) {
    let opts = monoio::net::ListenerOpts::new().backlog(4096);
    let bound = monoio::net::TcpListener::bind_with_config(&addr, &opts)
        .and_then(|l| Ok((l.local_addr()?, l)));
    let listener = match bound {
        Ok((local, listener)) => {
            let _ = started.send(Ok((local, driver)));
            listener
        }
        Err(e) => {
            let _ = started.send(Err(format!("mock server cannot listen on {addr}: {e}")));
            return;
        }
    };
    let responder = Rc::new(body::Responder::new(&ctx.config, ctx.id));
    let accept_loop = async {
        loop {
            if let Ok((stream, _)) = listener.accept().await {
                WorkerCounters::bump(&ctx.counters().connections);
                let _ = stream.set_nodelay(true);
                monoio::spawn(conn::serve_connection(
                    stream,
                    ctx.clone(),
                    responder.clone(),
                ));
            }
        }
    };
    // The accept future lives for the whole run (cancelling an io_uring accept could lose a
    // connection); a separate poll of the stop flag ends the runtime.
    let stop_watch = async {
        while !ctx.stop.load(Ordering::Relaxed) {
            monoio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    monoio::select! {
        _ = accept_loop => {}
        _ = stop_watch => {}
    }
}
