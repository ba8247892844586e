//! The floor under any io_uring HTTP/1.1 client on this machine, to read embperf's cost against.
//!
//! A closed loop over N keep-alive connections that sends one prebuilt request (built by
//! embperf's own request template) and frames each response by its Content-Length with
//! embperf's own head parser, and does nothing else: no clock reads per request, no histograms,
//! no timeouts, no error classes, no reconnects. Its CPU per request is the kernel's share of a
//! loopback exchange plus the cheapest user-space loop; what embperf spends above it is its
//! engine, and a target below it is out of reach of any client built on io_uring here.
//!
//! Two receive strategies, both on registered files with embperf's ring flags
//! (COOP_TASKRUN | SINGLE_ISSUER | DEFER_TASKRUN):
//! - `single`: one receive per response into a per-connection buffer, as monoio (and so
//!   embperf) does: the receive finds no data yet, arms a poll, and completes on the wake-up;
//! - `multishot`: one multishot receive per connection for the whole run, completing into
//!   buffers the kernel takes from a registered buffer ring: no receive and no poll arm per
//!   response.
//!
//! ```text
//! cargo bench --bench uring_floor                    # both, against the built-in mock server
//! cargo bench --bench uring_floor -- --url URL --body FILE \
//!     [--connections 64] [--duration 5] [--receive single|multishot]
//! ```
//!
//! Loopback only; bounded by --duration (draining takes at most 2 s more). Prints one JSON line
//! per run.

use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use embperf::engine::CpuTime;
use embperf::http::{BodyDecoder, Endpoint, RequestTemplate, ResponseHead};
use embperf::mock::{MockConfig, MockServer};
use io_uring::{cqueue, opcode, squeue, types, IoUring};

/// Per-connection buffer of the single-receive strategy (embperf's read buffer size).
const READ_BUFFER: usize = 64 * 1024;
/// Buffers in the multishot strategy's ring, and the size of each.
const RING_BUFFERS: u16 = 512;
const RING_BUFFER_SIZE: usize = 16 * 1024;
const BUFFER_GROUP: u16 = 0;
/// User data of the run's timer completions.
const TIMER: u64 = u64::MAX;
/// After the duration, responses still in flight get this long to arrive.
const DRAIN: Duration = Duration::from_secs(2);
const MAX_DURATION_S: u64 = 600;

#[derive(Parser)]
#[command(about = "The CPU floor of an io_uring HTTP/1.1 client on loopback")]
struct Args {
    /// Endpoint URL (loopback only); without it, runs both strategies against the mock server.
    #[arg(long, requires = "body")]
    url: Option<String>,
    /// File holding the JSON request body.
    #[arg(long, requires = "url")]
    body: Option<std::path::PathBuf>,
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Seconds of load.
    #[arg(long, default_value_t = 3)]
    duration: u64,
    /// Receive strategy (with --url; the mock-server run measures both).
    #[arg(long, value_enum, default_value_t = Receive::Multishot)]
    receive: Receive,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

#[derive(Clone, Copy, ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
enum Receive {
    Single,
    Multishot,
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(args) {
        eprintln!("uring_floor: {e}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<(), String> {
    if args.connections == 0 || args.connections > 4096 {
        return Err("--connections must be 1..=4096".into());
    }
    if args.duration == 0 || args.duration > MAX_DURATION_S {
        return Err(format!("--duration must be 1..={MAX_DURATION_S} seconds"));
    }
    let duration = Duration::from_secs(args.duration);
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    if cores.len() < 2 {
        eprintln!("uring_floor: fewer than 2 cores: the client and the server share one");
    }
    match (&args.url, &args.body) {
        (Some(url), Some(body)) => {
            let body = std::fs::read(body).map_err(|e| format!("{}: {e}", body.display()))?;
            let (addr, request) = target(url, &body)?;
            pin(cores.first().copied());
            report(addr, &request, args.connections, duration, args.receive)
        }
        _ => {
            // The server gets the last core and the client the first, as in tools/bench-peers.sh.
            let server = MockServer::start(MockConfig {
                cores: cores.last().copied().into_iter().collect(),
                ..MockConfig::default()
            })?;
            pin(cores.first().copied());
            let body = br#"{"model":"BAAI/bge-small-en-v1.5","input":["the quick brown fox jumps over the lazy dog"]}"#;
            let url = Endpoint::parse(&server.url(), "/v1/embeddings")?.url;
            let (addr, request) = target(&url, body)?;
            for receive in [Receive::Single, Receive::Multishot] {
                report(addr, &request, args.connections, duration, receive)?;
            }
            server.stop();
            Ok(())
        }
    }
}

fn pin(core: Option<core_affinity::CoreId>) {
    if !core.is_some_and(core_affinity::set_for_current) {
        eprintln!("uring_floor: could not pin the client thread; figures are noisier");
    }
}

/// The loopback address and the complete request bytes for `url`.
fn target(url: &str, body: &[u8]) -> Result<(SocketAddr, Vec<u8>), String> {
    let endpoint = Endpoint::parse(url, "")?;
    let addr = endpoint.resolve()?[0];
    if !addr.ip().is_loopback() {
        return Err(format!("{url}: loopback addresses only"));
    }
    let request = RequestTemplate::new(&endpoint.authority, &endpoint.path, &[]).build(body);
    Ok((addr, request))
}

fn report(
    addr: SocketAddr,
    request: &[u8],
    connections: usize,
    duration: Duration,
    receive: Receive,
) -> Result<(), String> {
    let out = closed_loop(addr, request, connections, duration, receive)?;
    let line = serde_json::json!({
        "receive": receive,
        "connections": connections,
        "requests": out.requests,
        "seconds": out.seconds,
        "cpu_seconds": out.cpu_seconds,
        "cpu_us_per_request": out.cpu_seconds / out.requests.max(1) as f64 * 1e6,
        "requests_per_second": out.requests as f64 / out.seconds,
    });
    println!("{line}");
    Ok(())
}

struct Outcome {
    requests: u64,
    seconds: f64,
    cpu_seconds: f64,
}

/// What a completion's user data says: which connection, and which operation.
#[derive(Clone, Copy)]
enum Op {
    Send,
    Recv,
}

fn user_data(conn: usize, op: Op) -> u64 {
    (conn as u64) << 1 | matches!(op, Op::Recv) as u64
}

fn decode(user_data: u64) -> (usize, Op) {
    let op = if user_data & 1 == 1 {
        Op::Recv
    } else {
        Op::Send
    };
    ((user_data >> 1) as usize, op)
}

fn closed_loop(
    addr: SocketAddr,
    request: &[u8],
    connections: usize,
    duration: Duration,
    receive: Receive,
) -> Result<Outcome, String> {
    let streams = (0..connections)
        .map(|_| {
            let s = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
            s.set_nodelay(true).map_err(|e| e.to_string())?;
            Ok(s)
        })
        .collect::<Result<Vec<_>, String>>()?;
    let fds: Vec<RawFd> = streams.iter().map(|s| s.as_raw_fd()).collect();
    // Declared before the ring so that the ring, which references their memory, drops first.
    let mut buffers = match receive {
        Receive::Single => Buffers::PerConnection(vec![vec![0; READ_BUFFER]; connections]),
        Receive::Multishot => Buffers::Ring(BufRing::new()?),
    };
    let entries = (4 * connections as u32).next_power_of_two().max(64);
    let mut ring: IoUring = IoUring::builder()
        .setup_coop_taskrun()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .build(entries)
        .map_err(|e| format!("io_uring: {e}"))?;
    ring.submitter()
        .register_files(&fds)
        .map_err(|e| format!("register files: {e}"))?;
    if let Buffers::Ring(br) = &buffers {
        br.register(&ring)?;
    }
    let mut frames: Vec<Frame> = (0..connections).map(|_| Frame::default()).collect();
    let mut queue: Vec<squeue::Entry> = Vec::with_capacity(2 * connections);
    let send = |conn: usize| {
        opcode::Send::new(
            types::Fixed(conn as u32),
            request.as_ptr(),
            request.len() as u32,
        )
        // WAITALL: the kernel finishes a short send itself, so success needs no completion.
        .flags(libc::MSG_WAITALL)
        .build()
        .flags(squeue::Flags::SKIP_SUCCESS)
        .user_data(user_data(conn, Op::Send))
    };
    for conn in 0..connections {
        queue.push(send(conn));
        queue.push(buffers.receive(conn));
    }
    // One timer for the whole run, then one for the drain: no per-wait timeout, no clock read
    // per completion.
    let (load_time, drain_time) = (
        types::Timespec::from(duration),
        types::Timespec::from(DRAIN),
    );
    let timer = |ts: &types::Timespec| opcode::Timeout::new(ts).build().user_data(TIMER);
    queue.push(timer(&load_time));
    let (started, cpu_started) = (Instant::now(), CpuTime::thread());
    let (mut in_flight, mut requests, mut stopping) = (connections, 0u64, false);
    while in_flight > 0 {
        {
            let mut sq = ring.submission();
            for e in queue.drain(..) {
                // SAFETY: every buffer an entry points to (the request, the per-connection
                // buffers, the buffer ring, the timespecs) outlives the ring.
                unsafe { sq.push(&e) }.map_err(|_| "submission queue full")?;
            }
        }
        match ring.submit_and_wait(1) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
            Err(e) => return Err(format!("io_uring_enter: {e}")),
        }
        let mut gave_up = false;
        for cqe in ring.completion() {
            if cqe.user_data() == TIMER {
                gave_up = stopping;
                if !stopping {
                    stopping = true;
                    queue.push(timer(&drain_time));
                }
                continue;
            }
            let (conn, op) = decode(cqe.user_data());
            let res = cqe.result();
            if let Op::Send = op {
                return Err(format!("send: {}", std::io::Error::from_raw_os_error(-res)));
            }
            if res == -libc::ENOBUFS {
                // The buffer ring ran dry (more connections than buffers were receiving at
                // once): the multishot receive ended and is queued again below.
                queue.push(buffers.receive(conn));
                continue;
            }
            if res < 0 {
                return Err(format!(
                    "receive: {}",
                    std::io::Error::from_raw_os_error(-res)
                ));
            }
            if res == 0 {
                return Err("the server closed a connection".into());
            }
            let done = buffers.with_data(conn, res as usize, cqe.flags(), |data| {
                frames[conn].consume(data)
            })??;
            if done {
                requests += 1;
                in_flight -= 1;
            }
            let next_request = done && !stopping;
            if next_request {
                queue.push(send(conn));
                in_flight += 1;
            }
            // A single receive serves one completion; a multishot one lives until the kernel
            // ends it (no MORE flag).
            let still_receiving = matches!(buffers, Buffers::Ring(_)) && cqueue::more(cqe.flags());
            if !still_receiving && (next_request || !done) {
                queue.push(buffers.receive(conn));
            }
        }
        if let Buffers::Ring(br) = &mut buffers {
            br.publish();
        }
        if gave_up {
            break;
        }
    }
    let cpu = CpuTime::thread().since(cpu_started).total();
    Ok(Outcome {
        requests,
        seconds: started.elapsed().as_secs_f64(),
        cpu_seconds: cpu.as_secs_f64(),
    })
}

/// Where received bytes land.
enum Buffers {
    PerConnection(Vec<Vec<u8>>),
    Ring(BufRing),
}

impl Buffers {
    fn receive(&mut self, conn: usize) -> squeue::Entry {
        let fd = types::Fixed(conn as u32);
        match self {
            Buffers::PerConnection(bufs) => {
                let buf = &mut bufs[conn];
                opcode::Recv::new(fd, buf.as_mut_ptr(), buf.len() as u32).build()
            }
            Buffers::Ring(_) => opcode::RecvMulti::new(fd, BUFFER_GROUP).build(),
        }
        .user_data(user_data(conn, Op::Recv))
    }

    /// Runs `f` over the `len` bytes a receive completion delivered.
    fn with_data<T>(
        &mut self,
        conn: usize,
        len: usize,
        flags: u32,
        f: impl FnOnce(&[u8]) -> T,
    ) -> Result<T, String> {
        match self {
            Buffers::PerConnection(bufs) => Ok(f(&bufs[conn][..len])),
            Buffers::Ring(br) => {
                let id = cqueue::buffer_select(flags)
                    .ok_or("a multishot completion without a buffer")?;
                let out = f(br.data(id, len));
                br.give_back(id);
                Ok(out)
            }
        }
    }
}

/// A registered ring of provided buffers: the kernel takes one per multishot completion and we
/// hand it back once its bytes are framed.
struct BufRing {
    entries: *mut types::BufRingEntry,
    layout: std::alloc::Layout,
    data: Vec<u8>,
    tail: u16,
}

impl BufRing {
    fn new() -> Result<BufRing, String> {
        let layout = std::alloc::Layout::from_size_align(
            RING_BUFFERS as usize * std::mem::size_of::<types::BufRingEntry>(),
            4096,
        )
        .map_err(|e| e.to_string())?;
        // SAFETY: a non-zero size; the result is checked for null.
        let entries = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<types::BufRingEntry>();
        if entries.is_null() {
            return Err("cannot allocate the buffer ring".into());
        }
        let mut ring = BufRing {
            entries,
            layout,
            data: vec![0; RING_BUFFERS as usize * RING_BUFFER_SIZE],
            tail: 0,
        };
        for id in 0..RING_BUFFERS {
            ring.give_back(id);
        }
        ring.publish();
        Ok(ring)
    }

    fn register(&self, ring: &IoUring) -> Result<(), String> {
        // SAFETY: the entries stay allocated until after the ring is dropped (see closed_loop).
        unsafe {
            ring.submitter()
                .register_buf_ring(self.entries as u64, RING_BUFFERS, BUFFER_GROUP)
        }
        .map_err(|e| format!("register buffer ring (kernel 5.19 or later): {e}"))
    }

    fn data(&self, id: u16, len: usize) -> &[u8] {
        let start = id as usize * RING_BUFFER_SIZE;
        &self.data[start..start + len]
    }

    /// Puts buffer `id` back at the tail; the kernel sees it after `publish`.
    fn give_back(&mut self, id: u16) {
        let slot = (self.tail % RING_BUFFERS) as usize;
        // SAFETY: slot < RING_BUFFERS, inside the allocation.
        let entry = unsafe { &mut *self.entries.add(slot) };
        entry.set_addr(self.data.as_ptr() as u64 + (id as usize * RING_BUFFER_SIZE) as u64);
        entry.set_len(RING_BUFFER_SIZE as u32);
        entry.set_bid(id);
        self.tail = self.tail.wrapping_add(1);
    }

    fn publish(&mut self) {
        // SAFETY: the tail field lives in the first entry, inside the allocation; the release
        // store orders the entry writes before it, as the kernel expects.
        unsafe {
            let tail = types::BufRingEntry::tail(self.entries).cast_mut();
            std::sync::atomic::AtomicU16::from_ptr(tail)
                .store(self.tail, std::sync::atomic::Ordering::Release);
        }
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { std::alloc::dealloc(self.entries.cast(), self.layout) }
    }
}

/// Framing state of one connection's current response, with embperf's head parser and body
/// decoder.
#[derive(Default)]
struct Frame {
    /// Head bytes kept while a head arrives split over completions (rare).
    partial_head: Vec<u8>,
    /// The body's decoder, once the head is parsed.
    body: Option<BodyDecoder>,
}

impl Frame {
    /// Takes the bytes of one completion; `Ok(true)` when they end the response.
    fn consume(&mut self, data: &[u8]) -> Result<bool, String> {
        let mut body = match self.body.take() {
            Some(decoder) => return Self::feed(decoder, data, &mut self.body),
            None => data,
        };
        if !self.partial_head.is_empty() {
            self.partial_head.extend_from_slice(data);
            body = &self.partial_head;
        }
        let Some(head) = ResponseHead::parse(body).map_err(|e| e.to_string())? else {
            if self.partial_head.is_empty() {
                self.partial_head.extend_from_slice(data);
            }
            return Ok(false);
        };
        if !head.keep_alive || !(200..300).contains(&head.status) {
            return Err(format!(
                "status {}, or a connection close: the floor client needs keep-alive 2xx responses",
                head.status
            ));
        }
        let done = Self::feed(
            BodyDecoder::new(head.body),
            &body[head.len..],
            &mut self.body,
        );
        self.partial_head.clear();
        done
    }

    /// Feeds body bytes; keeps the decoder in `slot` until the body ends.
    fn feed(
        mut decoder: BodyDecoder,
        data: &[u8],
        slot: &mut Option<BodyDecoder>,
    ) -> Result<bool, String> {
        let used = decoder.feed(data, |_| {}).map_err(|e| e.to_string())?;
        if used < data.len() {
            return Err("more bytes than the response (pipelining is not used)".into());
        }
        let done = decoder.is_done();
        *slot = (!done).then_some(decoder);
        Ok(done)
    }
}
