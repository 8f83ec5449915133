//! Network timing: what the modem learns from the network (connect / subscribe / publish
//! results, received messages, link losses) reaches the host after a network delay, not in
//! the same write as the command's `OK`.
//!
//! [`NetTiming`] says how long: a base delay plus a seeded jitter, drawn once per frame.
//! [`NetDelay`] is the per-modem scheduler: a queue of frames, each with its due time, and a
//! thread (started at the first delayed frame) that writes each one when it is due, under the
//! state lock like every other frame. A frame is never due before the one queued ahead of
//! it, so network output keeps its order (a later event never overtakes an earlier one); the
//! AT answers do not wait for it.
//!
//! With the zero timing (the default, [`NetTiming::FAST`]) and nothing queued, frames are
//! written at once by the caller, exactly as without this module.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, OnceLock, Weak};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::{lock, Shared, SimError};

/// The names [`NetTiming::preset`] takes.
pub const PRESETS: [&str; 2] = ["fast", "realistic"];

/// The longest base delay or jitter accepted (a bound, so that a typo in seconds does not
/// stall a modem for hours).
pub const MAX_DELAY: Duration = Duration::from_secs(60);

/// How long the network takes to answer: each delayed frame waits `delay` plus a jitter
/// drawn uniformly from `[0, jitter]` by a generator seeded with `seed` (same seed, same
/// sequence of delays).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetTiming {
    pub delay: Duration,
    pub jitter: Duration,
    pub seed: u64,
}

impl Default for NetTiming {
    fn default() -> Self {
        NetTiming::FAST
    }
}

impl NetTiming {
    /// No network delay: results follow the command's `OK` at once (the default, for tests).
    pub const FAST: NetTiming = NetTiming {
        delay: Duration::ZERO,
        jitter: Duration::ZERO,
        seed: 0,
    };

    /// Checks the bounds: `delay` and `jitter` at most [`MAX_DELAY`].
    pub fn new(delay: Duration, jitter: Duration, seed: u64) -> Result<NetTiming, SimError> {
        for (name, d) in [("delay", delay), ("jitter", jitter)] {
            if d > MAX_DELAY {
                return Err(SimError::InvalidArgument(format!(
                    "timing {name}: must be 0 to {} s, got {} s",
                    MAX_DELAY.as_secs(),
                    d.as_secs_f64()
                )));
            }
        }
        Ok(NetTiming {
            delay,
            jitter,
            seed,
        })
    }

    /// A named preset for `profile`: "fast" (no delay) or "realistic" (the round trip of the
    /// module's radio access technology, see [`NetTiming::realistic`]).
    pub fn preset(name: &str, profile: &str) -> Result<NetTiming, SimError> {
        let p = super::find_profile(profile)
            .ok_or_else(|| SimError::UnknownProfile(profile.to_owned()))?;
        match name.to_ascii_lowercase().as_str() {
            "fast" => Ok(NetTiming::FAST),
            "realistic" => Ok(NetTiming::realistic(p.act)),
            _ => Err(SimError::InvalidArgument(format!(
                "timing: unknown preset {name:?}; valid presets: {}",
                PRESETS.join(", ")
            ))),
        }
    }

    /// The round trip to a broker over the module's access technology, by the `<AcT>` the
    /// profile reports in `+COPS` (3GPP TS 27.007: 7 E-UTRAN, 8 eMTC (LTE-M), 9 NB-IoT).
    /// Sources in docs/fidelity.md ("Network timing").
    pub fn realistic(act: u8) -> NetTiming {
        let (delay, jitter) = match act {
            // LTE-M: about 0.1 s each way at the edge of normal coverage; a BG95 reported
            // +QMTOPEN 0.33 s after its OK (field trace bg95_esp32bg95_5_qmtopen_fail.at).
            8 => (300, 200),
            // NB-IoT: the low end of the cited 1.6-10 s latency.
            9 => (1600, 800),
            // LTE Cat-1 / Cat-4: a guess (no measured round trip at hand), with less jitter
            // than LTE-M; not below 0.3 s, where pico_lte (its reads come 0.2 s after a
            // command) drops results (docs/fidelity.md).
            _ => (300, 100),
        };
        NetTiming {
            delay: Duration::from_millis(delay),
            jitter: Duration::from_millis(jitter),
            seed: 1,
        }
    }

    pub fn is_zero(&self) -> bool {
        self.delay.is_zero() && self.jitter.is_zero()
    }

    /// The first `n` delays a modem with this timing uses, in order.
    pub fn delays(&self, n: usize) -> Vec<Duration> {
        let mut rng = Rng::new(self.seed);
        (0..n).map(|_| self.draw(&mut rng)).collect()
    }

    fn draw(&self, rng: &mut Rng) -> Duration {
        let span = self.jitter.as_nanos() as u64;
        let extra = if span == 0 {
            0
        } else {
            rng.next() % (span + 1)
        };
        self.delay + Duration::from_nanos(extra)
    }
}

/// splitmix64: small, fast, and the same sequence on every platform.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[derive(Default)]
struct Queue {
    frames: VecDeque<(Instant, Vec<u8>)>,
    /// Due time of the last frame queued: the next one is never due earlier.
    last_due: Option<Instant>,
    /// A frame was taken from the queue and is not written yet: nothing may go direct.
    busy: bool,
    stop: bool,
}

impl Queue {
    /// Whether a frame may be written at once, with nothing of the network ahead of it.
    fn idle(&self) -> bool {
        self.frames.is_empty() && !self.busy
    }
}

/// The per-modem scheduler of network output.
pub(crate) struct NetDelay {
    timing: Mutex<(NetTiming, Rng)>,
    queue: Mutex<Queue>,
    wake: Condvar,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// The modem, for the thread (set once the modem is built).
    owner: OnceLock<Weak<Shared>>,
}

impl NetDelay {
    pub fn new(timing: NetTiming) -> NetDelay {
        NetDelay {
            timing: Mutex::new((timing, Rng::new(timing.seed))),
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            thread: Mutex::new(None),
            owner: OnceLock::new(),
        }
    }

    /// Names the modem the thread writes to.
    pub fn attach(&self, owner: Weak<Shared>) {
        let _ = self.owner.set(owner);
    }

    pub fn timing(&self) -> NetTiming {
        lock(&self.timing).0
    }

    /// The next delay of the timing's sequence, for a family that keeps its network reports
    /// itself until the host asks for them (the Alibaba firmware's yield windows).
    pub fn draw(&self) -> Duration {
        let mut t = lock(&self.timing);
        let (timing, rng) = &mut *t;
        if timing.is_zero() {
            Duration::ZERO
        } else {
            timing.draw(rng)
        }
    }

    /// Replaces the timing (and restarts its jitter sequence); frames already queued keep
    /// their due times.
    pub fn set_timing(&self, t: NetTiming) {
        *lock(&self.timing) = (t, Rng::new(t.seed));
    }

    /// Drops the frames not yet written (a reboot: the old links' news never arrives).
    pub fn clear(&self) {
        let mut q = lock(&self.queue);
        q.frames.clear();
        q.last_due = None;
    }

    /// Stops the thread (at close); queued frames are dropped.
    pub fn stop(&self) {
        {
            let mut q = lock(&self.queue);
            q.stop = true;
            q.frames.clear();
        }
        self.wake.notify_all();
        if let Some(h) = lock(&self.thread).take() {
            super::join_until(h, Instant::now() + Duration::from_secs(2));
        }
    }
}

impl Shared {
    /// Writes a frame that comes from the network: at once with no network delay (and
    /// nothing queued), else when its delay has passed, after every network frame queued
    /// before it. Called with the state lock held, like `write_frame`.
    pub(crate) fn write_net(&self, data: Vec<u8>) {
        if data.is_empty() {
            return;
        }
        let net = &self.net;
        let d = net.draw();
        let mut q = lock(&net.queue);
        if q.stop {
            return;
        }
        if d.is_zero() && q.idle() {
            drop(q);
            self.write_frame(&data);
            return;
        }
        let now = Instant::now();
        let due = (now + d).max(q.last_due.unwrap_or(now));
        q.last_due = Some(due);
        q.frames.push_back((due, data));
        drop(q);
        self.ensure_net_thread();
        net.wake.notify_all();
    }

    fn ensure_net_thread(&self) {
        let mut slot = lock(&self.net.thread);
        if slot.is_some() {
            return;
        }
        let Some(weak) = self.net.owner.get().cloned() else {
            return;
        };
        match thread::Builder::new()
            .name("vmodem-net".to_owned())
            .spawn(move || net_loop(weak))
        {
            Ok(h) => *slot = Some(h),
            Err(e) => log::error!("virtual modem: cannot spawn the network timing thread: {e}"),
        }
    }
}

/// Writes each queued frame when it is due. Holds only a weak reference between frames, so
/// a modem dropped without `close()` still goes away.
fn net_loop(weak: Weak<Shared>) {
    loop {
        let Some(shared) = weak.upgrade() else {
            return;
        };
        let frame = {
            let net = &shared.net;
            let mut q = lock(&net.queue);
            loop {
                if q.stop || shared.closed.load(std::sync::atomic::Ordering::Acquire) {
                    return;
                }
                let now = Instant::now();
                match q.frames.front() {
                    Some((due, _)) if *due <= now => {
                        q.busy = true;
                        break q.frames.pop_front();
                    }
                    Some((due, _)) => {
                        // Wake at most every 100 ms to notice a modem dropped meanwhile.
                        let wait = (*due - now).min(Duration::from_millis(100));
                        q = net
                            .wake
                            .wait_timeout(q, wait)
                            .unwrap_or_else(|e| e.into_inner())
                            .0;
                    }
                    None => {
                        q = net
                            .wake
                            .wait_timeout(q, Duration::from_millis(100))
                            .unwrap_or_else(|e| e.into_inner())
                            .0;
                        if q.frames.is_empty() {
                            break None;
                        }
                    }
                }
            }
        };
        if let Some((_, data)) = frame {
            // Under the state lock, like every other frame: never inside a command's
            // answer. The queue lock is not held, so commands keep running meanwhile.
            {
                let _st = shared.state();
                shared.write_frame(&data);
            }
            lock(&shared.net.queue).busy = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_delays() {
        let t = NetTiming::new(Duration::from_millis(100), Duration::from_millis(50), 42)
            .expect("valid");
        let a = t.delays(20);
        assert_eq!(a, t.delays(20));
        assert!(a.iter().all(|d| *d >= t.delay && *d <= t.delay + t.jitter));
        // The jitter does vary.
        assert!(a.windows(2).any(|w| w[0] != w[1]));
        let other = NetTiming { seed: 43, ..t };
        assert_ne!(a, other.delays(20));
    }

    #[test]
    fn no_jitter_gives_the_base_delay() {
        let t = NetTiming::new(Duration::from_millis(7), Duration::ZERO, 3).expect("valid");
        assert_eq!(t.delays(3), vec![Duration::from_millis(7); 3]);
        assert!(NetTiming::FAST.is_zero());
        assert_eq!(NetTiming::default(), NetTiming::FAST);
    }

    #[test]
    fn bounds_are_checked() {
        let e = NetTiming::new(Duration::from_secs(61), Duration::ZERO, 0).unwrap_err();
        assert!(e.to_string().contains("timing delay"), "{e}");
        let e = NetTiming::new(Duration::ZERO, Duration::from_secs(100), 0).unwrap_err();
        assert!(e.to_string().contains("timing jitter"), "{e}");
    }

    #[test]
    fn presets_follow_the_access_technology() {
        let fast = NetTiming::preset("fast", "bg96").expect("preset");
        assert!(fast.is_zero());
        let ms = |p: &str| {
            NetTiming::preset("realistic", p)
                .expect("preset")
                .delay
                .as_millis()
        };
        for p in ["a7600", "sim7600", "ec20", "ec25", "eg91"] {
            assert_eq!(ms(p), 300, "{p}");
        }
        assert_eq!(ms("bg96"), 300);
        assert_eq!(ms("sim7028"), 1600);
        let named = NetTiming::preset("Realistic", "BG96").expect("case-insensitive");
        assert_eq!(named.delay.as_millis(), 300);
        let e = NetTiming::preset("slow", "bg96").unwrap_err();
        assert!(e.to_string().contains("fast, realistic"), "{e}");
        assert!(NetTiming::preset("fast", "nope").is_err());
    }
}
