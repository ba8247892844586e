//! The console summary: AIPerf's table layout (`Metric | avg | min | max | p99 | p90 | p50 |
//! std`), an error table when there were errors, and a footer with the duration, the run's own
//! trust figures and the export paths.

use std::path::PathBuf;

use super::format::thousands;
use super::Report;
use crate::stats::{Block, Metrics};

/// A box-drawn table; the first row is the header, the first column left-aligned.
pub fn table(rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let line = |l: &str, m: &str, r: &str| {
        let parts: Vec<String> = widths.iter().map(|w| "─".repeat(w + 2)).collect();
        format!("{l}{}{r}\n", parts.join(m))
    };
    let mut out = line("┌", "┬", "┐");
    for (i, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(c, (cell, w))| {
                if c == 0 {
                    format!(" {cell:<w$} ")
                } else {
                    format!(" {cell:>w$} ")
                }
            })
            .collect();
        out.push_str(&format!("│{}│\n", cells.join("│")));
        if i == 0 {
            out.push_str(&line("├", "┼", "┤"));
        }
    }
    out.push_str(&line("└", "┴", "┘"));
    out
}

pub fn metrics_table(title: &str, metrics: &Metrics) -> String {
    let mut rows = vec![["Metric", "avg", "min", "max", "p99", "p90", "p50", "std"]
        .map(String::from)
        .to_vec()];
    for m in metrics.0.iter().filter(|m| m.console) {
        let f = |v: f64| thousands(v, 2);
        rows.push(match &m.block {
            Block::Dist(s) => vec![
                m.header(),
                f(s.avg),
                f(s.min),
                f(s.max),
                f(s.percentiles[8]),
                f(s.percentiles[6]),
                f(s.percentiles[4]),
                f(s.std),
            ],
            Block::Scalar(v) => {
                let mut row = vec![m.header(), f(*v)];
                row.extend(std::iter::repeat_n("N/A".to_string(), 6));
                row
            }
        });
    }
    format!("{title}\n{}", table(&rows))
}

pub fn render(r: &Report, exports: &[PathBuf]) -> String {
    let mut out = metrics_table(
        "embperf | Embeddings Metrics (AIPerf-compatible)",
        &r.metrics,
    );
    if !r.errors.is_empty() {
        let mut rows = vec![["Code", "Type", "Message", "Count"]
            .map(String::from)
            .to_vec()];
        for e in &r.errors {
            let mut message: String = e.message.chars().take(80).collect();
            if e.message.chars().count() > 80 {
                message.push('…');
            }
            rows.push(vec![
                e.class.code().map_or("N/A".into(), |c| c.to_string()),
                e.class.type_name().into(),
                message.replace('\n', " "),
                thousands(e.count as f64, 0),
            ]);
        }
        out.push_str(&format!("\nErrors\n{}", table(&rows)));
    }
    if let Some(d) = r.metrics.scalar("benchmark_duration") {
        out.push_str(&format!("Benchmark Duration: {} sec\n", thousands(d, 2)));
    }
    for w in &r.warnings {
        out.push_str(&format!("warning: {w}\n"));
    }
    if r.was_cancelled {
        out.push_str("Run was cancelled: the figures cover what was measured until then.\n");
    }
    for p in exports {
        out.push_str(&format!("{}: {}\n", export_label(p), p.display()));
    }
    out
}

fn export_label(p: &std::path::Path) -> &'static str {
    match p.extension().and_then(|e| e.to_str()) {
        Some("json") => "JSON Export",
        Some("csv") => "CSV Export",
        Some("jsonl") => "Records Export",
        _ => "Export",
    }
}
