//! Open-loop release of scheduled requests within one worker. A timer task moves due requests
//! into a queue and wakes idle connections; a connection that finishes a request also takes
//! the next due one directly, so at high rates most sends need no timer wake-up at all.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use super::schedule::Schedule;

/// A request to send: when the schedule wanted it sent, and whether it had to wait for a free
/// connection.
#[derive(Debug, Clone, Copy)]
pub struct Job {
    pub intended: Instant,
    pub late: bool,
}

pub struct Dispatch {
    start: Instant,
    schedule: RefCell<Schedule>,
    /// The next intended offset, peeked from the schedule.
    next_offset: Cell<Option<u64>>,
    /// Scheduled requests left (the worker's share of the count bound).
    remaining: Cell<u64>,
    /// No request is scheduled at or after this offset (the duration bound).
    horizon: Option<u64>,
    queue: RefCell<VecDeque<Job>>,
    /// Idle connections by slot, most recently idle last: LIFO reuse keeps few connections
    /// hot. A slot may be listed after it stopped waiting; `waiting` tells.
    idle: RefCell<Vec<usize>>,
    wakers: RefCell<Vec<Option<Waker>>>,
    waiting: Vec<Cell<bool>>,
    closed: Cell<bool>,
}

impl Dispatch {
    /// `slots` is the number of connections that will call `next`.
    pub fn new(
        start: Instant,
        mut schedule: Schedule,
        count: u64,
        duration: Option<Duration>,
        slots: usize,
    ) -> Dispatch {
        let first = schedule.next();
        Dispatch {
            start,
            schedule: RefCell::new(schedule),
            next_offset: Cell::new(first),
            remaining: Cell::new(count),
            horizon: duration.map(|d| d.as_nanos() as u64),
            queue: RefCell::new(VecDeque::new()),
            idle: RefCell::new(Vec::with_capacity(slots)),
            wakers: RefCell::new(vec![None; slots]),
            waiting: (0..slots).map(|_| Cell::new(false)).collect(),
            closed: Cell::new(false),
        }
    }

    /// The intended time of the next scheduled request, if any is left.
    fn peek(&self) -> Option<Instant> {
        if self.remaining.get() == 0 {
            return None;
        }
        let offset = self.next_offset.get()?;
        if self.horizon.is_some_and(|h| offset >= h) {
            return None;
        }
        Some(self.start + Duration::from_nanos(offset))
    }

    fn pop_due(&self, now: Instant) -> Option<Instant> {
        let due = self.peek().filter(|&t| t <= now)?;
        self.remaining.set(self.remaining.get() - 1);
        self.next_offset.set(self.schedule.borrow_mut().next());
        Some(due)
    }

    /// Moves every due request to the queue, waking an idle connection for each. A request
    /// that finds no idle connection is late. Returns the next intended time.
    pub fn release(&self, now: Instant) -> Option<Instant> {
        while let Some(intended) = self.pop_due(now) {
            let waker = self.pop_idle();
            self.queue.borrow_mut().push_back(Job {
                intended,
                late: waker.is_none(),
            });
            if let Some(w) = waker {
                w.wake();
            }
        }
        self.peek()
    }

    /// Stops releasing; connections finish what is queued and then see `None`. What was never
    /// released, or is still queued, is returned as unsent.
    pub fn close(&self, now: Instant) -> u64 {
        self.closed.set(true);
        let mut overdue = 0;
        while self.pop_due(now).is_some() {
            overdue += 1;
        }
        while let Some(w) = self.pop_idle() {
            w.wake();
        }
        overdue
    }

    /// Drops queued requests that were never sent (on interrupt); returns how many.
    pub fn drop_queued(&self) -> u64 {
        let n = self.queue.borrow().len() as u64;
        self.queue.borrow_mut().clear();
        n
    }

    /// The next request for a free connection: a queued one, one due now, or (after waiting)
    /// one released by the timer task. `None` once closed and drained.
    pub async fn next(&self, slot: usize) -> Option<Job> {
        poll_fn(|cx| {
            let job = self.queue.borrow_mut().pop_front();
            let job = job.or_else(|| {
                self.pop_due(Instant::now()).map(|intended| Job {
                    intended,
                    late: false,
                })
            });
            if job.is_some() || self.closed.get() {
                self.waiting[slot].set(false);
                return Poll::Ready(job);
            }
            self.wakers.borrow_mut()[slot] = Some(cx.waker().clone());
            if !self.waiting[slot].replace(true) {
                self.idle.borrow_mut().push(slot);
            }
            Poll::Pending
        })
        .await
    }

    /// The waker of the most recently idle connection that is still waiting.
    fn pop_idle(&self) -> Option<Waker> {
        let mut idle = self.idle.borrow_mut();
        while let Some(slot) = idle.pop() {
            if self.waiting[slot].replace(false) {
                return self.wakers.borrow_mut()[slot].take();
            }
        }
        None
    }
}
