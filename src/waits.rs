//! Limits on the waits of the calling thread: a deadline that caps every command the thread
//! runs (so that `close()` honours one bound over several commands, even against a hung
//! modem), and an interrupt check that waits call every [`CHECK_EVERY`] (so that Ctrl-C
//! reaches a Python caller blocked on the modem).
//!
//! Both are per thread and nest: an inner cap never extends an outer one. The engine, the
//! MQTT client's operation lock and the other waits of the core consult them; nothing here
//! blocks.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// How often a wait asks the interrupt check while one is installed.
pub const CHECK_EVERY: Duration = Duration::from_millis(50);

type Check = Rc<dyn Fn() -> bool>;

#[derive(Default)]
struct Limits {
    cap: Option<Instant>,
    check: Option<Check>,
    interrupted: bool,
}

thread_local! {
    static LIMITS: RefCell<Limits> = RefCell::new(Limits::default());
}

/// Restores the previous limits when dropped (also on panic).
struct Restore {
    cap: Option<Instant>,
    check: Option<Option<Check>>,
}

impl Drop for Restore {
    fn drop(&mut self) {
        let cap = self.cap;
        let check = self.check.take();
        LIMITS.with(|l| {
            let mut l = l.borrow_mut();
            l.cap = cap;
            if let Some(c) = check {
                l.check = c;
                l.interrupted = false;
            }
        });
    }
}

/// Runs `f` with every wait of this thread ending at `deadline` at the latest.
pub fn with_cap<R>(deadline: Instant, f: impl FnOnce() -> R) -> R {
    let old = LIMITS.with(|l| {
        let mut l = l.borrow_mut();
        let old = l.cap;
        l.cap = Some(old.map_or(deadline, |o| o.min(deadline)));
        old
    });
    let _restore = Restore {
        cap: old,
        check: None,
    };
    f()
}

/// Runs `f` with `check` asked every [`CHECK_EVERY`] by the waits of this thread; once it
/// returns true the wait in progress ends with [`crate::error::Error::Interrupted`], and so
/// does every later one inside `f`.
pub fn with_interrupt<R>(check: impl Fn() -> bool + 'static, f: impl FnOnce() -> R) -> R {
    let (old_cap, old_check) = LIMITS.with(|l| {
        let mut l = l.borrow_mut();
        l.interrupted = false;
        (l.cap, l.check.replace(Rc::new(check)))
    });
    let _restore = Restore {
        cap: old_cap,
        check: Some(old_check),
    };
    f()
}

/// The cap of this thread's waits, if one is set.
pub fn cap() -> Option<Instant> {
    LIMITS.with(|l| l.borrow().cap)
}

/// `deadline`, brought forward to the thread's cap.
pub fn capped(deadline: Instant) -> Instant {
    cap().map_or(deadline, |c| c.min(deadline))
}

/// Whether an interrupt check is installed on this thread.
pub fn interruptible() -> bool {
    LIMITS.with(|l| l.borrow().check.is_some())
}

/// Asks the interrupt check (if any); true once it has said so.
pub fn interrupted() -> bool {
    let check = LIMITS.with(|l| {
        let l = l.borrow();
        if l.interrupted {
            return None;
        }
        l.check.clone()
    });
    match check {
        None => LIMITS.with(|l| l.borrow().interrupted),
        Some(c) => {
            let hit = c();
            if hit {
                LIMITS.with(|l| l.borrow_mut().interrupted = true);
            }
            hit
        }
    }
}

/// Whether the interrupt check has already fired on this thread (does not ask it).
pub fn was_interrupted() -> bool {
    LIMITS.with(|l| l.borrow().interrupted)
}

/// When a wait that would sleep until `deadline` must wake up to ask the interrupt check.
pub fn next_check(deadline: Instant) -> Instant {
    if interruptible() {
        deadline.min(Instant::now() + CHECK_EVERY)
    } else {
        deadline
    }
}

/// Sleeps for `d`, or less when the cap comes first or the interrupt check fires.
/// Returns false when it was cut short by an interrupt.
pub fn sleep(d: Duration) -> bool {
    let end = capped(Instant::now() + d);
    loop {
        let now = Instant::now();
        if now >= end {
            return true;
        }
        std::thread::sleep(next_check(end) - now);
        if interrupted() {
            return false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn caps_nest_and_restore() {
        let now = Instant::now();
        let far = now + Duration::from_secs(100);
        let near = now + Duration::from_secs(1);
        assert_eq!(cap(), None);
        with_cap(near, || {
            assert_eq!(cap(), Some(near));
            with_cap(far, || assert_eq!(cap(), Some(near)));
            assert_eq!(capped(far), near);
        });
        assert_eq!(cap(), None);
        assert_eq!(capped(far), far);
    }

    #[test]
    fn interrupt_is_sticky_inside_and_cleared_after() {
        let calls = Rc::new(Cell::new(0));
        let c = calls.clone();
        with_interrupt(
            move || {
                c.set(c.get() + 1);
                c.get() >= 2
            },
            || {
                assert!(interruptible());
                assert!(!interrupted());
                assert!(interrupted());
                // Sticky: the check is not asked again.
                assert!(interrupted());
                assert!(!sleep(Duration::from_secs(10)));
            },
        );
        assert_eq!(calls.get(), 2);
        assert!(!interruptible());
        assert!(!interrupted());
    }

    #[test]
    fn sleep_ends_at_the_cap() {
        let start = Instant::now();
        with_cap(start + Duration::from_millis(20), || {
            assert!(sleep(Duration::from_secs(30)));
        });
        assert!(start.elapsed() < Duration::from_secs(30));
    }
}
