//! The `embperf` binary: parse the command line, call the library, map the outcome to an exit
//! code. Exit 0 on success, 1 on an error before or during the run, 2 on bad flags (clap), 130
//! when interrupted.

use std::process::ExitCode;

use clap::Parser;
use embperf::cli::{Cli, Command, MockServerArgs, ProfileArgs};
use embperf::config::{self, Sweep};
use embperf::engine::signal;
use embperf::mock::{MockConfig, MockServer};
use embperf::report;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            // clap's usage block is several lines; bad flags get one line here.
            let text = e.to_string();
            let first = text
                .lines()
                .next()
                .unwrap_or_default()
                .trim_start_matches("error: ");
            eprintln!("embperf: error: {first} (see --help)");
            return ExitCode::from(2);
        }
    };
    signal::install();
    let result = match cli.command {
        Command::Profile(args) => profile(&args),
        Command::MockServer(args) => mock_server(args),
    };
    result.unwrap_or_else(|e| {
        eprintln!("embperf: error: {e}");
        ExitCode::FAILURE
    })
}

fn profile(args: &ProfileArgs) -> Result<ExitCode, String> {
    let argv: Vec<String> = std::env::args().collect();
    let (configs, sweep) = config::plan(args, &argv)?;
    for note in configs.first().map_or(&[][..], |c| &c.notes[..]) {
        eprintln!("embperf: note: {note}");
    }
    let mut rows = Vec::new();
    let mut failure = None;
    for config in &configs {
        let outcome = embperf::profile::run(config)?;
        print!("{}", outcome.console);
        rows.push(outcome.report.metrics);
        if outcome.failure.is_some() {
            failure = outcome.failure;
            break;
        }
    }
    if let Some(sweep) = &sweep {
        // Written even when the sweep was cut short: the values that ran are kept.
        let values = Sweep {
            values: sweep.values[..rows.len()].to_vec(),
            ..sweep.clone()
        };
        let paths = report::sweep::write(&values, &rows)?;
        print!("\n{}", report::sweep::console(&values, &rows));
        for p in paths {
            println!("Sweep Export: {}", p.display());
        }
    }
    match failure {
        Some(f) if signal::interrupted() => {
            eprintln!("embperf: {f}");
            Ok(ExitCode::from(130))
        }
        Some(f) => Err(f),
        None => Ok(ExitCode::SUCCESS),
    }
}

fn mock_server(a: MockServerArgs) -> Result<ExitCode, String> {
    if a.workers == 0 {
        return Err("--workers 0: must be at least 1".into());
    }
    if !(0.0..=100.0).contains(&a.error_rate) {
        return Err(format!(
            "--error-rate {}: must be a percentage from 0 to 100",
            a.error_rate
        ));
    }
    for (flag, v) in [
        ("--base-latency-ms", a.base_latency_ms),
        ("--per-input-latency-ms", a.per_input_latency_ms),
    ] {
        if !(v.is_finite() && v >= 0.0) {
            return Err(format!("{flag} {v}: must be ≥ 0"));
        }
    }
    if a.dims == 0 {
        return Err("--dims 0: must be at least 1".into());
    }
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let server = MockServer::start(MockConfig {
        host: a.host,
        port: a.port,
        workers: a.workers,
        dims: a.dims,
        model: a.model,
        base_latency_ms: a.base_latency_ms,
        per_input_latency_ms: a.per_input_latency_ms,
        error_rate_pct: a.error_rate,
        seed: a.seed,
        cores,
    })?;
    eprintln!(
        "embperf mock server listening on {} ({} workers, {})",
        server.url(),
        a.workers,
        server.driver().as_str()
    );
    while !signal::interrupted() {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let counts = server.stop();
    eprintln!(
        "embperf mock server stopped: {}",
        serde_json::to_string(&counts).unwrap_or_default()
    );
    Ok(ExitCode::SUCCESS)
}
