//! A latency-style distribution: an HdrHistogram for percentiles plus exact count, sum, sum of
//! squares, min and max, so the mean, std and extremes carry no bucketing error.

use hdrhistogram::Histogram;

/// Three significant digits: percentiles within 0.1% of the true value.
const SIGFIGS: u8 = 3;

#[derive(Debug, Clone)]
pub struct Dist {
    hist: Histogram<u64>,
    count: u64,
    sum: u128,
    sum_sq: u128,
    min: u64,
    max: u64,
}

/// Summary statistics of a distribution, in the distribution's own unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub count: u64,
    pub sum: f64,
    pub avg: f64,
    pub std: f64,
    pub min: f64,
    pub max: f64,
    /// p1, p5, p10, p25, p50, p75, p90, p95, p99.
    pub percentiles: [f64; 9],
}

pub const PERCENTILES: [f64; 9] = [1.0, 5.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0];

impl Default for Dist {
    fn default() -> Self {
        Dist::new()
    }
}

impl Dist {
    pub fn new() -> Dist {
        Dist {
            // 1 to 2^62 keeps any nanosecond value; values above saturate.
            hist: Histogram::new_with_bounds(1, 1 << 62, SIGFIGS).expect("valid histogram bounds"),
            count: 0,
            sum: 0,
            sum_sq: 0,
            min: u64::MAX,
            max: 0,
        }
    }

    #[inline]
    pub fn record(&mut self, v: u64) {
        self.hist.saturating_record(v);
        self.count += 1;
        self.sum += u128::from(v);
        self.sum_sq += u128::from(v) * u128::from(v);
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }

    /// Records `v` `n` times (weighted values, e.g. a payload's token count per use).
    pub fn record_n(&mut self, v: u64, n: u64) {
        if n == 0 {
            return;
        }
        self.hist.saturating_record_n(v, n);
        self.count += n;
        self.sum += u128::from(v) * u128::from(n);
        self.sum_sq += u128::from(v) * u128::from(v) * u128::from(n);
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    pub fn merge(&mut self, other: &Dist) {
        // Both histograms share bounds, so adding cannot fail.
        let _ = self.hist.add(&other.hist);
        self.count += other.count;
        self.sum += other.sum;
        self.sum_sq += other.sum_sq;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// Summary with every value divided by `scale` (e.g. 1e6 to turn ns into ms).
    pub fn summary(&self, scale: f64) -> Option<Summary> {
        if self.count == 0 {
            return None;
        }
        let n = self.count as f64;
        let mean = self.sum as f64 / n;
        let variance = (self.sum_sq as f64 / n - mean * mean).max(0.0);
        let (min, max) = (self.min as f64, self.max as f64);
        let percentiles = PERCENTILES.map(|p| {
            // HdrHistogram reports the top of the bucket; clamp to the exact extremes.
            let v = self.hist.value_at_quantile(p / 100.0) as f64;
            v.clamp(min, max) / scale
        });
        Some(Summary {
            count: self.count,
            sum: self.sum as f64 / scale,
            avg: mean / scale,
            std: variance.sqrt() / scale,
            min: min / scale,
            max: max / scale,
            percentiles,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_matches_exact_statistics() {
        let mut d = Dist::new();
        for v in 1..=1000u64 {
            d.record(v * 1000);
        }
        let s = d.summary(1000.0).unwrap();
        assert_eq!((s.count, s.min, s.max), (1000, 1.0, 1000.0));
        assert!((s.avg - 500.5).abs() < 1e-9);
        assert!((s.std - 288.674_990_5).abs() < 1e-3);
        assert!(
            (s.percentiles[4] - 500.0).abs() <= 0.5,
            "p50 {}",
            s.percentiles[4]
        );
        assert!(
            (s.percentiles[8] - 990.0).abs() <= 1.0,
            "p99 {}",
            s.percentiles[8]
        );
    }

    #[test]
    fn merge_equals_recording_everything_in_one() {
        let (mut a, mut b, mut all) = (Dist::new(), Dist::new(), Dist::new());
        for v in [5u64, 17, 3, 900, 42] {
            a.record(v);
            all.record(v);
        }
        for v in [1u64, 77_777, 8] {
            b.record(v);
            all.record(v);
        }
        a.merge(&b);
        assert_eq!(a.summary(1.0), all.summary(1.0));
        assert!(Dist::new().summary(1.0).is_none());
    }
}
