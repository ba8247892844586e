//! Test helpers: run the real `embperf` binary, read its artifacts, and serve misbehaving HTTP
//! on real loopback sockets (one std thread per connection; every test server is bounded).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Runs the engine in this process: `count` closed-loop requests carrying `body` to `url` over
/// `connections` connections, validating one response in `validate_every` (0: none); returns
/// what it recorded.
pub fn run_engine(
    url: &str,
    body: &[u8],
    count: u64,
    connections: usize,
    validate_every: u64,
) -> embperf::stats::Recorder {
    use embperf::engine::{self, EngineConfig, Load, Phase, PhaseSpec, Progress};
    use embperf::http::{Endpoint, RequestTemplate};
    let endpoint = Endpoint::parse(url, "/v1/embeddings").unwrap();
    let request = RequestTemplate::new(&endpoint.authority, &endpoint.path, &[]).build(body);
    let config = EngineConfig {
        endpoints: endpoint.resolve().unwrap(),
        requests: vec![vec![request]],
        payload_inputs: vec![1],
        workers: 1,
        connections,
        cores: vec![],
        phases: vec![PhaseSpec {
            phase: Phase::Profiling,
            count: Some(count),
            duration: None,
            grace: Duration::from_secs(5),
            load: Load::Closed,
            concurrency_ramp: None,
        }],
        request_timeout: Duration::from_secs(10),
        max_response_bytes: 1 << 20,
        validate_every,
        seed: 1,
        slo: Default::default(),
        records_per_worker: 0,
    };
    let outcome = engine::run(config, Arc::new(Progress::new(1)));
    outcome.phases.into_iter().next().unwrap().recorder
}

pub fn embperf() -> Command {
    Command::new(env!("CARGO_BIN_EXE_embperf"))
}

/// Runs `embperf profile ARGS --no-progress` with a time limit, in `cwd`.
pub fn profile(cwd: &Path, args: &[&str]) -> Output {
    wait_with_timeout(spawn_profile(cwd, args), Duration::from_secs(120))
}

/// Starts `embperf profile ARGS --no-progress` in `cwd` without waiting for it.
pub fn spawn_profile(cwd: &Path, args: &[&str]) -> std::process::Child {
    embperf()
        .current_dir(cwd)
        .arg("profile")
        .args(args)
        .arg("--no-progress")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("embperf starts")
}

pub fn wait_with_timeout(mut child: std::process::Child, limit: Duration) -> Output {
    let start = std::time::Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "embperf did not finish within {limit:?}; stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        stderr(out)
    );
}

/// A fresh temporary directory.
pub fn temp_dir(name: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "embperf-test-{}-{name}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `profile_export_aiperf.json` in `dir`.
pub fn export(dir: &Path) -> serde_json::Value {
    read_json(&dir.join("profile_export_aiperf.json"))
}

pub fn scalar(json: &serde_json::Value, tag: &str) -> f64 {
    json[tag]["avg"]
        .as_f64()
        .unwrap_or_else(|| panic!("no {tag} in export"))
}

/// Error counts by `type`.
pub fn error_count(json: &serde_json::Value, type_name: &str) -> u64 {
    json["error_summary"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["error_details"]["type"] == type_name)
        .map(|e| e["count"].as_u64().unwrap())
        .sum()
}

/// A valid embeddings body for `n` inputs.
pub fn embeddings_body(n: usize) -> String {
    let items: Vec<String> = (0..n)
        .map(|i| format!("{{\"object\":\"embedding\",\"index\":{i},\"embedding\":[0.1,0.2]}}"))
        .collect();
    format!(
        "{{\"object\":\"list\",\"data\":[{}],\"model\":\"m\"}}",
        items.join(",")
    )
}

/// Reads one request (head and Content-Length body); `None` at EOF.
pub fn read_request(stream: &mut TcpStream, carry: &mut Vec<u8>) -> Option<Vec<u8>> {
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        if let Ok(httparse::Status::Complete(head)) = req.parse(carry) {
            let len = req
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .and_then(|h| {
                    std::str::from_utf8(h.value)
                        .ok()?
                        .trim()
                        .parse::<usize>()
                        .ok()
                })
                .unwrap_or(0);
            while carry.len() < head + len {
                let n = stream.read(&mut chunk).ok().filter(|&n| n > 0)?;
                carry.extend_from_slice(&chunk[..n]);
            }
            let body = carry[head..head + len].to_vec();
            carry.drain(..head + len);
            return Some(body);
        }
        let n = stream.read(&mut chunk).ok().filter(|&n| n > 0)?;
        carry.extend_from_slice(&chunk[..n]);
    }
}

/// What a test server does with the n-th request (counted over all connections).
pub type Behavior = dyn Fn(&mut TcpStream, u64) -> Flow + Send + Sync;

pub enum Flow {
    /// Keep the connection for the next request.
    Continue,
    /// Close it (after whatever was written).
    Close,
    /// Reset it: close with SO_LINGER 0, so the peer gets RST instead of FIN.
    Reset,
}

/// A thread-per-connection server on 127.0.0.1 with a scripted behavior.
pub struct TestServer {
    pub port: u16,
    pub requests: Arc<AtomicU64>,
    pub connections: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl TestServer {
    pub fn start(
        behavior: impl Fn(&mut TcpStream, u64) -> Flow + Send + Sync + 'static,
    ) -> TestServer {
        TestServer::start_reading_late(Duration::ZERO, behavior)
    }

    /// Like `start`, but each connection waits `delay` before it reads each request, so a large
    /// request fills the socket buffers while the client is still sending it.
    pub fn start_reading_late(
        delay: Duration,
        behavior: impl Fn(&mut TcpStream, u64) -> Flow + Send + Sync + 'static,
    ) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let requests = Arc::new(AtomicU64::new(0));
        let connections = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let behavior: Arc<Behavior> = Arc::new(behavior);
        let (r, c, s) = (requests.clone(), connections.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut stream, _)) => {
                        c.fetch_add(1, Ordering::Relaxed);
                        stream.set_nonblocking(false).unwrap();
                        stream.set_nodelay(true).unwrap();
                        let (behavior, requests, stop) = (behavior.clone(), r.clone(), s.clone());
                        std::thread::spawn(move || {
                            let mut carry = Vec::new();
                            let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
                            while !stop.load(Ordering::Relaxed) {
                                if !delay.is_zero() {
                                    std::thread::sleep(delay);
                                }
                                if read_request(&mut stream, &mut carry).is_none() {
                                    return;
                                }
                                let n = requests.fetch_add(1, Ordering::Relaxed);
                                match behavior(&mut stream, n) {
                                    Flow::Continue => {}
                                    Flow::Close => {
                                        let _ = stream.shutdown(Shutdown::Both);
                                        return;
                                    }
                                    Flow::Reset => {
                                        reset(&stream);
                                        return;
                                    }
                                }
                            }
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        TestServer {
            port,
            requests,
            connections,
            stop,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Writes a complete response with Content-Length.
pub fn respond(stream: &mut TcpStream, status: &str, extra_headers: &str, body: &str) {
    let _ = write!(stream, "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra_headers}\r\n{body}", body.len());
}

/// Sets SO_LINGER 0: closing the socket then sends RST.
fn reset(stream: &TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt on a socket we own, with a correctly sized value.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &linger as *const libc::linger as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

/// `profile` against `url` with model `m` and artifacts in `dir/out`, plus `extra` flags.
pub fn profile_url(dir: &Path, url: &str, extra: &[&str]) -> Output {
    let mut args = vec!["-m", "m", "--url", url, "--artifact-dir", "out"];
    args.extend_from_slice(extra);
    profile(dir, &args)
}

/// Waits until something listens on 127.0.0.1:`port` (at most 2 s).
pub fn wait_listening(port: u16) {
    for _ in 0..200 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("nothing listens on port {port}");
}

/// `embperf mock-server` as its own process on `port`, ready to accept connections.
pub fn spawn_mock_server(port: u16, extra: &[&str]) -> std::process::Child {
    let child = embperf()
        .args(["mock-server", "--port", &port.to_string()])
        .args(extra)
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("mock server starts");
    wait_listening(port);
    child
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
