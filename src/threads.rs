//! Two pieces of work at once on scoped threads, with a worker's panic raised again on the
//! caller's thread, and, where the system refuses the second thread, the work run in turn.
//!
//! The audit's stages run their halves side by side on the machine's cores (the benchmarks'
//! 2-core machine among them). `std::thread::scope` alone would panic where the operating
//! system refuses a thread (a container's `pids` limit), and every caller would repeat the
//! same join-and-resume dance; [`both`] does each once.

use std::panic::resume_unwind;
use std::sync::{Mutex, PoisonError};
use std::thread::{self, ScopedJoinHandle};

/// Runs `a` on this thread and `b` on a second one, and returns both results, as
/// `rayon::join` does but on plain threads (the callers' work uses polars' own pool inside).
/// A panic in either is raised again here once both have ended. Where no thread can be
/// started, `b` runs here after `a`.
pub fn both<A, B, RA, RB>(a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA,
    B: FnOnce() -> RB + Send,
    RB: Send,
{
    both_on(thread::Builder::new(), a, b)
}

/// [`both`] with the second thread asked of `builder` (the tests ask for one that the system
/// refuses).
fn both_on<A, B, RA, RB>(builder: thread::Builder, a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA,
    B: FnOnce() -> RB + Send,
    RB: Send,
{
    // Held where the spawned closure only borrows it, so that a refused spawn, which drops
    // the closure unrun, leaves `b` here to run in place.
    let second = Mutex::new(Some(b));
    let take = || second.lock().unwrap_or_else(PoisonError::into_inner).take();
    thread::scope(|scope| {
        let other = builder.spawn_scoped(scope, || take().map(|b| b()));
        let first = a();
        let ran = match other {
            Ok(handle) => joined(handle),
            Err(refused) => {
                tracing::debug!(error = %refused, "no second thread: the work runs in turn");
                None
            }
        };
        let ran = ran.unwrap_or_else(|| match take() {
            Some(b) => b(),
            // The spawned thread took `b` and so returned `Some`: unreachable, but a panic
            // here would name it rather than hide it.
            None => unreachable!("the second half of `both` was taken and not run"),
        });
        (first, ran)
    })
}

/// A scoped thread's result, its panic raised again on the joining thread.
pub fn joined<T>(handle: ScopedJoinHandle<'_, T>) -> T {
    handle.join().unwrap_or_else(|panic| resume_unwind(panic))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_returns_each_result_in_its_place() {
        let (a, b) = both(|| 1 + 1, || "two".to_string());
        assert_eq!((a, b.as_str()), (2, "two"));
    }

    #[test]
    fn the_two_halves_run_at_once() {
        // Each half waits for the other to arrive: run in turn, this would never end.
        let barrier = std::sync::Barrier::new(2);
        let (a, b) = both(|| barrier.wait().is_leader(), || barrier.wait().is_leader());
        assert!(a ^ b, "exactly one of the two threads leads");
    }

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_refused_thread_runs_the_second_half_in_place() {
        // A stack no system grants: the spawn fails, as it does at a container's pids limit.
        let refused = thread::Builder::new().stack_size(1 << 50);
        let here = thread::current().id();
        let (a, b) = both_on(
            refused,
            || thread::current().id(),
            || thread::current().id(),
        );
        assert_eq!((a, b), (here, here));
    }

    #[test]
    fn a_panic_on_the_second_thread_is_raised_on_the_caller() {
        let caught = std::panic::catch_unwind(|| both(|| 1, || -> u8 { panic!("second half") }));
        let panic = caught.expect_err("the panic crossed the join");
        assert_eq!(panic.downcast_ref::<&str>(), Some(&"second half"));
    }

    #[test]
    fn a_panic_on_the_caller_waits_for_the_second_half() {
        let finished = std::sync::atomic::AtomicBool::new(false);
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            both(
                || -> u8 { panic!("first half") },
                || {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                    finished.store(true, std::sync::atomic::Ordering::SeqCst);
                },
            )
        }));
        assert!(caught.is_err());
        assert!(finished.load(std::sync::atomic::Ordering::SeqCst));
    }
}
