//! AIPerf's metrics (same tags, units and definitions) plus embperf's own, computed from one
//! merged phase.

use super::dist::Summary;
use super::{Dist, Recorder};

#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    Dist(Summary),
    Scalar(f64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// AIPerf's tag, e.g. `request_latency`.
    pub tag: &'static str,
    /// Display name without unit, e.g. `Request Latency`.
    pub name: &'static str,
    pub unit: &'static str,
    pub block: Block,
    /// Shown in the console table (the exports carry every metric).
    pub console: bool,
}

impl Metric {
    /// `Request Latency (ms)`; counts carry no unit in the name, as in AIPerf.
    pub fn header(&self) -> String {
        match self.unit {
            "requests" | "" => self.name.to_string(),
            unit => format!("{} ({unit})", self.name),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metrics(pub Vec<Metric>);

impl Metrics {
    pub fn get(&self, tag: &str) -> Option<&Metric> {
        self.0.iter().find(|m| m.tag == tag)
    }

    pub fn scalar(&self, tag: &str) -> Option<f64> {
        match self.get(tag)?.block {
            Block::Scalar(v) => Some(v),
            Block::Dist(s) => Some(s.avg),
        }
    }
}

/// What the metrics need besides the recorder.
pub struct Context<'a> {
    /// Token count of each payload.
    pub isl: &'a [u64],
    /// Texts in each payload.
    pub inputs: &'a [u32],
    /// Target rate of an open-loop run.
    pub target_rate: Option<f64>,
    /// Client CPU seconds over all worker threads.
    pub client_cpu_secs: f64,
}

const NS_PER_MS: f64 = 1e6;

pub fn compute(rec: &Recorder, ctx: &Context) -> Metrics {
    let mut m = Vec::new();
    let dist = |tag, name, unit, d: &Dist, scale: f64, console: bool, m: &mut Vec<Metric>| {
        if let Some(s) = d.summary(scale) {
            m.push(Metric {
                tag,
                name,
                unit,
                block: Block::Dist(s),
                console,
            });
        }
    };
    let open_loop = ctx.target_rate.is_some();
    dist(
        "request_latency",
        "Request Latency",
        "ms",
        &rec.request_latency,
        NS_PER_MS,
        true,
        &mut m,
    );
    dist(
        "effective_latency",
        "Effective Latency",
        "ms",
        &rec.effective_latency,
        NS_PER_MS,
        open_loop,
        &mut m,
    );
    dist(
        "credit_to_start_latency",
        "Credit To Start Latency",
        "ms",
        &rec.schedule_lag,
        NS_PER_MS,
        open_loop,
        &mut m,
    );

    let mut isl = Dist::new();
    let mut total_isl = 0u64;
    let mut total_inputs = 0u64;
    for (p, &uses) in rec.payload_successes.iter().enumerate() {
        isl.record_n(ctx.isl[p], uses);
        total_isl += ctx.isl[p] * uses;
        total_inputs += u64::from(ctx.inputs[p]) * uses;
    }
    dist(
        "input_sequence_length",
        "Input Sequence Length",
        "tokens",
        &isl,
        1.0,
        true,
        &mut m,
    );

    let mut scalar = |tag, name, unit, v: f64, console: bool| {
        if v.is_finite() {
            m.push(Metric {
                tag,
                name,
                unit,
                block: Block::Scalar(v),
                console,
            });
        }
    };
    let window = rec.window().map_or(0.0, |d| d.as_secs_f64());
    let per_sec = |n: f64| if window > 0.0 { n / window } else { f64::NAN };
    let errors = rec.failed();
    let completed = rec.succeeded + errors;
    scalar(
        "input_token_throughput",
        "Input Token Throughput",
        "tokens/sec",
        per_sec(total_isl as f64),
        true,
    );
    scalar(
        "request_throughput",
        "Request Throughput",
        "requests/sec",
        per_sec(rec.succeeded as f64),
        true,
    );
    scalar(
        "input_throughput",
        "Input Throughput",
        "inputs/sec",
        per_sec(total_inputs as f64),
        true,
    );
    if rec.slo.is_set() {
        scalar(
            "goodput",
            "Goodput",
            "requests/sec",
            per_sec(rec.good as f64),
            true,
        );
        scalar(
            "good_request_count",
            "Good Request Count",
            "requests",
            rec.good as f64,
            false,
        );
    }
    scalar(
        "request_count",
        "Request Count",
        "requests",
        rec.succeeded as f64,
        true,
    );
    scalar(
        "error_request_count",
        "Error Request Count",
        "requests",
        errors as f64,
        errors > 0,
    );
    scalar(
        "completed_request_count",
        "Completed Request Count",
        "requests",
        completed as f64,
        false,
    );
    let error_rate = if completed > 0 {
        errors as f64 * 100.0 / completed as f64
    } else {
        0.0
    };
    scalar(
        "request_error_rate",
        "Request Error Rate",
        "%",
        error_rate,
        errors > 0,
    );
    scalar(
        "benchmark_duration",
        "Benchmark Duration",
        "sec",
        window,
        false,
    );
    scalar("total_isl", "Total ISL", "tokens", total_isl as f64, false);
    scalar(
        "sent_request_count",
        "Sent Request Count",
        "requests",
        rec.sent as f64,
        false,
    );
    if let Some(rate) = ctx.target_rate {
        scalar(
            "target_request_rate",
            "Target Request Rate",
            "requests/sec",
            rate,
            true,
        );
        let send_window = match (rec.first_send, rec.last_send) {
            (Some(a), Some(b)) => b.saturating_duration_since(a).as_secs_f64(),
            _ => 0.0,
        };
        // n sends span n − 1 gaps.
        let achieved = if send_window > 0.0 {
            (rec.sent.saturating_sub(1)) as f64 / send_window
        } else {
            f64::NAN
        };
        scalar(
            "achieved_request_rate",
            "Achieved Request Rate",
            "requests/sec",
            achieved,
            true,
        );
        scalar(
            "late_send_count",
            "Late Send Count",
            "requests",
            rec.late_sends as f64,
            true,
        );
        scalar(
            "unsent_request_count",
            "Unsent Request Count",
            "requests",
            rec.unsent as f64,
            rec.unsent > 0,
        );
    }
    if rec.sent > 0 {
        scalar(
            "client_cpu_per_request",
            "Client CPU Per Request",
            "us",
            ctx.client_cpu_secs * 1e6 / rec.sent as f64,
            false,
        );
    }
    Metrics(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{ErrorClass, Slo};
    use std::time::{Duration, Instant};

    #[test]
    fn aiperf_definitions() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut rec = Recorder::new(2, Slo::default());
        for i in 0..4u64 {
            rec.on_send(ms(i * 100), ms(i * 100), false);
            rec.on_success(
                (i % 2) as usize,
                ms(i * 100),
                ms(i * 100),
                ms(i * 100 + 10 * (i + 1)),
                100,
            );
        }
        rec.on_send(ms(400), ms(400), false);
        rec.on_error(ErrorClass::HttpStatus(500), None, ms(500));
        let m = compute(
            &rec,
            &Context {
                isl: &[10, 30],
                inputs: &[1, 2],
                target_rate: None,
                client_cpu_secs: 0.001,
            },
        );
        let Block::Dist(lat) = m.get("request_latency").unwrap().block else {
            panic!()
        };
        assert_eq!(
            (lat.count, lat.min, lat.max, lat.avg),
            (4, 10.0, 40.0, 25.0)
        );
        assert_eq!(m.scalar("benchmark_duration"), Some(0.5));
        assert_eq!(m.scalar("request_throughput"), Some(8.0));
        assert_eq!(m.scalar("request_count"), Some(4.0));
        assert_eq!(m.scalar("error_request_count"), Some(1.0));
        assert_eq!(m.scalar("request_error_rate"), Some(20.0));
        assert_eq!(m.scalar("total_isl"), Some(80.0));
        assert_eq!(m.scalar("input_token_throughput"), Some(160.0));
        assert_eq!(m.scalar("input_throughput"), Some(12.0));
        assert_eq!(m.scalar("input_sequence_length"), Some(20.0));
        assert_eq!(m.scalar("client_cpu_per_request"), Some(200.0));
        assert!(m.get("goodput").is_none() && m.get("target_request_rate").is_none());
        assert_eq!(
            m.get("request_latency").unwrap().header(),
            "Request Latency (ms)"
        );
        assert_eq!(m.get("request_count").unwrap().header(), "Request Count");
    }
}
