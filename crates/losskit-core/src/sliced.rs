//! Time-sliced execution: a kernel that runs only while its caller waits.
//!
//! [`Sliced::start`] hands a job to a driver thread, which does not run it yet.
//! Each [`Sliced::resume`] lets the job run for a time budget while the caller
//! blocks; the job stops at its next checkpoint after the budget (the parallel
//! loops of [`crate::par`] call one between rounds of chunks) and the caller
//! returns. The job therefore never runs while its caller does anything else.
//!
//! The Node binding uses this for `losskit/async`: the caller is the JavaScript
//! thread, which re-checks every buffer before each slice. No JavaScript can
//! run while the kernel touches the buffers, so none can detach or shrink them
//! under it, and between slices the event loop turns. No copy of any input.

use std::any::Any;
use std::cell::Cell;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for the caller's next `resume`.
    Paused,
    /// Running until the deadline.
    Running(Instant),
    /// Asked to stop: the next checkpoint unwinds.
    Cancel,
    /// Finished (or cancelled); the result is stored.
    Done,
}

struct Shared<R> {
    state: Mutex<(State, Option<std::thread::Result<R>>)>,
    cv: Condvar,
}

impl<R> Shared<R> {
    fn lock(&self) -> MutexGuard<'_, (State, Option<std::thread::Result<R>>)> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
    fn wait<'a>(
        &self,
        g: MutexGuard<'a, (State, Option<std::thread::Result<R>>)>,
        until: impl Fn(State) -> bool,
    ) -> MutexGuard<'a, (State, Option<std::thread::Result<R>>)> {
        self.cv.wait_while(g, |s| !until(s.0)).unwrap_or_else(PoisonError::into_inner)
    }
}

/// The payload a cancelled job unwinds with.
struct Cancelled;

/// What [`checkpoint`] consults on a driver thread.
trait Gate {
    fn checkpoint(&self);
    fn remaining(&self) -> Duration;
}

impl<R> Gate for Shared<R> {
    fn remaining(&self) -> Duration {
        match self.lock().0 {
            State::Running(deadline) => deadline.saturating_duration_since(Instant::now()),
            _ => Duration::ZERO,
        }
    }

    fn checkpoint(&self) {
        let mut g = self.lock();
        if let State::Running(deadline) = g.0 {
            if Instant::now() < deadline {
                return;
            }
            g.0 = State::Paused;
            self.cv.notify_all();
            g = self.wait(g, |s| s != State::Paused);
        }
        if g.0 == State::Cancel {
            drop(g);
            resume_unwind(Box::new(Cancelled));
        }
    }
}

thread_local! {
    /// The gate of the job this driver thread is running (none elsewhere).
    static GATE: Cell<Option<*const dyn Gate>> = const { Cell::new(None) };
}

/// Where a sliced job may pause. Outside a sliced job (every sync call, every
/// rayon worker) it does nothing. Must not be called while other threads work
/// on the job's memory (the parallel loops call it between rounds).
pub(crate) fn checkpoint() {
    GATE.with(|g| {
        if let Some(p) = g.get() {
            // SAFETY: set by `Sliced::start`'s driver closure for the duration of
            // the job, pointing at its `Shared`, which outlives the job.
            unsafe { (*p).checkpoint() }
        }
    });
}

/// The time left in the current slice of the sliced job this thread runs
/// (`None` outside one): the parallel loops size their next round to it.
pub(crate) fn remaining() -> Option<Duration> {
    GATE.with(|g| {
        // SAFETY: as in `checkpoint`.
        g.get().map(|p| unsafe { (*p).remaining() })
    })
}

/// Whether the current thread runs a sliced job (the parallel loops then work
/// in rounds, with a checkpoint between rounds).
pub(crate) fn active() -> bool {
    GATE.with(|g| g.get().is_some())
}

type Task = Box<dyn FnOnce() + Send>;

/// Idle driver threads, each waiting on its own channel.
fn idle() -> &'static Mutex<Vec<Sender<Task>>> {
    static IDLE: Mutex<Vec<Sender<Task>>> = Mutex::new(Vec::new());
    &IDLE
}

fn spawn_driver(task: Task) -> std::io::Result<()> {
    let (tx, rx) = channel::<Task>();
    let back = tx.clone();
    std::thread::Builder::new().name("losskit-async".into()).spawn(move || {
        while let Ok(t) = rx.recv() {
            t();
            idle().lock().unwrap_or_else(PoisonError::into_inner).push(back.clone());
        }
    })?;
    // Cannot fail: the thread holds the receiver while `back` lives.
    let _ = tx.send(task);
    Ok(())
}

fn dispatch(mut task: Task) -> std::io::Result<()> {
    loop {
        let tx = idle().lock().unwrap_or_else(PoisonError::into_inner).pop();
        let Some(tx) = tx else { break };
        match tx.send(task) {
            Ok(()) => return Ok(()),
            Err(e) => task = e.0, // that driver is gone; try another
        }
    }
    spawn_driver(task)
}

/// A job started on a driver thread that runs only inside [`Sliced::resume`].
pub struct Sliced<R> {
    shared: Arc<Shared<R>>,
    finished: bool,
}

/// The outcome of one [`Sliced::resume`].
pub enum Step<R> {
    /// Paused at a checkpoint after the budget; resume again.
    Pending,
    /// Finished: the job's value, or the payload of its panic.
    Done(std::thread::Result<R>),
}

impl<R: Send + 'static> Sliced<R> {
    /// Hands `job` to a driver thread; it starts at the first `resume`.
    ///
    /// # Errors
    /// When no driver is idle and the OS refuses a new thread.
    pub fn start(job: impl FnOnce() -> R + Send + 'static) -> std::io::Result<Self> {
        let shared = Arc::new(Shared { state: Mutex::new((State::Paused, None)), cv: Condvar::new() });
        let s = Arc::clone(&shared);
        dispatch(Box::new(move || {
            let g = s.lock();
            let g = s.wait(g, |st| st != State::Paused);
            let cancelled = g.0 == State::Cancel;
            drop(g);
            let r = if cancelled {
                Err(Box::new(Cancelled) as Box<dyn Any + Send>)
            } else {
                let gate: &dyn Gate = &*s;
                // SAFETY (of the pointer's use in `checkpoint`): reset below,
                // before `s` can be dropped, on every path (catch_unwind).
                let gate: *const (dyn Gate + '_) = gate;
                // SAFETY: lifetime extended only while `s` is alive (this closure).
                let gate: *const (dyn Gate + 'static) = unsafe { std::mem::transmute(gate) };
                GATE.with(|c| c.set(Some(gate)));
                let r = catch_unwind(AssertUnwindSafe(job));
                GATE.with(|c| c.set(None));
                r
            };
            let mut g = s.lock();
            *g = (State::Done, Some(r));
            s.cv.notify_all();
        }))?;
        Ok(Self { shared, finished: false })
    }

    /// Lets the job run for `budget` (then to its next checkpoint) while the
    /// calling thread waits.
    pub fn resume(&mut self, budget: Duration) -> Step<R> {
        let mut g = self.shared.lock();
        if g.0 == State::Paused {
            g.0 = State::Running(Instant::now() + budget);
            self.shared.cv.notify_all();
        }
        let mut g = self.shared.wait(g, |s| matches!(s, State::Paused | State::Done));
        if g.0 == State::Done {
            self.finished = true;
            Step::Done(g.1.take().unwrap_or_else(|| Err(Box::new("result already taken"))))
        } else {
            Step::Pending
        }
    }
}

impl<R> Sliced<R> {
    /// Stops the job at its next checkpoint and waits until it has unwound.
    pub fn cancel(&mut self) {
        if self.finished {
            return;
        }
        let mut g = self.shared.lock();
        if g.0 != State::Done {
            g.0 = State::Cancel;
            self.shared.cv.notify_all();
            g = self.shared.wait(g, |s| s == State::Done);
        }
        g.1 = None;
        self.finished = true;
    }

    /// Whether the job has finished (or was cancelled).
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.finished
    }
}

impl<R> Drop for Sliced<R> {
    fn drop(&mut self) {
        // Never leave a driver parked forever: cancel and wait for it.
        self.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::par::map_chunks;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn sum_sliced(n: usize) -> (f64, usize) {
        let data: Vec<f64> = (0..n).map(|i| (i as f64).sin()).collect();
        let sync: f64 = map_chunks(n, 1, |s, e| data[s..e].iter().sum::<f64>()).iter().sum();
        let d = Arc::new(data);
        let d2 = Arc::clone(&d);
        let mut job =
            Sliced::start(move || map_chunks(n, 1, |s, e| d2[s..e].iter().sum::<f64>()).iter().sum::<f64>())
                .unwrap();
        let mut steps = 0;
        loop {
            steps += 1;
            match job.resume(Duration::from_micros(50)) {
                Step::Pending => {}
                Step::Done(r) => {
                    let v = r.expect("no panic");
                    assert_eq!(v.to_bits(), sync.to_bits(), "sliced sum differs from the sync sum");
                    return (v, steps);
                }
            }
        }
    }

    #[test]
    fn sliced_runs_in_several_steps_with_the_sync_bits() {
        let (_, steps) = sum_sliced(1 << 24);
        assert!(steps > 1, "a 16M-element job took a single 50 µs step");
    }

    #[test]
    fn cancel_unwinds_a_paused_job_and_runs_its_drops() {
        static DROPPED: AtomicUsize = AtomicUsize::new(0);
        struct D;
        impl Drop for D {
            fn drop(&mut self) {
                DROPPED.fetch_add(1, Ordering::SeqCst);
            }
        }
        let n = 1 << 24;
        let data: Arc<Vec<f32>> = Arc::new(vec![1.0; n]);
        let mut job = Sliced::start(move || {
            let _d = D;
            map_chunks(n, 1, |s, e| data[s..e].iter().map(|&v| f64::from(v)).sum::<f64>()).iter().sum::<f64>()
        })
        .unwrap();
        assert!(matches!(job.resume(Duration::from_micros(10)), Step::Pending));
        job.cancel();
        assert_eq!(DROPPED.load(Ordering::SeqCst), 1);
        assert!(job.is_finished());
    }

    #[test]
    fn a_panicking_job_reports_its_panic_and_the_driver_survives() {
        let mut job = Sliced::start(|| -> f64 { panic!("boom") }).unwrap();
        match job.resume(Duration::from_millis(5)) {
            Step::Done(Err(p)) => assert_eq!(p.downcast_ref::<&str>().copied(), Some("boom")),
            _ => panic!("expected the panic"),
        }
        // the driver thread is reused for the next job
        let mut job = Sliced::start(|| 7.0).unwrap();
        assert!(matches!(job.resume(Duration::from_millis(5)), Step::Done(Ok(v)) if v == 7.0));
    }

    #[test]
    fn a_job_dropped_before_it_starts_never_runs() {
        static RAN: AtomicUsize = AtomicUsize::new(0);
        drop(Sliced::start(|| RAN.fetch_add(1, Ordering::SeqCst)).unwrap());
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(RAN.load(Ordering::SeqCst), 0);
    }
}
