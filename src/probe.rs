//! Before the run: find an address of each endpoint that accepts connections, and with
//! `--wait-for-model-timeout`, wait until the endpoint answers a real request with a 2xx.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::http::{Endpoint, ResponseHead};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const POLL_EVERY: Duration = Duration::from_millis(500);

/// The first resolved address that accepts a connection.
fn reachable(endpoint: &Endpoint, addrs: &[SocketAddr]) -> Result<SocketAddr, String> {
    let mut last = String::new();
    for addr in addrs {
        match TcpStream::connect_timeout(addr, CONNECT_TIMEOUT) {
            Ok(_) => return Ok(*addr),
            Err(e) => last = format!("{addr}: {e}"),
        }
    }
    Err(format!("cannot connect to {} ({last}); is the server running? (--wait-for-model-timeout S waits for it)", endpoint.url))
}

/// Sends `request` once and returns the response status.
fn status_of(addr: SocketAddr, request: &[u8]) -> Result<u16, String> {
    let mut s = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    s.write_all(request).map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(head) = ResponseHead::parse(&buf).map_err(|e| e.to_string())? {
            return Ok(head.status);
        }
        let n = s.read(&mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Picks the address to use; with `wait`, polls until a request succeeds or the time is up.
pub fn wait_ready(
    endpoint: &Endpoint,
    addrs: &[SocketAddr],
    request: &[u8],
    wait: Option<Duration>,
) -> Result<SocketAddr, String> {
    let Some(wait) = wait else {
        return reachable(endpoint, addrs);
    };
    let until = Instant::now() + wait;
    let mut last;
    loop {
        match reachable(endpoint, addrs) {
            Ok(addr) => match status_of(addr, request) {
                Ok(status) if (200..300).contains(&status) => return Ok(addr),
                Ok(status) => last = format!("answered HTTP {status}"),
                Err(e) => last = e,
            },
            Err(e) => last = e,
        }
        if Instant::now() >= until {
            return Err(format!(
                "{} not ready after --wait-for-model-timeout {}s: {last}",
                endpoint.url,
                wait.as_secs_f64()
            ));
        }
        std::thread::sleep(POLL_EVERY);
    }
}
