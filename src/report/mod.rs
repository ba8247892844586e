//! Reports: everything a run produced, rendered by one exporter per file format.

pub mod console;
pub mod csv;
pub mod format;
pub mod inputs;
pub mod json;
pub mod records;
pub mod sweep;

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde_json::Value;

use crate::stats::{ErrorRow, Metrics};

/// The finished result of one run, ready to be written in every format.
pub struct Report {
    pub benchmark_id: String,
    pub metrics: Metrics,
    pub warmup: Option<Metrics>,
    pub errors: Vec<ErrorRow>,
    /// The configuration that ran, as AIPerf's `input_config`.
    pub input_config: Value,
    /// How it ran: command line, driver, workers, client CPU, validation.
    pub run_info: Value,
    pub was_cancelled: bool,
    pub start_time: SystemTime,
    pub end_time: SystemTime,
    /// Warnings to print under the table (measurement trust, ignored flags).
    pub warnings: Vec<String>,
}

/// One output file format (hyperfine's exporter shape).
pub trait Exporter {
    /// File name for the given export prefix.
    fn file_name(&self, prefix: &str) -> String;
    fn render(&self, report: &Report) -> Result<Vec<u8>, String>;
}

/// Writes every export into `dir`; returns the paths written.
pub fn write_all(report: &Report, dir: &Path, prefix: &str) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let exporters: [&dyn Exporter; 2] = [&json::JsonExporter, &csv::CsvExporter];
    let mut written = Vec::new();
    for exporter in exporters {
        let path = dir.join(exporter.file_name(prefix));
        write_file(&path, &exporter.render(report)?)?;
        written.push(path);
    }
    Ok(written)
}

/// Writes through a temporary file and a rename, so a reader never sees half a file.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}
