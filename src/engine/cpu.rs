//! CPU time of the calling thread, to report what the client itself costs.

use std::time::Duration;

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CpuTime {
    pub user: Duration,
    pub system: Duration,
}

impl CpuTime {
    /// The calling thread's CPU time so far. The total comes from CLOCK_THREAD_CPUTIME_ID
    /// (nanosecond precision); getrusage's user/system figures are tick-sampled, so they only
    /// split that total.
    pub fn thread() -> CpuTime {
        let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: both calls write plain structs we own; on failure the zeroes stay.
        let usage = unsafe {
            libc::getrusage(libc::RUSAGE_THREAD, usage.as_mut_ptr());
            libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts);
            usage.assume_init()
        };
        let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, (t.tv_usec as u32) * 1000);
        let (user, system) = (tv(usage.ru_utime), tv(usage.ru_stime));
        let total = Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32);
        let sampled = (user + system).as_secs_f64();
        let user_share = if sampled > 0.0 {
            user.as_secs_f64() / sampled
        } else {
            0.5
        };
        let user = total.mul_f64(user_share);
        CpuTime {
            user,
            system: total.saturating_sub(user),
        }
    }

    pub fn since(self, earlier: CpuTime) -> CpuTime {
        CpuTime {
            user: self.user.saturating_sub(earlier.user),
            system: self.system.saturating_sub(earlier.system),
        }
    }

    pub fn total(self) -> Duration {
        self.user + self.system
    }
}
