//! The pseudo-terminal the virtual modem answers on.
//!
//! The modem owns the master side. It also keeps one descriptor of the slave
//! side open for its whole life: while any slave descriptor is open the master
//! never reads EIO/HUP, so the host can close and reopen the slave at will.
//! TIOCEXCL is never set here, so the host's own exclusive open succeeds.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub(crate) struct Pty {
    master: OwnedFd,
    _slave: OwnedFd,
    path: String,
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

impl Pty {
    pub(crate) fn open() -> io::Result<Pty> {
        // SAFETY: plain libc calls on descriptors this function owns; every
        // return value is checked.
        unsafe {
            let m = cvt(libc::posix_openpt(
                libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
            ))?;
            let master = OwnedFd::from_raw_fd(m);
            cvt(libc::grantpt(m))?;
            cvt(libc::unlockpt(m))?;
            let mut buf = [0 as libc::c_char; 128];
            let r = libc::ptsname_r(m, buf.as_mut_ptr(), buf.len());
            if r != 0 {
                return Err(io::Error::from_raw_os_error(r));
            }
            let path = CStr::from_ptr(buf.as_ptr()).to_string_lossy().into_owned();
            let s = cvt(libc::open(
                buf.as_ptr(),
                libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
            ))?;
            let slave = OwnedFd::from_raw_fd(s);
            let mut tio: libc::termios = std::mem::zeroed();
            cvt(libc::tcgetattr(s, &mut tio))?;
            libc::cfmakeraw(&mut tio);
            cvt(libc::cfsetispeed(&mut tio, libc::B115200))?;
            cvt(libc::cfsetospeed(&mut tio, libc::B115200))?;
            cvt(libc::tcsetattr(s, libc::TCSANOW, &tio))?;
            // The master is non-blocking: reads and writes wait in poll() with
            // a timeout so that close() is always noticed.
            let fl = cvt(libc::fcntl(m, libc::F_GETFL))?;
            cvt(libc::fcntl(m, libc::F_SETFL, fl | libc::O_NONBLOCK))?;
            Ok(Pty {
                master,
                _slave: slave,
                path,
            })
        }
    }

    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    fn fd(&self) -> RawFd {
        self.master.as_raw_fd()
    }

    fn poll(&self, events: libc::c_short, timeout: Duration) -> io::Result<bool> {
        let mut pfd = libc::pollfd {
            fd: self.fd(),
            events,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, ms) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(false);
            }
            return Err(e);
        }
        Ok(r > 0)
    }

    /// Makes a pending `read` return at once: one byte written into our own
    /// slave descriptor appears on the master (the reader checks its stop
    /// flag before looking at the data).
    pub(crate) fn wake(&self) {
        let b = [0u8; 1];
        // SAFETY: one valid byte; a failure only delays the reader's exit
        // until its poll timeout.
        unsafe {
            libc::write(self._slave.as_raw_fd(), b.as_ptr().cast(), 1);
        }
    }

    /// Reads what the host sent; `Ok(0)` when nothing arrived within `timeout`.
    pub(crate) fn read(&self, buf: &mut [u8], timeout: Duration) -> io::Result<usize> {
        if !self.poll(libc::POLLIN, timeout)? {
            return Ok(0);
        }
        // SAFETY: buf is valid for buf.len() bytes.
        let n = unsafe { libc::read(self.fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(0),
                // EIO cannot happen while our slave descriptor is open; treat
                // it like silence (after a short wait) rather than a failure.
                _ if e.raw_os_error() == Some(libc::EIO) => {
                    std::thread::sleep(timeout.min(Duration::from_millis(100)));
                    Ok(0)
                }
                _ => Err(e),
            };
        }
        Ok(n as usize)
    }

    /// Writes all of `data`, waiting while the host does not read. Gives up
    /// (returning false) once `closed` is set.
    pub(crate) fn write_all(&self, mut data: &[u8], closed: &AtomicBool) -> bool {
        while !data.is_empty() {
            if closed.load(Ordering::Acquire) {
                return false;
            }
            // SAFETY: data is valid for data.len() bytes.
            let n = unsafe { libc::write(self.fd(), data.as_ptr().cast(), data.len()) };
            if n < 0 {
                let e = io::Error::last_os_error();
                match e.kind() {
                    io::ErrorKind::Interrupted => continue,
                    io::ErrorKind::WouldBlock => {
                        if self
                            .poll(libc::POLLOUT, Duration::from_millis(200))
                            .is_err()
                        {
                            return false;
                        }
                        continue;
                    }
                    _ => {
                        log::warn!("virtual modem: write to {} failed: {e}", self.path);
                        return false;
                    }
                }
            }
            data = &data[n as usize..];
        }
        true
    }
}
