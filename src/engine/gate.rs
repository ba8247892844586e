//! A barrier between phases that a worker can leave (when it stops early), so the others never
//! wait for it forever.

use std::sync::{Condvar, Mutex};

pub struct Gate {
    state: Mutex<GateState>,
    changed: Condvar,
}

struct GateState {
    parties: usize,
    arrived: usize,
    generation: u64,
}

impl Gate {
    pub fn new(parties: usize) -> Gate {
        Gate {
            state: Mutex::new(GateState {
                parties,
                arrived: 0,
                generation: 0,
            }),
            changed: Condvar::new(),
        }
    }

    /// Blocks until every remaining party has arrived.
    pub fn wait(&self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.arrived += 1;
        if s.arrived >= s.parties {
            Self::open(&mut s);
            self.changed.notify_all();
            return;
        }
        let generation = s.generation;
        while s.generation == generation {
            s = self.changed.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Leaves for good: later waits no longer count on this party.
    pub fn leave(&self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.parties = s.parties.saturating_sub(1);
        if s.arrived > 0 && s.arrived >= s.parties {
            Self::open(&mut s);
            self.changed.notify_all();
        }
    }

    fn open(s: &mut GateState) {
        s.arrived = 0;
        s.generation += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_leaving_party_releases_the_others() {
        let gate = Arc::new(Gate::new(3));
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let g = gate.clone();
                std::thread::spawn(move || {
                    g.wait();
                    g.wait();
                })
            })
            .collect();
        gate.wait();
        gate.leave();
        for w in waiters {
            w.join().unwrap();
        }
    }
}
