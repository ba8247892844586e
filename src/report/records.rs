//! `profile_export.jsonl` (export level records/raw): one line per request, AIPerf's
//! `{"metadata":{...},"metrics":{...},"error":{...}}` shape, written after the run from the
//! records the workers kept.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::engine::Phase;
use crate::stats::{Recorder, RequestRecord};

/// Writes the records of every phase, in start order; returns how many lines were written.
pub fn write(
    path: &Path,
    phases: &[(Phase, &Recorder)],
    anchor: SystemTime,
    isl: &[u64],
) -> Result<u64, String> {
    let file =
        std::fs::File::create(path).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    let anchor_ns = anchor
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_nanos() as u64;
    let mut lines = 0;
    for (phase, rec) in phases {
        let mut records: Vec<&RequestRecord> = rec.records.iter().collect();
        records.sort_by_key(|r| (r.start_ns, r.worker));
        for r in records {
            line(&mut out, *phase, r, anchor_ns, isl)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            lines += 1;
        }
    }
    out.flush()
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(lines)
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

fn line(
    out: &mut impl Write,
    phase: Phase,
    r: &RequestRecord,
    anchor_ns: u64,
    isl: &[u64],
) -> std::io::Result<()> {
    write!(
        out,
        "{{\"metadata\":{{\"benchmark_phase\":\"{}\",\"worker_id\":{},\"request_start_ns\":{},\"request_end_ns\":{},\"intended_start_ns\":{},\"payload_index\":{}}},\"metrics\":{{",
        phase.as_str(),
        r.worker,
        anchor_ns + r.start_ns,
        anchor_ns + r.end_ns,
        anchor_ns + r.intended_ns,
        r.payload,
    )?;
    match r.error {
        None => write!(
            out,
            "\"request_latency\":{{\"value\":{},\"unit\":\"ms\"}},\"effective_latency\":{{\"value\":{},\"unit\":\"ms\"}},\"credit_to_start_latency\":{{\"value\":{},\"unit\":\"ms\"}},\"input_sequence_length\":{{\"value\":{},\"unit\":\"tokens\"}}}}}}",
            ms(r.end_ns - r.start_ns),
            ms(r.end_ns - r.intended_ns),
            ms(r.start_ns - r.intended_ns),
            isl.get(r.payload as usize).copied().unwrap_or(0),
        )?,
        Some(class) => {
            let code = class.code().map_or("null".to_string(), |c| c.to_string());
            let message = serde_json::to_string(&class.default_message()).unwrap_or_default();
            write!(out, "}},\"error\":{{\"code\":{code},\"type\":\"{}\",\"message\":{message}}}}}", class.type_name())?;
        }
    }
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{ErrorClass, Slo};

    #[test]
    fn lines_are_json_in_start_order() {
        let mut rec = Recorder::new(1, Slo::default());
        rec.keep_records(10, 2);
        rec.keep(RequestRecord {
            intended_ns: 5,
            start_ns: 2_000_000,
            end_ns: 3_500_000,
            payload: 0,
            worker: 1,
            error: None,
        });
        rec.keep(RequestRecord {
            intended_ns: 0,
            start_ns: 1_000_000,
            end_ns: 1_500_000,
            payload: 0,
            worker: 0,
            error: Some(ErrorClass::HttpStatus(503)),
        });
        let path =
            std::env::temp_dir().join(format!("embperf-records-{}.jsonl", std::process::id()));
        assert_eq!(
            write(&path, &[(Phase::Profiling, &rec)], UNIX_EPOCH, &[42]).unwrap(),
            2
        );
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["error"]["code"], 503);
        assert_eq!(lines[1]["metrics"]["request_latency"]["value"], 1.5);
        assert_eq!(lines[1]["metrics"]["input_sequence_length"]["value"], 42);
        assert_eq!(lines[1]["metadata"]["benchmark_phase"], "profiling");
    }
}
