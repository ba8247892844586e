//! The per-thread recorder: everything one worker measures in one phase. Recording is a few
//! integer operations; nothing here allocates, formats or locks, except the first message of
//! an error class.

use std::time::{Duration, Instant};

use super::{Dist, ErrorClass, ErrorCounts};

/// Goodput thresholds in nanoseconds (`u64::MAX`: no threshold).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slo {
    pub request_latency_ns: u64,
    pub effective_latency_ns: u64,
}

impl Default for Slo {
    fn default() -> Self {
        Slo {
            request_latency_ns: u64::MAX,
            effective_latency_ns: u64::MAX,
        }
    }
}

impl Slo {
    pub fn is_set(&self) -> bool {
        *self != Slo::default()
    }
}

/// One request, kept for the per-request export. Times are nanoseconds from the run's anchor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestRecord {
    pub intended_ns: u64,
    pub start_ns: u64,
    pub end_ns: u64,
    pub payload: u32,
    pub worker: u16,
    pub error: Option<ErrorClass>,
}

#[derive(Debug, Clone)]
pub struct Recorder {
    pub slo: Slo,
    /// Per-request records, up to `records_cap`; the rest are only counted.
    pub records: Vec<RequestRecord>,
    pub records_cap: usize,
    pub records_dropped: u64,
    /// Successful requests that met every SLO.
    pub good: u64,
    /// From the actual send to the end of the response (AIPerf's `request_latency`), ns.
    pub request_latency: Dist,
    /// From the intended send to the end of the response (`effective_latency`), ns.
    pub effective_latency: Dist,
    /// Actual minus intended send (`credit_to_start_latency`), ns, every request sent.
    pub schedule_lag: Dist,
    pub sent: u64,
    pub succeeded: u64,
    /// Requests that found no free connection at their intended time and waited.
    pub late_sends: u64,
    /// Requests the schedule wanted sent that never were (the run stopped first).
    pub unsent: u64,
    pub errors: ErrorCounts,
    /// Successful requests by payload index: the input sequence lengths follow from these.
    pub payload_successes: Vec<u64>,
    /// Responses whose body was checked to be an embeddings list.
    pub validated: u64,
    pub response_bytes: u64,
    pub first_send: Option<Instant>,
    pub last_send: Option<Instant>,
    pub last_end: Option<Instant>,
}

impl Recorder {
    pub fn new(payloads: usize, slo: Slo) -> Recorder {
        Recorder {
            slo,
            records: Vec::new(),
            records_cap: 0,
            records_dropped: 0,
            good: 0,
            request_latency: Dist::new(),
            effective_latency: Dist::new(),
            schedule_lag: Dist::new(),
            sent: 0,
            succeeded: 0,
            late_sends: 0,
            unsent: 0,
            errors: ErrorCounts::default(),
            payload_successes: vec![0; payloads],
            validated: 0,
            response_bytes: 0,
            first_send: None,
            last_send: None,
            last_end: None,
        }
    }

    #[inline]
    pub fn on_send(&mut self, intended: Instant, sent: Instant, late: bool) {
        self.sent += 1;
        self.late_sends += u64::from(late);
        self.schedule_lag
            .record(nanos(sent.saturating_duration_since(intended)));
        if self.first_send.is_none() {
            self.first_send = Some(sent);
        }
        self.last_send = Some(sent);
    }

    #[inline]
    pub fn on_success(
        &mut self,
        payload: usize,
        intended: Instant,
        sent: Instant,
        end: Instant,
        body_bytes: u64,
    ) {
        self.succeeded += 1;
        let latency = nanos(end.saturating_duration_since(sent));
        let effective = nanos(end.saturating_duration_since(intended));
        self.request_latency.record(latency);
        self.effective_latency.record(effective);
        self.good += u64::from(
            latency <= self.slo.request_latency_ns && effective <= self.slo.effective_latency_ns,
        );
        self.payload_successes[payload] += 1;
        self.response_bytes += body_bytes;
        self.on_end(end);
    }

    pub fn on_error(&mut self, class: ErrorClass, message: Option<String>, end: Instant) {
        self.errors.add(class, message);
        self.on_end(end);
    }

    #[inline]
    fn on_end(&mut self, end: Instant) {
        if self.last_end.is_none_or(|t| end > t) {
            self.last_end = Some(end);
        }
    }

    /// Keeps up to `cap` per-request records, reserving room for `expected` of them now so the
    /// hot path rarely reallocates.
    pub fn keep_records(&mut self, cap: usize, expected: usize) {
        self.records_cap = cap;
        self.records.reserve(expected.min(cap));
    }

    /// Whether per-request records are kept at all (so callers can skip building them).
    #[inline]
    pub fn wants_record(&self) -> bool {
        self.records_cap > 0
    }

    #[inline]
    pub fn keep(&mut self, record: RequestRecord) {
        if self.records.len() < self.records_cap {
            self.records.push(record);
        } else {
            self.records_dropped += 1;
        }
    }

    pub fn failed(&self) -> u64 {
        self.errors.total()
    }

    pub fn merge(&mut self, other: &Recorder) {
        self.request_latency.merge(&other.request_latency);
        self.effective_latency.merge(&other.effective_latency);
        self.schedule_lag.merge(&other.schedule_lag);
        self.sent += other.sent;
        self.succeeded += other.succeeded;
        self.good += other.good;
        self.late_sends += other.late_sends;
        self.unsent += other.unsent;
        self.errors.merge(&other.errors);
        for (a, b) in self
            .payload_successes
            .iter_mut()
            .zip(&other.payload_successes)
        {
            *a += b;
        }
        self.validated += other.validated;
        self.records.extend_from_slice(&other.records);
        self.records_dropped += other.records_dropped;
        self.response_bytes += other.response_bytes;
        self.first_send = pick(self.first_send, other.first_send, Instant::min);
        self.last_send = pick(self.last_send, other.last_send, Instant::max);
        self.last_end = pick(self.last_end, other.last_end, Instant::max);
    }

    /// First send to last completion: AIPerf's benchmark duration.
    pub fn window(&self) -> Option<Duration> {
        Some(self.last_end?.saturating_duration_since(self.first_send?))
    }
}

fn pick(
    a: Option<Instant>,
    b: Option<Instant>,
    f: fn(Instant, Instant) -> Instant,
) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(f(a, b)),
        (a, b) => a.or(b),
    }
}

#[inline]
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_adds_counts_and_widens_the_window() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut a = Recorder::new(
            2,
            Slo {
                request_latency_ns: 4_500_000,
                ..Slo::default()
            },
        );
        a.on_send(ms(0), ms(1), false);
        a.on_success(0, ms(0), ms(1), ms(5), 10);
        let mut b = Recorder::new(2, Slo::default());
        b.on_send(ms(2), ms(9), true);
        b.on_error(ErrorClass::HttpStatus(503), None, ms(20));
        a.merge(&b);
        assert_eq!(
            (a.sent, a.succeeded, a.failed(), a.late_sends, a.good),
            (2, 1, 1, 1, 1)
        );
        assert_eq!(a.window(), Some(Duration::from_millis(19)));
        assert_eq!(a.payload_successes, vec![1, 0]);
        assert_eq!(a.schedule_lag.max(), 7_000_000);
        assert_eq!(a.effective_latency.max(), 5_000_000);
    }
}
