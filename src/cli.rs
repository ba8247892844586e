//! Command-line definitions. `profile` takes AIPerf's flag names and aliases
//! (`aiperf profile --endpoint-type embeddings`), plus embperf's own flags, grouped at the end.

use std::path::PathBuf;
use std::str::FromStr;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "embperf",
    version,
    about = "Load generator for OpenAI-compatible embedding servers (AIPerf-compatible CLI)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Profile an embeddings endpoint (drop-in for `aiperf profile --endpoint-type embeddings`).
    Profile(Box<ProfileArgs>),
    /// Run the built-in mock embeddings server until interrupted.
    MockServer(MockServerArgs),
}

#[derive(Debug, Args, Clone)]
pub struct ProfileArgs {
    // ---- Endpoint ----
    /// Model name(s); a comma list is used round-robin.
    #[arg(
        short = 'm',
        long = "model",
        visible_alias = "model-names",
        value_name = "NAME"
    )]
    pub model: Option<String>,
    /// Server URL (scheme optional); repeat for round-robin over several servers.
    #[arg(short = 'u', long = "url", default_value = "http://localhost:8000")]
    pub url: Vec<String>,
    /// Only `embeddings` is supported.
    #[arg(long = "endpoint-type", default_value = "embeddings")]
    pub endpoint_type: String,
    /// Endpoint path, appended to the URL.
    #[arg(
        long = "endpoint",
        visible_alias = "custom-endpoint",
        default_value = "/v1/embeddings"
    )]
    pub endpoint: String,
    /// Per-request timeout; a request taking longer is an error and its connection is closed.
    #[arg(long = "request-timeout-seconds", default_value_t = 21600.0)]
    pub request_timeout_seconds: f64,
    /// Sent as `Authorization: Bearer KEY`.
    #[arg(long = "api-key")]
    pub api_key: Option<String>,
    /// Extra header `Name:Value` (repeatable).
    #[arg(short = 'H', long = "header", value_name = "NAME:VALUE")]
    pub header: Vec<String>,
    /// Meaningless for embeddings: accepted and ignored.
    #[arg(long = "streaming")]
    pub streaming: bool,

    // ---- Load ----
    /// Requests in flight (closed loop), or the in-flight cap with --request-rate. A comma
    /// list (`1,4,16`) runs a sweep.
    #[arg(long = "concurrency")]
    pub concurrency: Option<ValueList<usize>>,
    /// Target requests per second (open loop). A comma list runs a sweep.
    #[arg(long = "request-rate")]
    pub request_rate: Option<ValueList<f64>>,
    /// constant | poisson | gamma | concurrency-burst.
    #[arg(
        long = "arrival-pattern",
        visible_alias = "request-rate-mode",
        default_value = "poisson"
    )]
    pub arrival_pattern: String,
    /// Gamma shape for --arrival-pattern gamma (< 1 burstier, > 1 smoother).
    #[arg(long = "arrival-smoothness")]
    pub arrival_smoothness: Option<f64>,
    /// Requests to send (default 10 when no duration is given).
    #[arg(long = "request-count", visible_alias = "num-requests")]
    pub request_count: Option<u64>,
    /// Stop issuing after this many seconds.
    #[arg(long = "benchmark-duration")]
    pub benchmark_duration: Option<f64>,
    /// After --benchmark-duration, in-flight requests may finish within this long; the rest are cancelled (499).
    #[arg(long = "benchmark-grace-period", default_value_t = 30.0)]
    pub benchmark_grace_period: f64,
    /// Requests in a warmup phase, excluded from the main metrics.
    #[arg(long = "warmup-request-count")]
    pub warmup_request_count: Option<u64>,
    /// Seconds of warmup, excluded from the main metrics.
    #[arg(long = "warmup-duration")]
    pub warmup_duration: Option<f64>,
    /// Start connections one by one over this many seconds.
    #[arg(long = "concurrency-ramp-duration")]
    pub concurrency_ramp_duration: Option<f64>,
    /// Raise the request rate linearly from 0 over this many seconds.
    #[arg(long = "request-rate-ramp-duration")]
    pub request_rate_ramp_duration: Option<f64>,

    // ---- Dataset ----
    /// JSONL file (or directory of files) of {"text": ...} / {"texts": [...]} lines.
    #[arg(long = "input-file")]
    pub input_file: Option<PathBuf>,
    /// single_turn | random_pool (dashed spellings accepted).
    #[arg(long = "custom-dataset-type")]
    pub custom_dataset_type: Option<String>,
    /// Synthetic input tokens per text, as the server counts them (special tokens included).
    /// A comma list runs a sweep.
    #[arg(
        long = "synthetic-input-tokens-mean",
        visible_alias = "isl",
        default_value = "550"
    )]
    pub isl: ValueList<f64>,
    #[arg(
        long = "synthetic-input-tokens-stddev",
        visible_alias = "isl-stddev",
        default_value_t = 0.0
    )]
    pub isl_stddev: f64,
    /// Texts per request.
    #[arg(short = 'b', long = "batch-size", visible_aliases = ["batch-size-text", "prompt-batch-size"], default_value_t = 1)]
    pub batch_size: usize,
    /// Unique payloads (default 100, or the request count when given).
    #[arg(long = "num-dataset-entries", visible_alias = "num-prompts")]
    pub num_dataset_entries: Option<usize>,
    #[arg(long = "random-seed")]
    pub random_seed: Option<u64>,
    /// tokenizer.json, a directory holding one, a Hugging Face id in the local cache, or `builtin`.
    #[arg(long = "tokenizer")]
    pub tokenizer: Option<String>,
    /// `key:value` (repeatable) or one JSON object, merged into every request body.
    #[arg(long = "extra-inputs")]
    pub extra_inputs: Vec<String>,

    // ---- Output ----
    /// Output directory (default: an auto-named directory under `artifacts/`).
    #[arg(long = "artifact-dir", visible_alias = "output-artifact-dir")]
    pub artifact_dir: Option<PathBuf>,
    /// Base name of the export files.
    #[arg(long = "profile-export-file", visible_alias = "profile-export-prefix")]
    pub profile_export_prefix: Option<String>,
    /// summary | records | raw (records and raw also write profile_export.jsonl).
    #[arg(long = "export-level", default_value = "records")]
    pub export_level: String,
    /// SLOs in ms, e.g. `request_latency:250`; good requests meet all of them.
    #[arg(long = "goodput")]
    pub goodput: Option<String>,

    // ---- Accepted for AIPerf compatibility, ignored ----
    #[arg(long = "ui-type", hide = true)]
    pub ui_type: Option<String>,
    #[arg(long = "workers-max", hide = true)]
    pub workers_max: Option<String>,
    #[arg(long = "record-processors", hide = true)]
    pub record_processors: Option<String>,
    #[arg(long = "no-server-metrics", hide = true)]
    pub no_server_metrics: bool,
    #[arg(long = "no-gpu-telemetry", hide = true)]
    pub no_gpu_telemetry: bool,

    // ---- embperf's own ----
    /// Start the built-in mock server on a free loopback port and profile it.
    #[arg(long = "mock")]
    pub mock: bool,
    /// Client threads, one per core (default: available cores; one less with --mock).
    #[arg(long = "workers")]
    pub workers: Option<usize>,
    /// Connections for open-loop runs without --concurrency.
    #[arg(long = "connections")]
    pub connections: Option<usize>,
    /// Validate one 2xx body in N as an embeddings list (0: never, 1: all).
    #[arg(long = "validate-every", default_value_t = 100)]
    pub validate_every: u64,
    /// Larger response bodies are an error (`oversized_body`).
    #[arg(long = "max-response-bytes", default_value_t = 64 << 20)]
    pub max_response_bytes: u64,
    /// Poll the endpoint up to this many seconds before starting, instead of failing fast.
    #[arg(long = "wait-for-model-timeout")]
    pub wait_for_model_timeout: Option<f64>,
    /// No live progress line.
    #[arg(long = "no-progress")]
    pub no_progress: bool,
}

#[derive(Debug, Args, Clone)]
pub struct MockServerArgs {
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// Server threads (SO_REUSEPORT listeners), each pinned to a core.
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Embedding dimensions.
    #[arg(long, default_value_t = 384)]
    pub dims: usize,
    /// Model name listed by /v1/models (responses echo the requested model).
    #[arg(long, default_value = "BAAI/bge-small-en-v1.5")]
    pub model: String,
    #[arg(long = "base-latency-ms", default_value_t = 0.0)]
    pub base_latency_ms: f64,
    #[arg(long = "per-input-latency-ms", default_value_t = 0.0)]
    pub per_input_latency_ms: f64,
    /// Percentage of embeddings requests answered with HTTP 500.
    #[arg(long = "error-rate", default_value_t = 0.0)]
    pub error_rate: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// One value or a comma list of values (a sweep), e.g. `--concurrency 1,4,16`.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueList<T>(pub Vec<T>);

impl<T: FromStr> FromStr for ValueList<T>
where
    T::Err: std::fmt::Display,
{
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let values = s
            .split(',')
            .map(|v| v.trim().parse::<T>().map_err(|e| format!("'{v}': {e}")))
            .collect::<Result<Vec<T>, String>>()?;
        Ok(ValueList(values))
    }
}

impl<T: Copy> ValueList<T> {
    /// The value of a single-valued list (sweeps are expanded before a run is configured).
    pub fn first(&self) -> T {
        self.0[0]
    }
}
