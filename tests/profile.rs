//! End-to-end `embperf profile` runs over real sockets against the built-in mock server and
//! scripted test servers.

mod support;

use std::time::Duration;

use embperf::mock::{MockConfig, MockServer};
use support::*;

fn mock(config: MockConfig) -> MockServer {
    MockServer::start(config).expect("mock server starts")
}

/// The AIPerf guide's embeddings command, verbatim but for the binary name, against
/// `embperf mock-server` running as its own process.
#[test]
fn aiperf_guide_command_against_the_mock_server_process() {
    let dir = temp_dir("guide");
    let port = free_port();
    let mut server = spawn_mock_server(port, &[]);
    let lines: Vec<String> = (0..7)
        .map(|i| format!("{{\"text\": \"embedding input number {i}\"}}"))
        .collect();
    std::fs::write(dir.join("inputs.jsonl"), lines.join("\n")).unwrap();
    let url = format!("localhost:{port}");
    let out = profile(
        &dir,
        &[
            "--model",
            "BAAI/bge-small-en-v1.5",
            "--endpoint-type",
            "embeddings",
            "--endpoint",
            "/v1/embeddings",
            "--input-file",
            "inputs.jsonl",
            "--custom-dataset-type",
            "single_turn",
            "--url",
            &url,
            "--request-count",
            "20",
            "--concurrency",
            "4",
        ],
    );
    let _ = server.kill();
    let _ = server.wait();
    assert_success(&out);
    let art = dir.join("artifacts/BAAI_bge-small-en-v1.5-openai-embeddings-concurrency4");
    let json = export(&art);
    assert_eq!(scalar(&json, "request_count"), 20.0);
    assert_eq!(json["request_latency"]["count"], 20);
    assert_eq!(json["error_summary"].as_array().unwrap().len(), 0);
    assert_eq!(json["was_cancelled"], false);
    let csv = std::fs::read_to_string(art.join("profile_export_aiperf.csv")).unwrap();
    assert!(csv.starts_with("Metric,avg,min,max,sum,p1,p5,p10,p25,p50,p75,p90,p95,p99,std\n"));
    assert!(
        csv.contains("\nRequest Latency (ms),")
            && csv.contains("\n\nMetric,Value\n")
            && csv.contains("\nRequest Count,20.00\n")
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Request Latency (ms)") && stdout.contains("JSON Export:"));
    // One record line per request.
    let records = std::fs::read_to_string(art.join("profile_export.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = records
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 20);
    assert!(lines
        .iter()
        .all(|l| l["metrics"]["request_latency"]["unit"] == "ms"
            && l["metadata"]["benchmark_phase"] == "profiling"));
    assert!(lines
        .windows(2)
        .all(|w| w[0]["metadata"]["request_start_ns"].as_u64()
            <= w[1]["metadata"]["request_start_ns"].as_u64()));
    // The bodies sent are recorded, cycling through the file's 7 lines.
    let inputs = read_json(&art.join("inputs.json"));
    assert_eq!(
        inputs["data"][3]["payloads"][0]["input"][0],
        "embedding input number 3"
    );
    assert_eq!(
        inputs["data"][0]["payloads"][0]["model"],
        "BAAI/bge-small-en-v1.5"
    );
}

#[test]
fn counts_in_the_export_equal_what_the_server_counted() {
    let server = mock(MockConfig::default());
    let dir = temp_dir("counts");
    let out = profile_url(
        &dir,
        &server.url(),
        &[
            "--request-count",
            "777",
            "--concurrency",
            "6",
            "--isl",
            "64",
            "--workers",
            "2",
        ],
    );
    assert_success(&out);
    let counts = server.stop();
    let json = export(&dir.join("out"));
    assert_eq!(scalar(&json, "request_count"), 777.0);
    assert_eq!(counts.embeddings_ok, 777);
    assert_eq!(counts.requests, 777);
    // Six connections, opened once, kept alive (the probe connects once more).
    assert_eq!(counts.connections, 7);
    assert_eq!(json["run_info"]["accounting"]["balanced"], true);
    assert_eq!(json["input_sequence_length"]["avg"], 62.0);
}

#[test]
fn injected_errors_appear_with_their_status_code() {
    let server = mock(MockConfig {
        error_rate_pct: 30.0,
        seed: 5,
        ..MockConfig::default()
    });
    let dir = temp_dir("errors");
    let out = profile_url(
        &dir,
        &server.url(),
        &[
            "--request-count",
            "600",
            "--concurrency",
            "4",
            "--isl",
            "16",
        ],
    );
    assert_success(&out);
    let counts = server.stop();
    let json = export(&dir.join("out"));
    assert!(
        counts.injected_errors > 100 && counts.injected_errors < 260,
        "{counts:?}"
    );
    assert_eq!(scalar(&json, "request_count"), counts.embeddings_ok as f64);
    assert_eq!(
        scalar(&json, "error_request_count"),
        counts.injected_errors as f64
    );
    let summary = &json["error_summary"][0];
    assert_eq!(summary["error_details"]["code"], 500);
    assert_eq!(summary["count"], counts.injected_errors);
    assert!(summary["error_details"]["message"]
        .as_str()
        .unwrap()
        .contains("injected failure"));
    let rate = scalar(&json, "request_error_rate");
    assert!((rate - counts.injected_errors as f64 / 6.0).abs() < 1e-9);
    assert!(String::from_utf8_lossy(&out.stdout).contains("http_status"));
}

/// A server that answers every request and then closes, once with `Connection: close` and once
/// without saying so: every request is reconnected, none lost or counted twice.
#[test]
fn a_server_closing_after_every_response_costs_reconnects_not_requests() {
    for header in ["Connection: close\r\n", ""] {
        let server = TestServer::start(move |stream, _| {
            respond(stream, "200 OK", header, &embeddings_body(1));
            Flow::Close
        });
        let dir = temp_dir("closing");
        let out = profile_url(
            &dir,
            &server.url(),
            &[
                "--request-count",
                "150",
                "--concurrency",
                "3",
                "--isl",
                "8",
                "--validate-every",
                "1",
            ],
        );
        assert_success(&out);
        let json = export(&dir.join("out"));
        assert_eq!(
            scalar(&json, "request_count"),
            150.0,
            "header {header:?}: {}",
            json["error_summary"]
        );
        assert_eq!(server.requests(), 150, "header {header:?}");
        assert_eq!(json["run_info"]["validated_responses"], 150);
        // One connection per request, plus the three opened before the clock and the probe.
        assert!(
            server
                .connections
                .load(std::sync::atomic::Ordering::Relaxed)
                >= 150
        );
    }
}

#[test]
fn duration_bound_and_warmup_are_separate_phases() {
    let server = mock(MockConfig {
        base_latency_ms: 2.0,
        ..MockConfig::default()
    });
    let dir = temp_dir("duration");
    let out = profile_url(
        &dir,
        &server.url(),
        &[
            "--benchmark-duration",
            "1",
            "--concurrency",
            "2",
            "--warmup-request-count",
            "10",
            "--isl",
            "8",
        ],
    );
    assert_success(&out);
    let counts = server.stop();
    let json = export(&dir.join("out"));
    let profiled = scalar(&json, "request_count");
    let warmup = json["warmup_metrics"]["request_count"]["avg"]
        .as_f64()
        .unwrap();
    assert_eq!(warmup, 10.0);
    assert_eq!(profiled + warmup, counts.embeddings_ok as f64);
    // Two connections at ≥ 2 ms per request for 1 s: a few hundred at most.
    assert!(profiled > 50.0 && profiled < 1001.0, "{profiled}");
    let duration = scalar(&json, "benchmark_duration");
    assert!(duration > 0.9 && duration < 2.0, "{duration}");
}

#[test]
fn an_unreachable_server_fails_fast_naming_the_address() {
    let port = free_port();
    let dir = temp_dir("unreachable");
    let out = profile(
        &dir,
        &[
            "-m",
            "m",
            "--url",
            &format!("127.0.0.1:{port}"),
            "--isl",
            "8",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("127.0.0.1:{port}")) && err.contains("cannot connect"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn bad_input_files_name_the_line() {
    let server = mock(MockConfig::default());
    let dir = temp_dir("badfile");
    std::fs::write(dir.join("in.jsonl"), "{\"text\": \"ok\"}\n{\"text\": 3}\n").unwrap();
    let out = profile(
        &dir,
        &[
            "-m",
            "m",
            "--url",
            &server.url(),
            "--input-file",
            "in.jsonl",
            "--custom-dataset-type",
            "single_turn",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("in.jsonl:2:") && err.contains("\"text\" must be a string"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    std::fs::write(dir.join("empty.jsonl"), "\n").unwrap();
    let out = profile(
        &dir,
        &[
            "-m",
            "m",
            "--url",
            &server.url(),
            "--input-file",
            "empty.jsonl",
        ],
    );
    assert!(stderr(&out).contains("empty.jsonl: no entries"));
}

#[test]
fn bad_flags_are_one_line_errors() {
    let dir = temp_dir("flags");
    for args in [
        &["-m", "m", "--concurrency", "0"][..],
        &["-m", "m", "--request-rate", "0"],
        &["-m", "m", "--endpoint-type", "chat"],
    ] {
        let out = profile(&dir, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(
            stderr(&out).trim().lines().count(),
            1,
            "{args:?}: {}",
            stderr(&out)
        );
    }
    for args in [
        &["-m", "m", "--concurrency", "many"][..],
        &["-m", "m", "--no-such-flag"],
        &["-m", "m", "--concurrency", "1", "--concurrency", "2"],
    ] {
        let out = profile(&dir, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(
            stderr(&out).trim().lines().count(),
            1,
            "{args:?}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn the_main_job_runs_against_the_built_in_mock() {
    let dir = temp_dir("mock");
    let out = profile(
        &dir,
        &["--mock", "--request-count", "200", "--concurrency", "4"],
    );
    assert_success(&out);
    let json = export(&dir.join("artifacts/BAAI_bge-small-en-v1.5-openai-embeddings-concurrency4"));
    assert_eq!(scalar(&json, "request_count"), 200.0);
    assert_eq!(json["run_info"]["mock_server"]["embeddings_ok"], 200);
    assert_eq!(json["input_sequence_length"]["avg"], 548.0);
    // This machine has io_uring; the epoll fallback runs only when asked for.
    let expected = if std::env::var("EMBPERF_DRIVER").is_ok_and(|v| v == "epoll") {
        "epoll"
    } else {
        "io_uring"
    };
    assert_eq!(json["run_info"]["driver"], expected);
}

#[test]
fn comma_lists_run_a_sweep_with_an_aggregate() {
    let server = mock(MockConfig::default());
    let dir = temp_dir("sweep");
    let out = profile(
        &dir,
        &[
            "-m",
            "m",
            "--url",
            &server.url(),
            "--request-rate",
            "200,400",
            "--benchmark-duration",
            "1",
            "--isl",
            "8",
            "--artifact-dir",
            "sweep",
        ],
    );
    assert_success(&out);
    let counts = server.stop();
    let agg = read_json(&dir.join("sweep/sweep_aggregate.json"));
    assert_eq!(agg["sweep_parameter"], "request_rate");
    let runs = agg["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    let mut total = 0.0;
    for (run, rate) in runs.iter().zip([200.0, 400.0]) {
        assert_eq!(run["metrics"]["target_request_rate"]["avg"], rate);
        let one = export(&dir.join(format!("sweep/request_rate{rate:?}")));
        assert_eq!(one["request_count"], run["metrics"]["request_count"]);
        total += scalar(&one, "request_count");
    }
    assert_eq!(total, counts.embeddings_ok as f64);
    let csv = std::fs::read_to_string(dir.join("sweep/sweep_aggregate.csv")).unwrap();
    assert!(
        csv.starts_with("request_rate,req/s,")
            && csv.contains("\n200.0,")
            && csv.contains("\n400.0,"),
        "{csv}"
    );
    let out = profile(&dir, &["-m", "m", "--concurrency", "1,2", "--isl", "8,16"]);
    assert!(stderr(&out).contains("sweep one of"), "{}", stderr(&out));
}

/// The server dies mid-run: the run goes on to its end, counts the failures by class and still
/// writes everything it measured.
#[test]
fn a_server_that_dies_mid_run_loses_no_results() {
    let port = free_port();
    let mut server = spawn_mock_server(port, &["--base-latency-ms", "1"]);
    let dir = temp_dir("dies");
    let child = spawn_profile(
        &dir,
        &[
            "-m",
            "m",
            "--url",
            &format!("127.0.0.1:{port}"),
            "--concurrency",
            "2",
            "--benchmark-duration",
            "2",
            "--isl",
            "8",
            "--artifact-dir",
            "out",
        ],
    );
    std::thread::sleep(Duration::from_millis(800));
    server.kill().unwrap();
    server.wait().unwrap();
    let out = wait_with_timeout(child, Duration::from_secs(30));
    assert_success(&out);
    let json = export(&dir.join("out"));
    assert!(scalar(&json, "request_count") > 50.0);
    let refused = error_count(&json, "connect_refused");
    // Two connections retrying every 10 ms for about 1.2 s: a few hundred, not a flood.
    assert!(refused > 10 && refused < 1000, "{}", json["error_summary"]);
    assert_eq!(json["run_info"]["accounting"]["balanced"], true);
}
