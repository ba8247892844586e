//! One `embperf profile` run, start to finish: target, dataset, engine, metrics, reports.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};

use crate::config::{DatasetSource, RunConfig};
use crate::dataset::tokenizer::TokenizerChoice;
use crate::dataset::{self, Payload, TokenCounter};
use crate::engine::{
    self, EngineConfig, EngineOutcome, Load, Phase, PhaseOutcome, PhaseSpec, Progress,
};
use crate::http::{Endpoint, RequestTemplate};
use crate::mock::{MockConfig, MockServer};
use crate::progress::ProgressLine;
use crate::report::{self, console, Report};
use crate::stats::metrics::{self, Context};
use crate::stats::{ErrorClass, Metrics};

/// Per-request records kept per worker for profile_export.jsonl (about 48 bytes each); past
/// this, requests are only counted, so memory stays bounded in long runs.
const RECORDS_PER_WORKER: usize = 2_000_000;

/// What a finished run hands back to the caller.
pub struct ProfileOutcome {
    pub report: Report,
    /// The console summary, as printed.
    pub console: String,
    /// A problem worth a non-zero exit (interrupt, failed workers, broken accounting).
    pub failure: Option<String>,
}

/// Runs a profile. `Err` is a one-line message for a run that could not start.
pub fn run(config: &RunConfig) -> Result<ProfileOutcome, String> {
    let launched = Instant::now();
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let mut notes = config.notes.clone();

    // The built-in server gets the last core; the client's workers the ones before it.
    let mock = if config.mock {
        let core = cores.last().copied();
        Some(MockServer::start(MockConfig {
            cores: core.into_iter().collect(),
            ..MockConfig::default()
        })?)
    } else {
        None
    };
    let client_cores: Vec<_> = match (&mock, cores.len()) {
        (Some(_), n) if n > 1 => cores[..n - 1].to_vec(),
        _ => cores.clone(),
    };
    let workers = config.workers.unwrap_or(client_cores.len().max(1));
    if workers > client_cores.len().max(1) {
        notes.push(format!("{workers} workers asked for, {} cores available to the client: running anyway, some workers share a core", client_cores.len().max(1)));
    }
    if workers > config.connections {
        notes.push(format!(
            "{workers} workers for {} connections: using {} workers",
            config.connections, config.connections
        ));
    }

    let urls: Vec<String> = match &mock {
        Some(m) => vec![m.url()],
        None => config.urls.clone(),
    };
    let endpoints: Vec<Endpoint> = urls
        .iter()
        .map(|u| Endpoint::parse(u, &config.endpoint_path))
        .collect::<Result<_, _>>()?;

    let (tokens, tokenizer_note) = match (&config.tokenizer, config.mock) {
        (Some(t), _) => TokenCounter::resolve(TokenizerChoice::Explicit(t))?,
        (None, true) => (TokenCounter::builtin(), None),
        (None, false) => TokenCounter::resolve(TokenizerChoice::FromModel(&config.models[0]))?,
    };
    notes.extend(tokenizer_note);
    let dataset_started = Instant::now();
    let payloads = dataset::build(config, &tokens)?;
    let dataset_time = dataset_started.elapsed();

    let templates: Vec<RequestTemplate> = endpoints
        .iter()
        .map(|e| RequestTemplate::new(&e.authority, &e.path, &config.headers))
        .collect();
    let requests: Vec<Vec<Vec<u8>>> = templates
        .iter()
        .map(|t| payloads.iter().map(|p| t.build(&p.body)).collect())
        .collect();
    let mut addrs: Vec<SocketAddr> = Vec::new();
    for (e, reqs) in endpoints.iter().zip(&requests) {
        addrs.push(crate::probe::wait_ready(
            e,
            &e.resolve()?,
            &reqs[0],
            config.wait_for_model,
        )?);
    }

    let dir = &config.artifact_dir;
    std::fs::create_dir_all(dir).map_err(|e| format!("--artifact-dir {}: {e}", dir.display()))?;
    report::write_file(&dir.join("inputs.json"), &report::inputs::render(&payloads))?;

    let phases = phase_specs(config);
    let engine_config = EngineConfig {
        endpoints: addrs,
        requests,
        payload_inputs: payloads.iter().map(|p| p.inputs).collect(),
        workers,
        connections: config.connections,
        cores: client_cores,
        phases: phases.clone(),
        request_timeout: config.request_timeout,
        max_response_bytes: config.max_response_bytes,
        validate_every: config.validate_every,
        seed: config.seed,
        slo: config.slo,
        records_per_worker: if config.export_level.writes_records() {
            RECORDS_PER_WORKER
        } else {
            0
        },
    };
    let progress = Arc::new(Progress::new(workers));
    let line = ProgressLine::start(
        progress.clone(),
        phases
            .iter()
            .map(|p| p.phase.as_str().to_string())
            .collect(),
        phases.iter().map(|p| p.count).collect(),
        config.progress,
    );
    let time_to_first_request = launched.elapsed();
    let outcome = engine::run(engine_config, progress);
    line.finish();
    let mock_counts = mock.map(MockServer::stop);

    let build = ReportInputs {
        config,
        payloads: &payloads,
        tokens: &tokens,
        outcome: &outcome,
        notes,
        dataset_time,
        time_to_first_request,
        mock_counts,
    };
    let (report, failure) = build.report();
    let mut exports = report::write_all(&report, dir, &config.export_prefix)?;
    if config.export_level.writes_records() {
        let path = dir.join(format!("{}.jsonl", config.export_prefix));
        let isl: Vec<u64> = payloads.iter().map(|p| p.isl).collect();
        let phases: Vec<_> = outcome
            .phases
            .iter()
            .map(|p| (p.spec.phase, &p.recorder))
            .collect();
        report::records::write(&path, &phases, outcome.anchor, &isl)?;
        exports.push(path);
    }
    let console = console::render(&report, &exports);
    report::write_file(
        &dir.join(format!("{}_console.txt", config.export_prefix)),
        console.as_bytes(),
    )?;
    Ok(ProfileOutcome {
        report,
        console,
        failure,
    })
}

fn phase_specs(config: &RunConfig) -> Vec<PhaseSpec> {
    let load = match config.arrivals {
        Some(a) => Load::Open(a),
        None => Load::Closed,
    };
    let mut phases = Vec::new();
    if config.warmup_count.is_some() || config.warmup_duration.is_some() {
        phases.push(PhaseSpec {
            phase: Phase::Warmup,
            count: config.warmup_count,
            duration: config.warmup_duration,
            // Warmup drains completely before profiling starts.
            grace: config.request_timeout,
            load,
            concurrency_ramp: None,
        });
    }
    phases.push(PhaseSpec {
        phase: Phase::Profiling,
        count: config.request_count,
        duration: config.duration,
        grace: config.grace,
        load,
        concurrency_ramp: config.concurrency_ramp,
    });
    phases
}

struct ReportInputs<'a> {
    config: &'a RunConfig,
    payloads: &'a [Payload],
    tokens: &'a TokenCounter,
    outcome: &'a EngineOutcome,
    notes: Vec<String>,
    dataset_time: Duration,
    time_to_first_request: Duration,
    mock_counts: Option<crate::mock::MockCounts>,
}

impl ReportInputs<'_> {
    fn metrics(&self, phase: &PhaseOutcome) -> Metrics {
        let isl: Vec<u64> = self.payloads.iter().map(|p| p.isl).collect();
        let inputs: Vec<u32> = self.payloads.iter().map(|p| p.inputs).collect();
        let cpu: f64 = phase
            .worker_cpu
            .iter()
            .map(|c| c.total().as_secs_f64())
            .sum();
        metrics::compute(
            &phase.recorder,
            &Context {
                isl: &isl,
                inputs: &inputs,
                target_rate: self.config.arrivals.map(|a| a.rate),
                client_cpu_secs: cpu,
            },
        )
    }

    fn report(self) -> (Report, Option<String>) {
        let c = self.config;
        let o = self.outcome;
        let profiling = o.phase(Phase::Profiling);
        let empty = Metrics::default();
        let metrics = profiling.map_or(empty, |p| self.metrics(p));
        let warmup = o.phase(Phase::Warmup).map(|p| self.metrics(p));
        let rec = profiling.map(|p| &p.recorder);
        let mut warnings = self.notes.clone();
        let mut failure = None;
        if o.interrupted {
            failure = Some("interrupted: artifacts hold what was measured until then".to_string());
        }
        if !o.worker_failures.is_empty() {
            let msg = format!("worker failures: {}", o.worker_failures.join("; "));
            warnings.push(msg.clone());
            failure = failure.or(Some(msg));
        }
        // Every request sent is accounted exactly once: sent = succeeded + failed (incl. cancelled).
        let accounting = rec.map(|r| {
            (
                r.sent,
                r.succeeded,
                r.failed(),
                r.errors.count(ErrorClass::Cancelled),
            )
        });
        if let Some((sent, ok, failed, _)) = accounting {
            if sent != ok + failed {
                let msg =
                    format!("ACCOUNTING BUG: sent {sent} != succeeded {ok} + failed {failed}");
                eprintln!("embperf: {msg}");
                warnings.push(msg.clone());
                failure = failure.or(Some(msg));
            }
        }
        if let Some(p) = profiling {
            warnings.extend(trust_warnings(c, p, &metrics));
        }
        let was_cancelled = o.interrupted;
        let started = profiling.map_or(SystemTime::now(), |p| p.started);
        let window = rec.and_then(|r| r.window()).unwrap_or_default();
        let cpu_rows: Vec<Value> = profiling.map_or(Vec::new(), |p| {
            p.worker_cpu
                .iter()
                .enumerate()
                .map(|(i, cpu)| {
                    let util = if window.is_zero() { 0.0 } else { cpu.total().as_secs_f64() / window.as_secs_f64() };
                    json!({"worker": i, "user_sec": cpu.user.as_secs_f64(), "sys_sec": cpu.system.as_secs_f64(), "utilization": util})
                })
                .collect()
        });
        let run_info = json!({
            "command": c.command_line,
            "driver": o.driver.as_str(),
            "workers": o.workers,
            "connections": c.connections,
            "cores_available": core_affinity::get_core_ids().map_or(0, |v| v.len()),
            "mock_server": self.mock_counts,
            "tokenizer": self.tokens.source,
            "dataset_build_ms": self.dataset_time.as_secs_f64() * 1e3,
            "time_to_first_request_ms": self.time_to_first_request.as_secs_f64() * 1e3,
            "client_cpu_per_worker": cpu_rows,
            "validated_responses": rec.map_or(0, |r| r.validated),
            "validate_every": c.validate_every,
            "response_bytes": rec.map_or(0, |r| r.response_bytes),
            "accounting": accounting.map(|(sent, ok, failed, cancelled)| json!({"sent": sent, "succeeded": ok, "failed": failed, "cancelled": cancelled, "balanced": sent == ok + failed})),
        });
        let report = Report {
            benchmark_id: benchmark_id(),
            metrics,
            warmup,
            errors: rec.map_or(Vec::new(), |r| r.errors.rows()),
            input_config: input_config(c),
            run_info,
            was_cancelled,
            start_time: started,
            end_time: started + window,
            warnings,
        };
        (report, failure)
    }
}

/// Honest warnings about whether the run's own numbers can be trusted.
fn trust_warnings(c: &RunConfig, p: &PhaseOutcome, m: &Metrics) -> Vec<String> {
    let mut w = Vec::new();
    let r = &p.recorder;
    if let (Some(target), Some(achieved)) = (
        m.scalar("target_request_rate"),
        m.scalar("achieved_request_rate"),
    ) {
        if achieved < 0.99 * target {
            w.push(format!("achieved {achieved:.1} req/s of the {target:.1} targeted: the schedule fell behind (see late sends and credit_to_start_latency)"));
        }
    }
    if r.late_sends > 0 {
        w.push(format!("{} of {} sends found no free connection at their intended time; effective_latency includes their wait", r.late_sends, r.sent));
    }
    if r.records_dropped > 0 {
        w.push(format!(
            "the per-request export holds the first {} requests of each worker; {} more were only counted (use --export-level summary for long runs)",
            RECORDS_PER_WORKER, r.records_dropped
        ));
    }
    if r.unsent > 0 {
        w.push(format!(
            "{} scheduled requests were never sent before the run stopped",
            r.unsent
        ));
    }
    if p.cancelled_at_grace > 0 {
        w.push(format!(
            "{} requests still in flight after the {}s grace period were cancelled (code 499)",
            p.cancelled_at_grace,
            c.grace.as_secs_f64()
        ));
    }
    if let Some(window) = r.window().filter(|w| !w.is_zero()) {
        for (i, cpu) in p.worker_cpu.iter().enumerate() {
            let util = cpu.total().as_secs_f64() / window.as_secs_f64();
            if util > 0.9 {
                w.push(format!("client worker {i} was busy {:.0}% of the run: the client may be the bottleneck (add --workers or cores)", util * 100.0));
            }
        }
    }
    w
}

fn input_config(c: &RunConfig) -> Value {
    let input = match &c.dataset {
        DatasetSource::Synthetic {
            isl_mean,
            isl_stddev,
        } => {
            json!({"synthetic_input_tokens_mean": isl_mean, "synthetic_input_tokens_stddev": isl_stddev})
        }
        DatasetSource::File { path, kind } => {
            json!({"file": path.display().to_string(), "custom_dataset_type": format!("{kind:?}")})
        }
    };
    json!({
        "endpoint": {
            "model_names": c.models,
            "type": "embeddings",
            "urls": c.urls,
            "custom_endpoint": c.endpoint_path,
            "timeout_seconds": c.request_timeout.as_secs_f64(),
        },
        "loadgen": {
            "concurrency": c.concurrency,
            "request_rate": c.arrivals.map(|a| a.rate),
            "arrival_pattern": c.arrivals.map(|a| format!("{:?}", a.pattern).to_lowercase()),
            "request_count": c.request_count,
            "benchmark_duration": c.duration.map(|d| d.as_secs_f64()),
            "benchmark_grace_period": c.grace.as_secs_f64(),
            "warmup_request_count": c.warmup_count,
            "warmup_duration": c.warmup_duration.map(|d| d.as_secs_f64()),
        },
        "input": {
            "dataset": input,
            "batch_size": c.batch_size,
            "num_dataset_entries": c.dataset_entries,
            "random_seed": c.seed,
            "extra_inputs": c.extra_inputs,
        },
        "output": {
            "artifact_directory": c.artifact_dir.display().to_string(),
            "export_level": format!("{:?}", c.export_level).to_lowercase(),
        },
    })
}

/// Unique enough to tell runs apart: time and process id, in hex.
fn benchmark_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!("{:016x}-{:08x}", nanos as u64, std::process::id())
}
