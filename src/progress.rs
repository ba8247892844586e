//! The live progress line on stderr, fed from the engine's relaxed counters by its own thread.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::engine::Progress;
use crate::report::format::thousands;

pub struct ProgressLine {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ProgressLine {
    /// Starts drawing when stderr is a terminal; otherwise does nothing.
    pub fn start(
        progress: Arc<Progress>,
        phase_names: Vec<String>,
        phase_totals: Vec<Option<u64>>,
        enabled: bool,
    ) -> ProgressLine {
        let stop = Arc::new(AtomicBool::new(false));
        if !enabled || !std::io::stderr().is_terminal() {
            return ProgressLine { stop, thread: None };
        }
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut last = (Instant::now(), 0u64, usize::MAX);
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(250));
                let s = progress.snapshot();
                let now = Instant::now();
                let rate = if s.phase == last.2 {
                    (s.completed.saturating_sub(last.1)) as f64
                        / now.duration_since(last.0).as_secs_f64()
                } else {
                    0.0
                };
                last = (now, s.completed, s.phase);
                let name = phase_names.get(s.phase).map_or("", String::as_str);
                let total = phase_totals
                    .get(s.phase)
                    .copied()
                    .flatten()
                    .map_or(String::new(), |t| format!(" / {}", thousands(t as f64, 0)));
                eprint!(
                    "\r\x1b[2K{name}: {}{total} requests  {} req/s  {} errors",
                    thousands(s.completed as f64, 0),
                    thousands(rate, 0),
                    thousands(s.errors as f64, 0)
                );
                let _ = std::io::stderr().flush();
            }
            eprint!("\r\x1b[2K");
        });
        ProgressLine {
            stop,
            thread: Some(thread),
        }
    }

    pub fn finish(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
