//! Proof attempts for a file's claims and steps, made ahead on worker threads.
//!
//! Owns [`ProofPool`]. Proving (an e-graph run per claim) and evaluating at points (exact
//! arithmetic) are independent. The checker first looks at every claim's quick point and
//! marks the claims that pass it [`ready`](ProofPool::ready) (a refuted claim never needs a
//! proof, and a false claim's failing proof is the dearest kind); workers attempt the ready
//! proofs in file order while the checker goes on. When the checker needs a proof it takes
//! the finished one, waits for one in progress, or makes one no worker has started itself.
//!
//! Invariants: a proof attempt is the same computation whichever thread makes it (the
//! verdicts do not depend on the number of threads); each task is attempted at most once;
//! when the pool is closed, workers start nothing new, and the scope that owns them waits
//! only for the attempts already running.

use crate::diff::Gradients;
use crate::ir::{NodeId, Program};
use crate::simplify::{Limits, ProofOutcome, SimplifyError};
use std::sync::{Condvar, Mutex};

/// What a proof attempt returns.
pub type Attempt = Result<ProofOutcome, SimplifyError>;

/// One proof to attempt: the two sides, as nodes of the program's graph.
#[derive(Debug, Clone, Copy)]
pub struct Task {
    pub lhs: NodeId,
    pub rhs: NodeId,
}

enum State {
    /// Not yet known to be needed.
    Waiting,
    Pending,
    Running,
    Done(Box<Attempt>),
    /// Taken by the checker, or released as not needed.
    Gone,
}

struct Shared {
    states: Vec<State>,
    /// Every needed task has been marked ready: a worker that finds none pending is done.
    marked: bool,
    /// Workers start nothing after this.
    closed: bool,
}

/// Proof attempts for `tasks`, made by workers in a scope and taken by the checker.
pub struct ProofPool<'a> {
    program: &'a Program,
    gradients: Option<&'a Gradients>,
    tasks: Vec<Task>,
    limits: &'a Limits,
    shared: Mutex<Shared>,
    changed: Condvar,
}

impl<'a> ProofPool<'a> {
    pub fn new(
        program: &'a Program,
        gradients: Option<&'a Gradients>,
        tasks: Vec<Task>,
        limits: &'a Limits,
    ) -> ProofPool<'a> {
        let states = tasks.iter().map(|_| State::Waiting).collect();
        ProofPool {
            program,
            gradients,
            tasks,
            limits,
            shared: Mutex::new(Shared {
                states,
                marked: false,
                closed: false,
            }),
            changed: Condvar::new(),
        }
    }

    /// How many workers to run beside the checking thread: one per core, at most four
    /// (proofs are most of a check's work, so the checking thread mostly waits for them);
    /// none for fewer than two tasks.
    pub fn workers(&self) -> usize {
        if self.tasks.len() < 2 {
            return 0;
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        cores.clamp(1, 4)
    }

    fn attempt(&self, i: usize) -> Attempt {
        let t = self.tasks[i];
        super::claims::attempt_proof(self.program, self.gradients, t.lhs, t.rhs, self.limits)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        // A worker that panicked leaves the states consistent (it only ever held the lock
        // to flip one state), so a poisoned lock is still usable.
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A worker: attempt pending tasks in order until none is left or the pool is closed.
    pub fn work(&self) {
        loop {
            let i = {
                let mut shared = self.lock();
                loop {
                    if shared.closed {
                        return;
                    }
                    let next = shared
                        .states
                        .iter()
                        .position(|s| matches!(s, State::Pending));
                    match next {
                        Some(i) => {
                            shared.states[i] = State::Running;
                            break i;
                        }
                        None if shared.marked => return,
                        None => {
                            shared = self.changed.wait(shared).unwrap_or_else(|e| e.into_inner())
                        }
                    }
                }
            };
            let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.attempt(i)));
            let mut shared = self.lock();
            let stop = match done {
                Ok(done) => {
                    shared.states[i] = State::Done(Box::new(done));
                    false
                }
                // A bug: leave the task to the checker, which meets it on its own thread
                // (where the tool reports it), and stop working.
                Err(_) => {
                    shared.states[i] = State::Pending;
                    shared.closed = true;
                    true
                }
            };
            drop(shared);
            self.changed.notify_all();
            if stop {
                return;
            }
        }
    }

    /// Task `i`'s attempt: finished by a worker, awaited, or made here if none started it.
    pub fn take(&self, i: usize) -> Attempt {
        let mut shared = self.lock();
        loop {
            match std::mem::replace(&mut shared.states[i], State::Gone) {
                State::Done(a) => return *a,
                State::Pending | State::Waiting => {
                    drop(shared);
                    return self.attempt(i);
                }
                State::Running => {
                    shared.states[i] = State::Running;
                    shared = self.changed.wait(shared).unwrap_or_else(|e| e.into_inner());
                }
                State::Gone => {
                    // Taken twice: attempt it again rather than fail.
                    drop(shared);
                    return self.attempt(i);
                }
            }
        }
    }

    /// Task `i` will be needed: workers may attempt it.
    pub fn ready(&self, i: usize) {
        let mut shared = self.lock();
        if matches!(shared.states[i], State::Waiting) {
            shared.states[i] = State::Pending;
        }
        drop(shared);
        self.changed.notify_all();
    }

    /// Every task that will be needed is marked ready.
    pub fn all_marked(&self) {
        self.lock().marked = true;
        self.changed.notify_all();
    }

    /// Task `i` is not needed after all (its result is taken or its claim decided).
    pub fn release(&self, i: usize) {
        let mut shared = self.lock();
        if !matches!(shared.states[i], State::Running) {
            shared.states[i] = State::Gone;
        }
    }

    /// Start nothing new (the checker is done).
    pub fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_all();
    }

    /// A guard that closes the pool when dropped, also when the checker unwinds from a panic
    /// (so the scope that joins the workers does not wait for proofs nobody will take).
    pub fn closer(&self) -> Closer<'_, 'a> {
        Closer(self)
    }
}

/// Closes its pool when dropped (see [`ProofPool::closer`]).
pub struct Closer<'p, 'a>(&'p ProofPool<'a>);

impl Drop for Closer<'_, '_> {
    fn drop(&mut self) {
        self.0.close();
    }
}
