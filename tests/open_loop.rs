//! Open-loop runs: pacing, coordinated-omission-corrected latency, grace-period cancellation
//! and interrupts, over real sockets.

mod support;

use std::time::{Duration, Instant};

use embperf::mock::{MockConfig, MockServer};
use support::*;

fn dist(json: &serde_json::Value, tag: &str, field: &str) -> f64 {
    json[tag][field]
        .as_f64()
        .unwrap_or_else(|| panic!("{tag}.{field} missing"))
}

#[test]
fn open_loop_hits_the_target_rate_and_reports_the_lag() {
    let server = MockServer::start(MockConfig::default()).unwrap();
    let dir = temp_dir("rate");
    let out = profile_url(
        &dir,
        &server.url(),
        &[
            "--request-rate",
            "500",
            "--benchmark-duration",
            "2",
            "--isl",
            "16",
            "--random-seed",
            "3",
        ],
    );
    assert_success(&out);
    let counts = server.stop();
    let json = export(&dir.join("out"));
    let achieved = scalar(&json, "achieved_request_rate");
    assert!((achieved / 500.0 - 1.0).abs() < 0.1, "achieved {achieved}");
    assert_eq!(scalar(&json, "target_request_rate"), 500.0);
    assert_eq!(
        scalar(&json, "sent_request_count"),
        counts.embeddings_ok as f64
    );
    assert!(json["credit_to_start_latency"]["p99"].as_f64().is_some());
    // Corrected latency can only be longer than the uncorrected one.
    assert!(dist(&json, "effective_latency", "avg") >= dist(&json, "request_latency", "avg"));
    assert_eq!(
        json["input_config"]["loadgen"]["arrival_pattern"],
        "poisson"
    );
}

/// The server stalls for 1 s mid-run. Latency measured from the intended send time shows the
/// stall in its max and p99; latency from the actual send hides it in p99, since the requests
/// that waited behind the stall were sent late.
#[test]
fn a_stall_shows_in_corrected_latency_and_hides_in_uncorrected() {
    let server = TestServer::start(|stream, n| {
        if n == 150 {
            std::thread::sleep(Duration::from_secs(1));
        }
        respond(stream, "200 OK", "", &embeddings_body(1));
        Flow::Continue
    });
    let dir = temp_dir("stall");
    let out = profile_url(
        &dir,
        &server.url(),
        &[
            "--request-rate",
            "200",
            "--arrival-pattern",
            "constant",
            "--benchmark-duration",
            "3",
            "--concurrency",
            "1",
            "--isl",
            "8",
        ],
    );
    assert_success(&out);
    let json = export(&dir.join("out"));
    let effective_max = dist(&json, "effective_latency", "max");
    let effective_p99 = dist(&json, "effective_latency", "p99");
    let request_p99 = dist(&json, "request_latency", "p99");
    let request_max = dist(&json, "request_latency", "max");
    assert!(
        effective_max > 950.0 && effective_max < 1300.0,
        "corrected max {effective_max} ms"
    );
    assert!(effective_p99 > 800.0, "corrected p99 {effective_p99} ms");
    assert!(
        request_p99 < 100.0,
        "uncorrected p99 {request_p99} ms hides the stall"
    );
    // Only the one stalled request itself shows it uncorrected.
    assert!(request_max > 950.0, "{request_max}");
    assert!(
        scalar(&json, "late_send_count") >= 150.0,
        "{}",
        json["late_send_count"]
    );
    assert!(dist(&json, "credit_to_start_latency", "max") > 900.0);
}

#[test]
fn requests_still_open_after_the_grace_period_are_cancelled_as_499() {
    let server = TestServer::start(|stream, n| {
        if n >= 5 {
            // Never answers within the test.
            std::thread::sleep(Duration::from_secs(20));
        }
        respond(stream, "200 OK", "", &embeddings_body(1));
        Flow::Continue
    });
    let dir = temp_dir("grace");
    let started = Instant::now();
    let out = profile_url(
        &dir,
        &server.url(),
        &[
            "--concurrency",
            "2",
            "--benchmark-duration",
            "1",
            "--benchmark-grace-period",
            "0.5",
            "--isl",
            "8",
        ],
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_success(&out);
    let json = export(&dir.join("out"));
    assert_eq!(scalar(&json, "request_count"), 5.0);
    assert_eq!(error_count(&json, "cancelled"), 2);
    let cancelled = json["error_summary"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["error_details"]["type"] == "cancelled")
        .unwrap();
    assert_eq!(cancelled["error_details"]["code"], 499);
    assert_eq!(json["run_info"]["accounting"]["sent"], 7);
    assert_eq!(json["run_info"]["accounting"]["balanced"], true);
}

/// SIGINT mid-run: the run stops issuing, drains briefly, writes complete artifacts marked
/// cancelled, and exits non-zero.
#[test]
fn an_interrupted_run_still_writes_what_it_measured() {
    let server = MockServer::start(MockConfig {
        base_latency_ms: 1.0,
        ..MockConfig::default()
    })
    .unwrap();
    let dir = temp_dir("sigint");
    let child = spawn_profile(
        &dir,
        &[
            "-m",
            "m",
            "--url",
            &server.url(),
            "--concurrency",
            "4",
            "--benchmark-duration",
            "60",
            "--isl",
            "8",
            "--artifact-dir",
            "out",
        ],
    );
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let started = Instant::now();
    let out = wait_with_timeout(child, Duration::from_secs(10));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?} to stop",
        started.elapsed()
    );
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let counts = server.stop();
    let json = export(&dir.join("out"));
    assert_eq!(json["was_cancelled"], true);
    assert_eq!(json["is_complete"], false);
    let done = scalar(&json, "request_count");
    assert!(done > 50.0, "{done}");
    assert_eq!(json["run_info"]["accounting"]["balanced"], true);
    // Everything the server answered was counted, except requests cancelled in flight.
    let cancelled = error_count(&json, "cancelled") as f64;
    assert!(
        (counts.embeddings_ok as f64 - done - cancelled).abs() <= 4.0,
        "server {} vs {done} + {cancelled}",
        counts.embeddings_ok
    );
    let csv = std::fs::read_to_string(dir.join("out/profile_export_aiperf.csv")).unwrap();
    assert!(csv.contains("Request Count,"));
}
