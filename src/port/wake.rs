//! A serial reader that sleeps until data arrives or it is woken, instead of polling.
//!
//! The engine's reader thread used to read with a 100 ms timeout so that it noticed a
//! close; with many idle ports that is ten wake-ups a second each for nothing. Here the
//! read waits in `poll()` on the port and on a pipe: [`Waker::wake`] (called by
//! `Engine::close` and when the engine is dropped) writes one byte into the pipe, and every
//! read from then on returns `Interrupted` at once, so the reader thread looks at its stop
//! flag and ends. The wait still has a deadline ([`IDLE_WAIT`]): a read that saw nothing
//! returns `TimedOut`, which the reader treats as "nothing yet".

use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

/// Longest single wait for input; only bounds how long a lost wake-up could go unnoticed.
pub const IDLE_WAIT: Duration = Duration::from_secs(30);

/// Wakes the reader it was made with; cheap to clone.
#[derive(Clone)]
pub struct Waker {
    tx: Arc<OwnedFd>,
}

impl Waker {
    pub fn wake(&self) {
        let b = [1u8];
        // SAFETY: writes one byte from a valid buffer into a descriptor we own. A full pipe
        // (EAGAIN) means a wake-up is already pending, which is all that is needed.
        unsafe {
            libc::write(self.tx.as_raw_fd(), b.as_ptr().cast(), 1);
        }
    }
}

impl std::fmt::Debug for Waker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Waker")
    }
}

/// Reads from `inner` (anything with a descriptor that `poll()` understands).
pub struct WakeableReader<R> {
    inner: R,
    rx: OwnedFd,
}

/// Wraps `inner`; the reader waits on its descriptor and on the returned waker.
pub fn wakeable<R: Read + AsRawFd>(inner: R) -> io::Result<(WakeableReader<R>, Waker)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 fills two descriptors on success, which we then own.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just created and are owned by nobody else.
    let (rx, tx) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    Ok((WakeableReader { inner, rx }, Waker { tx: Arc::new(tx) }))
}

fn poll2(a: RawFd, b: RawFd, timeout: Duration) -> io::Result<(libc::c_short, libc::c_short)> {
    let mut pfds = [
        libc::pollfd {
            fd: a,
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: b,
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
    // SAFETY: two valid pollfd structures.
    let r = unsafe { libc::poll(pfds.as_mut_ptr(), 2, ms) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((pfds[0].revents, pfds[1].revents))
}

impl<R: Read + AsRawFd> Read for WakeableReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let (port, wake) = poll2(self.inner.as_raw_fd(), self.rx.as_raw_fd(), IDLE_WAIT)?;
        if wake != 0 {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "woken to stop"));
        }
        if port == 0 {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "no data yet"));
        }
        // Readable, or hung up / failed: the read itself reports which.
        self.inner.read(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::net::UnixStream;

    #[test]
    fn reads_data_then_wakes_on_request() {
        let (a, mut b) = UnixStream::pair().unwrap();
        let (mut r, w) = wakeable(a).unwrap();
        b.write_all(b"hello").unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(r.read(&mut buf).unwrap(), 5);
        assert_eq!(&buf[..5], b"hello");
        let waker = w.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            waker.wake();
        });
        let e = r.read(&mut buf).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::Interrupted);
        t.join().unwrap();
        // Stays woken: the reader thread sees its stop flag on every later read.
        assert_eq!(
            r.read(&mut buf).unwrap_err().kind(),
            io::ErrorKind::Interrupted
        );
    }

    #[test]
    fn peer_closing_is_a_read_of_zero() {
        let (a, b) = UnixStream::pair().unwrap();
        let (mut r, _w) = wakeable(a).unwrap();
        drop(b);
        let mut buf = [0u8; 4];
        assert_eq!(r.read(&mut buf).unwrap(), 0);
    }
}
