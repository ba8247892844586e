//! `RunConfig`: the profile flags, validated once. Every problem is a one-line message that
//! names the flag.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::cli::{ProfileArgs, ValueList};
use crate::dataset::synthetic::SyntheticSpec;
use crate::engine::{Arrivals, Pattern};
use crate::http::Endpoint;
use crate::stats::Slo;

pub const DEFAULT_MODEL: &str = "BAAI/bge-small-en-v1.5";
/// AIPerf's default request count (its help text says otherwise; its code uses 10).
const DEFAULT_REQUEST_COUNT: u64 = 10;
const DEFAULT_DATASET_ENTRIES: usize = 100;
/// AIPerf makes one payload per request when a count is given; past this many, payloads are
/// cycled instead (tokenizing millions of texts would dominate start-up).
const MAX_IMPLICIT_DATASET_ENTRIES: u64 = 1000;
/// Open-loop connections when --concurrency does not cap them.
const DEFAULT_OPEN_LOOP_CONNECTIONS: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    SingleTurn,
    RandomPool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum DatasetSource {
    Synthetic { isl_mean: f64, isl_stddev: f64 },
    File { path: PathBuf, kind: FileKind },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportLevel {
    Summary,
    Records,
    Raw,
}

impl ExportLevel {
    /// Whether `profile_export.jsonl` is written (records and raw; embperf has no raw bodies
    /// to add, so raw writes the same records).
    pub fn writes_records(self) -> bool {
        !matches!(self, ExportLevel::Summary)
    }
}

#[derive(Debug, Clone)]
pub struct RunConfig {
    pub models: Vec<String>,
    /// Empty with `--mock`: the mock server's URL is filled in when it starts.
    pub urls: Vec<String>,
    pub endpoint_path: String,
    pub headers: Vec<(String, String)>,
    pub request_timeout: Duration,
    /// Closed-loop concurrency, or the in-flight cap of an open-loop run.
    pub concurrency: Option<usize>,
    /// `None`: closed loop.
    pub arrivals: Option<Arrivals>,
    pub connections: usize,
    pub request_count: Option<u64>,
    pub duration: Option<Duration>,
    pub grace: Duration,
    pub warmup_count: Option<u64>,
    pub warmup_duration: Option<Duration>,
    pub concurrency_ramp: Option<Duration>,
    pub dataset: DatasetSource,
    pub batch_size: usize,
    pub dataset_entries: usize,
    pub seed: u64,
    pub tokenizer: Option<String>,
    pub extra_inputs: Map<String, Value>,
    pub artifact_dir: PathBuf,
    pub export_prefix: String,
    pub export_level: ExportLevel,
    pub slo: Slo,
    pub mock: bool,
    pub workers: Option<usize>,
    pub validate_every: u64,
    pub max_response_bytes: u64,
    pub wait_for_model: Option<Duration>,
    pub progress: bool,
    /// Notes for the user about accepted-but-ignored flags and adjustments.
    pub notes: Vec<String>,
    /// The command line, with the API key redacted.
    pub command_line: String,
}

fn seconds(flag: &str, v: f64, allow_zero: bool) -> Result<Duration, String> {
    if !v.is_finite() || v < 0.0 || (!allow_zero && v == 0.0) {
        let want = if allow_zero { "≥ 0" } else { "> 0" };
        return Err(format!("{flag} {v}: must be a number of seconds {want}"));
    }
    Ok(Duration::from_secs_f64(v))
}

impl RunConfig {
    /// Configures one run from flags whose lists hold one value each (see `plan`).
    pub fn from_args(a: &ProfileArgs, argv: &[String]) -> Result<RunConfig, String> {
        let mut notes = Vec::new();
        let concurrency_arg = a.concurrency.as_ref().map(ValueList::first);
        let rate_arg = a.request_rate.as_ref().map(ValueList::first);
        let isl_arg = a.isl.first();
        if a.endpoint_type != "embeddings" {
            return Err(format!("--endpoint-type {}: embperf only profiles embeddings endpoints (use --endpoint-type embeddings)", a.endpoint_type));
        }
        let models: Vec<String> = match &a.model {
            Some(m) => m
                .split(',')
                .map(str::trim)
                .filter(|m| !m.is_empty())
                .map(String::from)
                .collect(),
            None if a.mock => vec![DEFAULT_MODEL.to_string()],
            None => {
                return Err("-m/--model is required (e.g. --model BAAI/bge-small-en-v1.5)".into())
            }
        };
        if models.is_empty() {
            return Err("-m/--model: no model name given".into());
        }
        let urls = if a.mock { Vec::new() } else { a.url.clone() };
        for url in &urls {
            Endpoint::parse(url, &a.endpoint)?;
        }
        let request_timeout = seconds(
            "--request-timeout-seconds",
            a.request_timeout_seconds,
            false,
        )?;
        let mut headers = Vec::new();
        if let Some(key) = &a.api_key {
            headers.push(("Authorization".to_string(), format!("Bearer {key}")));
        }
        for h in &a.header {
            let (name, value) = h
                .split_once(':')
                .ok_or_else(|| format!("-H {h}: expected Name:Value"))?;
            let name = name.trim();
            if name.is_empty() || name.bytes().any(|b| !(b.is_ascii_graphic()) || b == b':') {
                return Err(format!("-H {h}: invalid header name"));
            }
            if value.bytes().any(|b| b == b'\r' || b == b'\n') {
                return Err(format!("-H {h}: header values cannot contain line breaks"));
            }
            headers.push((name.to_string(), value.trim().to_string()));
        }
        if a.streaming {
            notes.push("--streaming has no meaning for embeddings; ignored".into());
        }
        for (flag, given) in [
            ("--ui-type", a.ui_type.is_some()),
            ("--workers-max", a.workers_max.is_some()),
            ("--record-processors", a.record_processors.is_some()),
            ("--no-server-metrics", a.no_server_metrics),
            ("--no-gpu-telemetry", a.no_gpu_telemetry),
        ] {
            if given {
                notes.push(format!(
                    "{flag} is accepted for AIPerf compatibility and ignored"
                ));
            }
        }

        // Load.
        if concurrency_arg == Some(0) {
            return Err("--concurrency 0: must be at least 1".into());
        }
        let pattern = match a.arrival_pattern.replace('_', "-").as_str() {
            "constant" => Some(Pattern::Constant),
            "poisson" => Some(Pattern::Poisson),
            "gamma" => {
                let shape = a.arrival_smoothness.unwrap_or(1.0);
                if !(shape.is_finite() && shape > 0.0) {
                    return Err(format!("--arrival-smoothness {shape}: must be > 0"));
                }
                Some(Pattern::Gamma(shape))
            }
            "concurrency-burst" => None,
            other => {
                return Err(format!(
                "--arrival-pattern {other}: expected constant, poisson, gamma or concurrency-burst"
            ))
            }
        };
        if a.arrival_smoothness.is_some() && !matches!(pattern, Some(Pattern::Gamma(_))) {
            notes.push(
                "--arrival-smoothness only applies to --arrival-pattern gamma; ignored".into(),
            );
        }
        let ramp = a
            .request_rate_ramp_duration
            .map(|s| seconds("--request-rate-ramp-duration", s, false))
            .transpose()?;
        let arrivals = match (rate_arg, pattern) {
            (Some(r), _) if !(r.is_finite() && r > 0.0) => {
                return Err(format!("--request-rate {r}: must be > 0"))
            }
            (Some(_), None) => {
                if concurrency_arg.is_none() {
                    return Err("--arrival-pattern concurrency-burst sends as fast as --concurrency allows: give --concurrency".into());
                }
                notes.push("--arrival-pattern concurrency-burst: --request-rate ignored, sending as fast as --concurrency allows".into());
                None
            }
            (Some(rate), Some(pattern)) => Some(Arrivals {
                rate,
                pattern,
                ramp,
            }),
            (None, _) => None,
        };
        if ramp.is_some() && arrivals.is_none() {
            notes.push("--request-rate-ramp-duration needs --request-rate; ignored".into());
        }
        let concurrency = match (concurrency_arg, arrivals) {
            (None, None) => Some(1),
            (c, _) => c,
        };
        if a.connections == Some(0) {
            return Err("--connections 0: must be at least 1".into());
        }
        let connections = match (concurrency, arrivals) {
            (Some(c), _) => {
                if a.connections.is_some_and(|n| n != c) {
                    notes.push(format!(
                        "--connections ignored: --concurrency {c} sets the connection count"
                    ));
                }
                c
            }
            (None, _) => a.connections.unwrap_or(DEFAULT_OPEN_LOOP_CONNECTIONS),
        };
        let duration = a
            .benchmark_duration
            .map(|s| seconds("--benchmark-duration", s, false))
            .transpose()?;
        let request_count = match (a.request_count, duration) {
            (Some(0), None) => {
                return Err(
                    "--request-count 0 with no --benchmark-duration: nothing to send".into(),
                )
            }
            (Some(0), Some(_)) => None,
            (Some(n), _) => Some(n),
            (None, None) => Some(DEFAULT_REQUEST_COUNT),
            (None, Some(_)) => None,
        };
        let grace = seconds("--benchmark-grace-period", a.benchmark_grace_period, true)?;
        let warmup_count = a.warmup_request_count.filter(|&n| n > 0);
        let warmup_duration = a
            .warmup_duration
            .map(|s| seconds("--warmup-duration", s, true))
            .transpose()?
            .filter(|d| !d.is_zero());
        let concurrency_ramp = a
            .concurrency_ramp_duration
            .map(|s| seconds("--concurrency-ramp-duration", s, true))
            .transpose()?;

        // Dataset.
        if a.batch_size == 0 {
            return Err("--batch-size 0: must be at least 1".into());
        }
        let kind = match a
            .custom_dataset_type
            .as_deref()
            .map(|k| k.replace('-', "_"))
        {
            None => None,
            Some(k) if k == "single_turn" => Some(FileKind::SingleTurn),
            Some(k) if k == "random_pool" => Some(FileKind::RandomPool),
            Some(k) => {
                return Err(format!(
                    "--custom-dataset-type {k}: expected single_turn or random_pool"
                ))
            }
        };
        let dataset = match (&a.input_file, kind) {
            (Some(path), kind) => {
                let kind = kind.unwrap_or(FileKind::SingleTurn);
                if kind == FileKind::SingleTurn && a.batch_size > 1 {
                    return Err("--batch-size with --input-file needs --custom-dataset-type random_pool (single_turn sends each line as one request; put a batch in \"texts\")".into());
                }
                if !path.exists() {
                    return Err(format!(
                        "--input-file {}: no such file or directory",
                        path.display()
                    ));
                }
                DatasetSource::File {
                    path: path.clone(),
                    kind,
                }
            }
            (None, Some(_)) => return Err("--custom-dataset-type needs --input-file".into()),
            (None, None) => {
                if !(isl_arg.is_finite() && isl_arg >= 1.0) {
                    return Err(format!(
                        "--synthetic-input-tokens-mean {}: must be at least 1",
                        isl_arg
                    ));
                }
                if !(a.isl_stddev.is_finite() && a.isl_stddev >= 0.0) {
                    return Err(format!(
                        "--synthetic-input-tokens-stddev {}: must be ≥ 0",
                        a.isl_stddev
                    ));
                }
                DatasetSource::Synthetic {
                    isl_mean: isl_arg,
                    isl_stddev: a.isl_stddev,
                }
            }
        };
        let dataset_entries = match (a.num_dataset_entries, a.request_count) {
            (Some(0), _) => return Err("--num-dataset-entries 0: must be at least 1".into()),
            (Some(n), _) => n,
            (None, Some(n)) if n > MAX_IMPLICIT_DATASET_ENTRIES => {
                notes.push(format!("using {MAX_IMPLICIT_DATASET_ENTRIES} unique payloads for {n} requests (cycled); --num-dataset-entries sets more"));
                MAX_IMPLICIT_DATASET_ENTRIES as usize
            }
            (None, Some(n)) if n > 0 => n as usize,
            _ => DEFAULT_DATASET_ENTRIES,
        };
        let extra_inputs = parse_extra_inputs(&a.extra_inputs)?;

        // Output.
        let export_level = match a.export_level.as_str() {
            "summary" => ExportLevel::Summary,
            "records" => ExportLevel::Records,
            "raw" => ExportLevel::Raw,
            other => {
                return Err(format!(
                    "--export-level {other}: expected summary, records or raw"
                ))
            }
        };
        let artifact_dir = match &a.artifact_dir {
            Some(dir) => dir.clone(),
            None => PathBuf::from("artifacts").join(auto_dir_name(
                &models[0],
                concurrency.filter(|_| concurrency_arg.is_some() || arrivals.is_none()),
                arrivals.map(|a| a.rate),
            )),
        };
        let export_prefix = a
            .profile_export_prefix
            .clone()
            .unwrap_or_else(|| "profile_export".into());
        if export_prefix.is_empty() || export_prefix.contains('/') {
            return Err(format!(
                "--profile-export-prefix {export_prefix}: must be a plain file name"
            ));
        }
        let slo = match &a.goodput {
            Some(spec) => parse_goodput(spec)?,
            None => Slo::default(),
        };

        if a.workers == Some(0) {
            return Err("--workers 0: must be at least 1".into());
        }
        if a.max_response_bytes == 0 {
            return Err("--max-response-bytes 0: must be at least 1".into());
        }
        let wait_for_model = a
            .wait_for_model_timeout
            .map(|s| seconds("--wait-for-model-timeout", s, true))
            .transpose()?;

        Ok(RunConfig {
            models,
            urls,
            endpoint_path: a.endpoint.clone(),
            headers,
            request_timeout,
            concurrency,
            arrivals,
            connections,
            request_count,
            duration,
            grace,
            warmup_count,
            warmup_duration,
            concurrency_ramp,
            dataset,
            batch_size: a.batch_size,
            dataset_entries,
            seed: a.random_seed.unwrap_or(0),
            tokenizer: a.tokenizer.clone(),
            extra_inputs,
            artifact_dir,
            export_prefix,
            export_level,
            slo,
            mock: a.mock,
            workers: a.workers,
            validate_every: a.validate_every,
            max_response_bytes: a.max_response_bytes,
            wait_for_model,
            progress: !a.no_progress,
            notes,
            command_line: redact(argv),
        })
    }

    pub fn synthetic_spec(&self) -> Option<SyntheticSpec> {
        match self.dataset {
            DatasetSource::Synthetic {
                isl_mean,
                isl_stddev,
            } => Some(SyntheticSpec {
                isl_mean,
                isl_stddev,
                batch: self.batch_size,
                entries: self.dataset_entries,
                seed: self.seed,
            }),
            DatasetSource::File { .. } => None,
        }
    }
}

/// A sweep: the parameter that varies, its values, and where the aggregate goes.
#[derive(Debug, Clone, PartialEq)]
pub struct Sweep {
    /// AIPerf's name for the parameter, e.g. `concurrency`.
    pub param: &'static str,
    pub values: Vec<String>,
    pub dir: PathBuf,
}

/// Expands comma lists (`--concurrency 1,4,16`, `--request-rate`, `--isl`) into one run each.
/// Only one parameter may vary; each run writes into `<dir>/<param><value>/`.
pub fn plan(a: &ProfileArgs, argv: &[String]) -> Result<(Vec<RunConfig>, Option<Sweep>), String> {
    let lengths = [
        (
            "concurrency",
            a.concurrency.as_ref().map_or(1, |l| l.0.len()),
        ),
        (
            "request_rate",
            a.request_rate.as_ref().map_or(1, |l| l.0.len()),
        ),
        ("isl", a.isl.0.len()),
    ];
    let varying: Vec<(&'static str, usize)> = lengths.into_iter().filter(|(_, n)| *n > 1).collect();
    let (param, n) = match varying.as_slice() {
        [] => return Ok((vec![RunConfig::from_args(a, argv)?], None)),
        [one] => *one,
        _ => return Err("sweep one of --concurrency, --request-rate, --isl at a time (several have comma lists)".into()),
    };
    let model = a
        .model
        .as_deref()
        .unwrap_or(DEFAULT_MODEL)
        .split(',')
        .next()
        .unwrap_or(DEFAULT_MODEL)
        .trim()
        .replace('/', "_");
    let dir = a.artifact_dir.clone().unwrap_or_else(|| {
        PathBuf::from("artifacts").join(format!("{model}-openai-embeddings-sweep_{param}"))
    });
    let mut configs = Vec::with_capacity(n);
    let mut values = Vec::with_capacity(n);
    for i in 0..n {
        let mut one = a.clone();
        let value = match param {
            "concurrency" => {
                let v = a.concurrency.as_ref().expect("varying").0[i];
                one.concurrency = Some(ValueList(vec![v]));
                v.to_string()
            }
            "request_rate" => {
                let v = a.request_rate.as_ref().expect("varying").0[i];
                one.request_rate = Some(ValueList(vec![v]));
                format!("{v:?}")
            }
            _ => {
                let v = a.isl.0[i];
                one.isl = ValueList(vec![v]);
                format!("{v}")
            }
        };
        one.artifact_dir = Some(dir.join(format!("{param}{value}")));
        configs.push(RunConfig::from_args(&one, argv)?);
        values.push(value);
    }
    Ok((configs, Some(Sweep { param, values, dir })))
}

/// AIPerf's directory naming: `<model, / → _>-openai-embeddings-concurrency<N>`,
/// `-request_rate<R>` or both.
fn auto_dir_name(model: &str, concurrency: Option<usize>, rate: Option<f64>) -> String {
    let mut name = format!("{}-openai-embeddings", model.replace('/', "_"));
    if let Some(c) = concurrency {
        name.push_str(&format!("-concurrency{c}"));
    }
    if let Some(r) = rate {
        name.push_str(&format!("-request_rate{r:?}"));
    }
    name
}

/// `key:value` pairs (values parsed as JSON when they parse, else strings), or JSON objects.
fn parse_extra_inputs(items: &[String]) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    for item in items {
        let trimmed = item.trim();
        if trimmed.starts_with('{') {
            match serde_json::from_str::<Value>(trimmed) {
                Ok(Value::Object(m)) => out.extend(m),
                _ => return Err(format!("--extra-inputs {item}: not a JSON object")),
            }
            continue;
        }
        let (k, v) = trimmed
            .split_once(':')
            .ok_or_else(|| format!("--extra-inputs {item}: expected key:value or a JSON object"))?;
        if k.is_empty() {
            return Err(format!("--extra-inputs {item}: empty key"));
        }
        let value = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_string()));
        out.insert(k.to_string(), value);
    }
    Ok(out)
}

/// `request_latency:250 effective_latency:400` (ms), space- or comma-separated.
fn parse_goodput(spec: &str) -> Result<Slo, String> {
    let mut slo = Slo::default();
    for part in spec.split([' ', ',']).filter(|p| !p.is_empty()) {
        let (tag, ms) = part
            .split_once(':')
            .ok_or_else(|| format!("--goodput {part}: expected metric:milliseconds"))?;
        let ms: f64 = ms
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite() && *v > 0.0)
            .ok_or_else(|| format!("--goodput {part}: threshold must be a number of ms > 0"))?;
        let ns = (ms * 1e6) as u64;
        match tag {
            "request_latency" => slo.request_latency_ns = ns,
            "effective_latency" => slo.effective_latency_ns = ns,
            other => {
                return Err(format!(
                    "--goodput {other}: embeddings support request_latency and effective_latency"
                ))
            }
        }
    }
    if !slo.is_set() {
        return Err("--goodput: no threshold given".into());
    }
    Ok(slo)
}

fn redact(argv: &[String]) -> String {
    let mut out = Vec::with_capacity(argv.len());
    let mut hide_next = false;
    for arg in argv {
        if hide_next {
            out.push("<redacted>".to_string());
            hide_next = false;
        } else if arg == "--api-key" {
            out.push(arg.clone());
            hide_next = true;
        } else if arg.starts_with("--api-key=") {
            out.push("--api-key=<redacted>".into());
        } else if arg.to_ascii_lowercase().starts_with("authorization:") {
            out.push("Authorization: <redacted>".into());
        } else {
            out.push(arg.clone());
        }
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn config(args: &str) -> Result<RunConfig, String> {
        let argv: Vec<String> = format!("embperf profile {args}")
            .split_whitespace()
            .map(String::from)
            .collect();
        let cli = Cli::try_parse_from(&argv).map_err(|e| e.to_string())?;
        let Command::Profile(p) = cli.command else {
            unreachable!()
        };
        RunConfig::from_args(&p, &argv)
    }

    #[test]
    fn defaults_match_aiperf() {
        let c = config("-m org/model").unwrap();
        assert_eq!(
            (c.concurrency, c.request_count, c.arrivals),
            (Some(1), Some(10), None)
        );
        assert_eq!(
            c.artifact_dir,
            PathBuf::from("artifacts/org_model-openai-embeddings-concurrency1")
        );
        assert_eq!(c.urls, vec!["http://localhost:8000"]);
        let c = config("-m m --request-rate 100").unwrap();
        assert_eq!(
            c.artifact_dir,
            PathBuf::from("artifacts/m-openai-embeddings-request_rate100.0")
        );
        let c = config("-m m --request-rate 100 --concurrency 4").unwrap();
        assert_eq!(
            c.artifact_dir,
            PathBuf::from("artifacts/m-openai-embeddings-concurrency4-request_rate100.0")
        );
        assert_eq!(c.arrivals.unwrap().pattern, Pattern::Poisson);
        let c = config("-m m --benchmark-duration 5").unwrap();
        assert_eq!(c.request_count, None);
    }

    #[test]
    fn nonsense_is_a_one_line_error_naming_the_flag() {
        let cases = [
            ("--concurrency 1", "-m/--model"),
            ("-m m --endpoint-type chat", "--endpoint-type chat"),
            ("-m m --concurrency 0", "--concurrency 0"),
            ("-m m --request-rate 0", "--request-rate 0"),
            ("-m m --request-rate=-5", "--request-rate -5"),
            (
                "-m m --request-rate 5 --arrival-pattern weibull",
                "--arrival-pattern weibull",
            ),
            ("-m m --request-count 0", "--request-count 0"),
            ("-m m --benchmark-duration 0", "--benchmark-duration 0"),
            (
                "-m m --request-timeout-seconds 0",
                "--request-timeout-seconds 0",
            ),
            (
                "-m m --input-file /nonexistent/x.jsonl",
                "--input-file /nonexistent/x.jsonl",
            ),
            (
                "-m m --custom-dataset-type single_turn",
                "--custom-dataset-type needs --input-file",
            ),
            (
                "-m m --input-file /etc/hostname --custom-dataset-type multi_turn",
                "--custom-dataset-type multi_turn",
            ),
            ("-m m -H NoColon", "-H NoColon"),
            ("-m m --extra-inputs novalue", "--extra-inputs novalue"),
            ("-m m --goodput ttft:5", "--goodput ttft"),
            ("-m m --batch-size 0", "--batch-size 0"),
            ("-m m --workers 0", "--workers 0"),
            (
                "-m m --export-level everything",
                "--export-level everything",
            ),
            ("-m m --isl 0", "--synthetic-input-tokens-mean 0"),
            (
                "-m m --request-rate 5 --arrival-pattern gamma --arrival-smoothness 0",
                "--arrival-smoothness 0",
            ),
        ];
        for (args, want) in cases {
            let err = config(args).unwrap_err();
            assert!(err.contains(want), "{args}: {err}");
            assert!(!err.trim_end().contains('\n'), "{args}: multi-line error");
        }
    }

    #[test]
    fn headers_extras_and_redaction() {
        let c = config("-m m -H X-Test:1 --api-key sekrit --extra-inputs dimensions:64 --extra-inputs encoding_format:float").unwrap();
        assert!(c.headers.contains(&("X-Test".into(), "1".into())));
        assert!(c
            .headers
            .contains(&("Authorization".into(), "Bearer sekrit".into())));
        assert_eq!(c.extra_inputs["dimensions"], 64);
        assert_eq!(c.extra_inputs["encoding_format"], "float");
        assert!(!c.command_line.contains("sekrit"));
        let c = config("-m m --goodput request_latency:250").unwrap();
        assert_eq!(c.slo.request_latency_ns, 250_000_000);
    }
}
