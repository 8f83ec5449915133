//! The virtual modem served over raw TCP, opened through `socket://` by the engine.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use modemqtt::modem::Modem;
use modemqtt::sim::{SimConfig, VirtualModem};
use modemqtt::Error;

const DEADLINE: Duration = Duration::from_secs(10);

fn vm() -> VirtualModem {
    VirtualModem::start(SimConfig::default()).expect("virtual modem")
}

fn wait_for(what: &str, f: impl Fn() -> bool) {
    let end = Instant::now() + DEADLINE;
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn socket_url_reaches_the_listener() {
    let m = vm();
    assert_eq!(m.tcp_url(), None);
    let url = m.listen_tcp("127.0.0.1:0").expect("listen");
    assert!(url.starts_with("socket://127.0.0.1:"), "{url}");
    assert_eq!(m.tcp_url().as_deref(), Some(url.as_str()));
    assert!(m.listen_tcp("127.0.0.1:0").is_err(), "listening twice");

    let modem = Modem::open(&url, 115_200, DEADLINE, "auto").expect("open");
    let info = modem.info().expect("info");
    assert_eq!(info.manufacturer, "SIMCOM INCORPORATED");
    // Bytes counted by the modem came in over TCP (nobody opened the pty).
    assert!(m.stats().commands > 0);
    modem.close();
}

#[test]
fn a_new_host_replaces_the_old_one_which_sees_a_port_loss() {
    let m = vm();
    let url = m.listen_tcp("127.0.0.1:0").expect("listen");
    let first = Modem::open(&url, 115_200, DEADLINE, "auto").expect("first open");
    let lost = Arc::new(AtomicUsize::new(0));
    let l2 = Arc::clone(&lost);
    first.engine().on_port_loss(Arc::new(move |_r: &str| {
        l2.fetch_add(1, Ordering::SeqCst);
    }));
    let second = Modem::open(&url, 115_200, DEADLINE, "auto").expect("second open");
    wait_for("the first host's port loss", || {
        lost.load(Ordering::SeqCst) == 1
    });
    assert!(matches!(first.info(), Err(Error::Port(_))));
    second.info().expect("the second host works");
}

#[test]
fn closing_the_modem_is_a_port_loss_and_a_later_open_fails_cleanly() {
    let m = vm();
    let url = m.listen_tcp("127.0.0.1:0").expect("listen");
    let modem = Modem::open(&url, 115_200, DEADLINE, "auto").expect("open");
    m.close();
    wait_for("the port loss", || modem.engine().failure().is_some());
    assert!(matches!(modem.info(), Err(Error::Port(_))));
    match Modem::open(&url, 115_200, Duration::from_secs(2), "auto") {
        Err(Error::Port(_)) => {}
        Err(other) => panic!("unexpected {other:?}"),
        Ok(_) => panic!("opened a closed modem"),
    }
}

#[test]
fn pty_is_answered_again_after_the_tcp_host_leaves() {
    let m = vm();
    let url = m.listen_tcp("127.0.0.1:0").expect("listen");
    let tcp = Modem::open(&url, 115_200, DEADLINE, "auto").expect("tcp open");
    tcp.info().expect("info over tcp");
    tcp.close();
    // The listener notices the close on its own thread: retry the pty open until the
    // output follows it (each attempt has its own deadline).
    let end = Instant::now() + DEADLINE;
    loop {
        match Modem::open(m.port(), 115_200, Duration::from_secs(1), "auto") {
            Ok(pty) => {
                pty.info().expect("info over the pty");
                break;
            }
            Err(e) => assert!(Instant::now() < end, "pty never answered: {e}"),
        }
    }
}
