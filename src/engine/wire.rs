//! What crosses the port: writes (each kept in the transcript and the recording), the
//! reader thread, and carrying out the events the session hands out (write after a prompt,
//! route a URC, wake the waiting caller, fail everything when the port is lost).

use std::io::{Read, Write};
use std::sync::atomic::Ordering;
use std::sync::MutexGuard;
use std::time::Instant;

use super::{lock, transcript, Direction, Inner, LossHandler, Wake};
use crate::at::session::{Event, Session};
use crate::at::Frame;
use crate::error::{Error, Result};
use crate::port;

pub(super) fn write_all(inner: &Inner, bytes: &[u8], masked: &[u8]) -> Result<()> {
    let mut writer = lock(&inner.writer);
    write_locked(inner, &mut writer, bytes, masked)
}

pub(super) fn write_locked(
    inner: &Inner,
    writer: &mut Box<dyn Write + Send>,
    bytes: &[u8],
    masked: &[u8],
) -> Result<()> {
    if let Some(reason) = lock(&inner.dead).clone() {
        return Err(Error::Port(reason));
    }
    trace(inner, Direction::Tx, masked);
    // No flush(): on a serial port it is tcdrain(), which waits until the UART has sent
    // everything; the kernel buffer keeps the order, and waiting there only adds latency.
    let res = writer.write_all(bytes);
    match res {
        Ok(()) => {
            inner
                .bytes_out
                .fetch_add(bytes.len() as u64, Ordering::Relaxed);
            Ok(())
        }
        Err(e) => Err(Error::Port(format!("{}: write failed: {e}", inner.name))),
    }
}

/// Keeps a chunk in the transcript, hands it (masked like the transcript) to the recorder
/// if one is set, and logs it to `modemqtt.wire`; never blocks.
fn trace(inner: &Inner, direction: Direction, bytes: &[u8]) {
    let mut t = lock(&inner.transcript);
    t.record(direction, bytes);
    let rec = inner.recorder.read().unwrap_or_else(|p| p.into_inner());
    if let Some(r) = rec.as_ref() {
        r.record(direction, &t.mask(bytes));
    }
    if log::log_enabled!(target: "modemqtt.wire", log::Level::Debug) {
        let dir = match direction {
            Direction::Tx => "tx",
            Direction::Rx => "rx",
        };
        log::debug!(target: "modemqtt.wire", "{} {dir} {}", inner.name, transcript::escape(&t.mask(bytes)));
    }
}

pub(super) fn pump(inner: &Inner, mut session: MutexGuard<'_, Session>) {
    let mut events = Vec::new();
    while let Some(ev) = session.poll_event() {
        events.push(ev);
    }
    if session.take_timer_moved() {
        inner.done.push(Wake::Timer);
    }
    if events.is_empty() {
        return;
    }
    // Writes keep their order: the writer lock is taken before the session lock is let go.
    // Handlers and waiters run after both are released, so a handler may use the engine.
    let mut writer = lock(&inner.writer);
    drop(session);
    let mut write_error = None;
    let mut rest = Vec::with_capacity(events.len());
    for ev in events {
        match ev {
            Event::Transmit { bytes, masked } => {
                if write_error.is_none() {
                    if let Err(e) = write_locked(inner, &mut writer, &bytes, &masked) {
                        write_error = Some(e.to_string());
                    }
                }
            }
            other => rest.push(other),
        }
    }
    drop(writer);
    for ev in rest {
        match ev {
            Event::Urc(frame) => dispatch_urc(inner, &frame),
            Event::Done(outcome) => {
                inner.done.push(Wake::Done(outcome));
            }
            Event::Transmit { .. } => {}
        }
    }
    if let Some(reason) = write_error {
        port_failed(inner, reason);
    }
}

pub(super) fn abort_if(
    inner: &Inner,
    reason: &str,
    restarted: bool,
    waits_for: impl Fn(Option<&[u8]>) -> bool,
) {
    let mut session = lock(&inner.session);
    if session.abort_if(reason, restarted, waits_for) {
        log::debug!("{}: command in flight aborted: {reason}", inner.name);
    }
    pump(inner, session);
}

fn dispatch_urc(inner: &Inner, frame: &Frame) {
    let head: &[u8] = match frame {
        Frame::Line(l) => l,
        Frame::Raw { header, .. } => header,
        _ => return,
    };
    let mut handled = false;
    {
        let handlers = inner.handlers.read().unwrap_or_else(|p| p.into_inner());
        for h in handlers.iter() {
            if head.starts_with(&h.prefix) {
                (h.f)(frame);
                handled = true;
            }
        }
    }
    let catch_all = inner
        .catch_all
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    if let Some(f) = catch_all {
        f(frame);
    } else if !handled {
        log::debug!(
            "{}: unsolicited {:?} not handled",
            inner.name,
            String::from_utf8_lossy(head)
        );
    }
}

pub(super) fn port_failed(inner: &Inner, reason: String) {
    {
        let mut dead = lock(&inner.dead);
        if dead.is_some() {
            return;
        }
        log::warn!("{}: {reason}", inner.name);
        *dead = Some(reason.clone());
    }
    let handlers: Vec<LossHandler> = inner
        .loss_handlers
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|(_, f)| f.clone())
        .collect();
    for f in handlers {
        f(&reason);
    }
    // Listeners learn of the loss before the command in flight fails, so whoever waited
    // on that command finds the client state already updated.
    let mut session = lock(&inner.session);
    session.fail(&reason);
    pump(inner, session);
}

pub(super) fn reader_loop(weak: std::sync::Weak<Inner>, mut reader: Box<dyn Read + Send>) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let res = reader.read(&mut buf);
        let Some(inner) = weak.upgrade() else {
            return;
        };
        if inner.stop.load(Ordering::SeqCst) {
            return;
        }
        match res {
            Ok(0) => {
                port_failed(
                    &inner,
                    format!("{}: the port was closed by the other side", inner.name),
                );
                return;
            }
            Ok(n) => {
                let data = &buf[..n];
                inner.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
                trace(&inner, Direction::Rx, data);
                let mut session = lock(&inner.session);
                session.handle_input(Instant::now(), data);
                pump(&inner, session);
            }
            Err(e) if port::is_idle_error(&e) => {}
            Err(e) => {
                port_failed(&inner, format!("{}: read failed: {e}", inner.name));
                return;
            }
        }
    }
}
