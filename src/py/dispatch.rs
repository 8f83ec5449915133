//! Delivers callbacks to Python on one thread per modem, taking the GIL once per batch.
//! The reader thread only pushes to a channel here: it never waits on Python.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use crossbeam_channel::{unbounded, Receiver, Sender};
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::PyTraverseError;

use crate::mqtt::ClientShared;

use super::types::Message;

/// A client's Python callbacks.
#[derive(Default)]
pub struct Callbacks {
    pub on_message: Mutex<Option<Py<PyAny>>>,
    pub on_disconnect: Mutex<Option<Py<PyAny>>>,
    pub on_connect: Mutex<Option<Py<PyAny>>>,
    /// Set while `on_message` is set: every message goes to it (and a copy stays queued for
    /// `wait_message` / `messages`).
    pub has_on_message: AtomicBool,
    /// Set while a drain of the inbox is scheduled, so one burst makes one item.
    pub drain_scheduled: AtomicBool,
}

impl Callbacks {
    fn slots(&self) -> [&Mutex<Option<Py<PyAny>>>; 3] {
        [&self.on_message, &self.on_disconnect, &self.on_connect]
    }

    /// For `__traverse__`: visits the callables set (a slot being set right now is
    /// skipped: that only keeps it alive one collection longer).
    pub fn traverse(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        for slot in self.slots() {
            if let Ok(cb) = slot.try_lock() {
                if let Some(cb) = cb.as_ref() {
                    visit.call(cb)?;
                }
            }
        }
        Ok(())
    }

    /// For `__clear__`: forgets every callable, breaking cycles through them.
    pub fn clear(&self) {
        self.has_on_message.store(false, Ordering::SeqCst);
        for slot in self.slots() {
            let cb = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
            drop(cb);
        }
    }
}

pub enum Item {
    Drain(Arc<Callbacks>, Weak<ClientShared>),
    Disconnected(Arc<Callbacks>, i32),
    Connected(Arc<Callbacks>),
    Urc(Arc<Mutex<Option<Py<PyAny>>>>, String),
}

#[derive(Clone)]
pub struct Dispatcher {
    tx: Sender<Item>,
}

const BATCH: usize = 256;

impl Dispatcher {
    pub fn start(name: &str) -> Dispatcher {
        let (tx, rx) = unbounded();
        let spawned = std::thread::Builder::new()
            .name(format!("modemqtt-cb {name}"))
            .spawn(move || run(rx));
        if let Err(e) = spawned {
            log::error!("cannot start the callback thread: {e}");
        }
        Dispatcher { tx }
    }

    pub fn send(&self, item: Item) {
        let _ = self.tx.send(item);
    }
}

fn call(
    py: Python<'_>,
    slot: &Mutex<Option<Py<PyAny>>>,
    args: impl for<'p> FnOnce(Python<'p>) -> PyResult<Bound<'p, pyo3::types::PyTuple>>,
) {
    let cb = slot
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .map(|c| c.clone_ref(py));
    if let Some(cb) = cb {
        let res = args(py).and_then(|a| cb.call1(py, a));
        if let Err(e) = res {
            log::error!("exception in a modemqtt callback: {e}");
            e.display(py);
        }
    }
}

fn run(rx: Receiver<Item>) {
    let mut batch = Vec::with_capacity(BATCH);
    while let Ok(first) = rx.recv() {
        batch.push(first);
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        let done = super::gate::enter(|| {
            Python::try_attach(|py| {
                for item in batch.drain(..) {
                    handle(py, item);
                }
            })
        });
        if done.flatten().is_none() {
            return; // the interpreter is exiting
        }
    }
}

fn handle(py: Python<'_>, item: Item) {
    match item {
        Item::Drain(cbs, shared) => {
            cbs.drain_scheduled.store(false, Ordering::SeqCst);
            let Some(shared) = shared.upgrade() else {
                return;
            };
            while cbs.has_on_message.load(Ordering::SeqCst) {
                let Some(m) = shared.next_for_callback() else {
                    break;
                };
                call(py, &cbs.on_message, |py| {
                    let msg = Bound::new(py, Message::from_core(m))?;
                    pyo3::types::PyTuple::new(py, [msg])
                });
            }
        }
        Item::Disconnected(cbs, cause) => {
            call(py, &cbs.on_disconnect, |py| {
                pyo3::types::PyTuple::new(py, [cause])
            });
        }
        Item::Connected(cbs) => {
            call(py, &cbs.on_connect, |py| {
                Ok(pyo3::types::PyTuple::empty(py))
            });
        }
        Item::Urc(slot, line) => {
            call(py, &slot, |py| pyo3::types::PyTuple::new(py, [line]));
        }
    }
}
