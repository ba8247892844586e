//! The aggregate of a sweep: one row per value of the swept parameter, so the knee shows in one
//! table (`sweep_aggregate.json` / `.csv` and the console).

use std::path::PathBuf;

use serde_json::{json, Value};

use super::console::table;
use super::format::thousands;
use super::json::blocks;
use crate::config::Sweep;
use crate::stats::{Block, Metrics};

/// (column header, metric tag, distribution field or "avg").
const COLUMNS: [(&str, &str, &str); 7] = [
    ("req/s", "request_throughput", "avg"),
    ("latency p50 ms", "request_latency", "p50"),
    ("latency p99 ms", "request_latency", "p99"),
    ("corrected p99 ms", "effective_latency", "p99"),
    ("achieved req/s", "achieved_request_rate", "avg"),
    ("error %", "request_error_rate", "avg"),
    ("goodput req/s", "goodput", "avg"),
];

fn value(metrics: &Metrics, tag: &str, field: &str) -> Option<f64> {
    match &metrics.get(tag)?.block {
        Block::Scalar(v) => Some(*v),
        Block::Dist(s) => Some(match field {
            "p50" => s.percentiles[4],
            "p99" => s.percentiles[8],
            _ => s.avg,
        }),
    }
}

/// Columns that at least one row has.
fn present(rows: &[Metrics]) -> Vec<(&'static str, &'static str, &'static str)> {
    COLUMNS
        .iter()
        .copied()
        .filter(|(_, tag, field)| rows.iter().any(|m| value(m, tag, field).is_some()))
        .collect()
}

pub fn console(sweep: &Sweep, rows: &[Metrics]) -> String {
    let cols = present(rows);
    let mut out = vec![std::iter::once(sweep.param.to_string())
        .chain(cols.iter().map(|c| c.0.to_string()))
        .collect::<Vec<_>>()];
    for (v, m) in sweep.values.iter().zip(rows) {
        out.push(
            std::iter::once(v.clone())
                .chain(
                    cols.iter()
                        .map(|(_, t, f)| value(m, t, f).map_or("N/A".into(), |x| thousands(x, 2))),
                )
                .collect(),
        );
    }
    format!("Sweep over {}\n{}", sweep.param, table(&out))
}

/// Writes `sweep_aggregate.json` (each value's full metric blocks) and `sweep_aggregate.csv`.
pub fn write(sweep: &Sweep, rows: &[Metrics]) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(&sweep.dir)
        .map_err(|e| format!("cannot create {}: {e}", sweep.dir.display()))?;
    let runs: Vec<Value> = sweep
        .values
        .iter()
        .zip(rows)
        .map(|(v, m)| json!({"value": v, "metrics": blocks(m)}))
        .collect();
    let doc = json!({"sweep_parameter": sweep.param, "runs": runs});
    let json_path = sweep.dir.join("sweep_aggregate.json");
    let mut bytes = serde_json::to_vec_pretty(&doc).map_err(|e| e.to_string())?;
    bytes.push(b'\n');
    super::write_file(&json_path, &bytes)?;
    let cols = present(rows);
    let mut csv = std::iter::once(sweep.param)
        .chain(cols.iter().map(|c| c.0))
        .collect::<Vec<_>>()
        .join(",");
    csv.push('\n');
    for (v, m) in sweep.values.iter().zip(rows) {
        let cells: Vec<String> = cols
            .iter()
            .map(|(_, t, f)| value(m, t, f).map_or(String::new(), |x| format!("{x:.2}")))
            .collect();
        csv.push_str(&format!("{v},{}\n", cells.join(",")));
    }
    let csv_path = sweep.dir.join("sweep_aggregate.csv");
    super::write_file(&csv_path, csv.as_bytes())?;
    Ok(vec![json_path, csv_path])
}
