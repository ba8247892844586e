//! `profile_export_aiperf.csv`: distributions first (sorted by name, 2 decimals), a blank line,
//! then scalars as `Metric,Value`.

use super::{Exporter, Report};
use crate::stats::Block;

pub struct CsvExporter;

fn field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

impl Exporter for CsvExporter {
    fn file_name(&self, prefix: &str) -> String {
        format!("{prefix}_aiperf.csv")
    }

    fn render(&self, r: &Report) -> Result<Vec<u8>, String> {
        let mut dists: Vec<_> = r
            .metrics
            .0
            .iter()
            .filter_map(|m| {
                if let Block::Dist(s) = &m.block {
                    Some((m.header(), s))
                } else {
                    None
                }
            })
            .collect();
        dists.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out =
            String::from("Metric,avg,min,max,sum,p1,p5,p10,p25,p50,p75,p90,p95,p99,std\n");
        for (name, s) in dists {
            let mut row = vec![field(&name)];
            row.extend(
                [s.avg, s.min, s.max, s.sum]
                    .iter()
                    .chain(&s.percentiles)
                    .chain([&s.std])
                    .map(|v| format!("{v:.2}")),
            );
            out.push_str(&row.join(","));
            out.push('\n');
        }
        out.push_str("\nMetric,Value\n");
        let mut scalars: Vec<_> = r
            .metrics
            .0
            .iter()
            .filter_map(|m| {
                if let Block::Scalar(v) = m.block {
                    Some((m.header(), v))
                } else {
                    None
                }
            })
            .collect();
        scalars.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, v) in scalars {
            out.push_str(&format!("{},{v:.2}\n", field(&name)));
        }
        Ok(out.into_bytes())
    }
}
