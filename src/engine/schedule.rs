//! Arrival schedules for open-loop load: intended send times, as nanosecond offsets from the
//! start of the phase. Each worker draws its own schedule of rate R/W; the superposition of W
//! independent Poisson processes of rate R/W is a Poisson process of rate R, and W constant
//! schedules offset by 1/R interleave into one constant schedule of rate R.

use std::time::Duration;

use rand::rngs::SmallRng;
use rand::SeedableRng;
use rand_distr::{Distribution, Exp, Gamma};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pattern {
    Constant,
    Poisson,
    /// Gamma-distributed gaps with this shape: < 1 burstier than Poisson, > 1 smoother.
    Gamma(f64),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Arrivals {
    /// Aggregate target rate over all workers, requests per second.
    pub rate: f64,
    pub pattern: Pattern,
    /// The rate rises linearly from 0 to `rate` over this long.
    pub ramp: Option<Duration>,
}

enum Gap {
    Fixed(f64),
    Exp(Exp<f64>),
    Gamma(Gamma<f64>),
}

/// One worker's share of the arrivals: an endless, ordered stream of offsets.
pub struct Schedule {
    gap: Gap,
    rng: SmallRng,
    /// Position in "operational time": seconds as if the full rate applied from the start.
    operational: f64,
    ramp_secs: f64,
}

impl Schedule {
    /// Worker `worker` of `workers`. `seed` makes the draws reproducible.
    pub fn new(arrivals: Arrivals, worker: usize, workers: usize, seed: u64) -> Schedule {
        let workers = workers.max(1) as f64;
        let worker_rate = arrivals.rate / workers;
        let gap = match arrivals.pattern {
            Pattern::Constant => Gap::Fixed(1.0 / worker_rate),
            Pattern::Poisson => Gap::Exp(Exp::new(worker_rate).expect("rate validated > 0")),
            Pattern::Gamma(shape) => Gap::Gamma(
                Gamma::new(shape, 1.0 / (shape * worker_rate)).expect("shape validated > 0"),
            ),
        };
        // Constant schedules are staggered so the workers' sends interleave evenly.
        let operational = match arrivals.pattern {
            Pattern::Constant => worker as f64 / arrivals.rate,
            _ => 0.0,
        };
        let rng =
            SmallRng::seed_from_u64(seed ^ (worker as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let ramp_secs = arrivals.ramp.map_or(0.0, |d| d.as_secs_f64());
        let mut schedule = Schedule {
            gap,
            rng,
            operational,
            ramp_secs,
        };
        if !matches!(schedule.gap, Gap::Fixed(_)) {
            schedule.operational = schedule.draw();
        }
        schedule
    }

    fn draw(&mut self) -> f64 {
        match &self.gap {
            Gap::Fixed(g) => *g,
            Gap::Exp(d) => d.sample(&mut self.rng),
            Gap::Gamma(d) => d.sample(&mut self.rng),
        }
    }

    /// Maps operational time to real time under a linear ramp: during the ramp the rate at
    /// time t is R·t/T, so operational time is t²/2T.
    fn real_time(&self, u: f64) -> f64 {
        let t = self.ramp_secs;
        if t <= 0.0 {
            u
        } else if u < t / 2.0 {
            (2.0 * t * u).sqrt()
        } else {
            u + t / 2.0
        }
    }
}

impl Iterator for Schedule {
    type Item = u64;

    /// The next intended send time in nanoseconds from the phase start.
    fn next(&mut self) -> Option<u64> {
        let at = self.real_time(self.operational);
        self.operational += self.draw();
        Some((at * 1e9) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gaps(arrivals: Arrivals, n: usize) -> Vec<f64> {
        let times: Vec<u64> = Schedule::new(arrivals, 0, 1, 7).take(n + 1).collect();
        times
            .windows(2)
            .map(|w| (w[1] - w[0]) as f64 / 1e9)
            .collect()
    }

    fn mean_cv(xs: &[f64]) -> (f64, f64) {
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
        (mean, var.sqrt() / mean)
    }

    #[test]
    fn poisson_gaps_are_exponential() {
        let rate = 1000.0;
        let mut g = gaps(
            Arrivals {
                rate,
                pattern: Pattern::Poisson,
                ramp: None,
            },
            20_000,
        );
        let (mean, cv) = mean_cv(&g);
        assert!((mean * rate - 1.0).abs() < 0.03, "mean gap {mean}");
        assert!((cv - 1.0).abs() < 0.03, "cv {cv}");
        // Kolmogorov–Smirnov against Exp(rate); the 1% critical value is 1.63/sqrt(n).
        g.sort_by(f64::total_cmp);
        let n = g.len() as f64;
        let d = g
            .iter()
            .enumerate()
            .map(|(i, x)| {
                let cdf = 1.0 - (-rate * x).exp();
                (cdf - i as f64 / n)
                    .abs()
                    .max(((i + 1) as f64 / n - cdf).abs())
            })
            .fold(0.0, f64::max);
        assert!(d < 1.63 / n.sqrt(), "KS statistic {d}");
        // The same test must reject constant gaps, or it proves nothing.
        let constant = gaps(
            Arrivals {
                rate,
                pattern: Pattern::Constant,
                ramp: None,
            },
            1000,
        );
        let d_const = constant
            .iter()
            .map(|x| (1.0 - (-rate * x).exp() - 0.5).abs())
            .fold(0.0, f64::max);
        assert!(d_const < 0.2 && mean_cv(&constant).1 < 1e-6);
    }

    #[test]
    fn gamma_shape_sets_burstiness() {
        for shape in [0.25, 4.0] {
            let g = gaps(
                Arrivals {
                    rate: 500.0,
                    pattern: Pattern::Gamma(shape),
                    ramp: None,
                },
                40_000,
            );
            let (mean, cv) = mean_cv(&g);
            assert!(
                (mean * 500.0 - 1.0).abs() < 0.05,
                "shape {shape}: mean {mean}"
            );
            assert!(
                (cv - 1.0 / shape.sqrt()).abs() < 0.08,
                "shape {shape}: cv {cv}"
            );
        }
    }

    #[test]
    fn split_constant_schedules_interleave() {
        let arrivals = Arrivals {
            rate: 100.0,
            pattern: Pattern::Constant,
            ramp: None,
        };
        let mut all: Vec<u64> = (0..4)
            .flat_map(|w| Schedule::new(arrivals, w, 4, 1).take(25))
            .collect();
        all.sort_unstable();
        for (i, t) in all.iter().enumerate() {
            assert!(
                (*t as f64 - i as f64 * 1e7).abs() < 10.0,
                "arrival {i} at {t}"
            );
        }
    }

    #[test]
    fn split_poisson_keeps_the_aggregate_rate() {
        let arrivals = Arrivals {
            rate: 2000.0,
            pattern: Pattern::Poisson,
            ramp: None,
        };
        let horizon = 5_000_000_000u64;
        let count: usize = (0..3)
            .map(|w| {
                Schedule::new(arrivals, w, 3, 9)
                    .take_while(|&t| t < horizon)
                    .count()
            })
            .sum();
        assert!(
            (count as f64 / 10_000.0 - 1.0).abs() < 0.03,
            "{count} arrivals in 5 s at 2000/s"
        );
    }

    #[test]
    fn ramp_rises_linearly() {
        let arrivals = Arrivals {
            rate: 1000.0,
            pattern: Pattern::Constant,
            ramp: Some(Duration::from_secs(2)),
        };
        let times: Vec<u64> = Schedule::new(arrivals, 0, 1, 0)
            .take_while(|&t| t < 4_000_000_000)
            .collect();
        let in_window = |a: u64, b: u64| times.iter().filter(|&&t| t >= a && t < b).count() as f64;
        // Ramp over [0, 2 s): expected R·T/2 = 1000 arrivals; then 1000/s.
        assert!((in_window(0, 2_000_000_000) - 1000.0).abs() <= 2.0);
        assert!((in_window(0, 1_000_000_000) - 250.0).abs() <= 2.0);
        assert!((in_window(2_000_000_000, 4_000_000_000) - 2000.0).abs() <= 2.0);
    }
}
