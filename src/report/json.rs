//! `profile_export_aiperf.json`: a flat object, provenance first, then one block per metric
//! tag, then AIPerf's run fields. Null fields are omitted and NaN/Inf never written.

use serde_json::{json, Map, Value};

use super::format::iso8601;
use super::{Exporter, Report};
use crate::stats::dist::PERCENTILES;
use crate::stats::{Block, Metrics};

pub struct JsonExporter;

pub const SCHEMA_VERSION: &str = "1.0";

fn number(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}

/// Metric blocks keyed by tag.
pub fn blocks(metrics: &Metrics) -> Map<String, Value> {
    let mut out = Map::new();
    for m in &metrics.0 {
        let mut block = Map::new();
        block.insert("unit".into(), json!(m.unit));
        match &m.block {
            Block::Scalar(v) => {
                block.insert("avg".into(), number(*v));
            }
            Block::Dist(s) => {
                block.insert("avg".into(), number(s.avg));
                for (p, v) in PERCENTILES.iter().zip(s.percentiles) {
                    block.insert(format!("p{p}"), number(v));
                }
                block.insert("min".into(), number(s.min));
                block.insert("max".into(), number(s.max));
                block.insert("std".into(), number(s.std));
                block.insert("count".into(), json!(s.count));
                block.insert("sum".into(), number(s.sum));
            }
        }
        block.retain(|_, v| !v.is_null());
        out.insert(m.tag.to_string(), Value::Object(block));
    }
    out
}

impl Exporter for JsonExporter {
    fn file_name(&self, prefix: &str) -> String {
        format!("{prefix}_aiperf.json")
    }

    fn render(&self, r: &Report) -> Result<Vec<u8>, String> {
        let mut out = Map::new();
        out.insert("schema_version".into(), json!(SCHEMA_VERSION));
        out.insert(
            "tool".into(),
            json!({"name": "embperf", "version": env!("CARGO_PKG_VERSION")}),
        );
        out.insert("benchmark_id".into(), json!(r.benchmark_id));
        out.extend(blocks(&r.metrics));
        out.insert("input_config".into(), r.input_config.clone());
        out.insert("run_info".into(), r.run_info.clone());
        out.insert("was_cancelled".into(), json!(r.was_cancelled));
        out.insert("is_complete".into(), json!(!r.was_cancelled));
        let errors: Vec<Value> = r
            .errors
            .iter()
            .map(|e| {
                let mut details = Map::new();
                if let Some(code) = e.class.code() {
                    details.insert("code".into(), json!(code));
                }
                details.insert("type".into(), json!(e.class.type_name()));
                details.insert("message".into(), json!(e.message));
                json!({"error_details": details, "count": e.count})
            })
            .collect();
        out.insert("error_summary".into(), Value::Array(errors));
        out.insert("start_time".into(), json!(iso8601(r.start_time)));
        out.insert("end_time".into(), json!(iso8601(r.end_time)));
        if let Some(w) = &r.warmup {
            out.insert("warmup_metrics".into(), Value::Object(blocks(w)));
        }
        let mut bytes =
            serde_json::to_vec_pretty(&Value::Object(out)).map_err(|e| e.to_string())?;
        bytes.push(b'\n');
        Ok(bytes)
    }
}
