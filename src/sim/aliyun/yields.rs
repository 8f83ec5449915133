//! The Alibaba firmware's login to the broker and the yield windows that report its MQTT
//! link's events (`AT+CMYIELD`, `AT+CMAUTOYIELD`), queued by `mqtt::link_event`.

use super::*;
use crate::sim::link;

/// The CONNECT options of the platform login for the device triple (the signature carries
/// a timestamp unless `set_sign_timestamp(false)` asked for a stable one).
pub(super) fn login(st: &State, sh: &Shared, pk: &str, dn: &str, ds: &str) -> MqttOptions {
    let now = now_ms().to_string();
    let ts = st.sign_timestamp.then_some(now.as_str());
    // The virtual firmware's own signature code, not the client's (src/sim/sign.rs).
    let sign = crate::sim::sign::login(pk, dn, ds, None, ts, crate::sim::sign::Method::HmacSha1);
    let mut opts = MqttOptions::new(sign.client_id, sh.broker_host.clone(), sh.broker_port);
    opts.set_credentials(sign.username, sign.password);
    opts.set_keep_alive(Duration::from_millis(st.keepalive_ms as u64));
    opts.set_clean_session(st.clean);
    opts.set_max_packet_size(256 * 1024, 256 * 1024);
    // Acknowledged once a yield window wrote it to the host (see `Ev::Message`).
    opts.set_manual_acks(true);
    opts
}

/// Writes the queued reports whose time has come as `+CMYIELD:` lines (state lock held by
/// the caller), and acknowledges the messages among them that came on the current link.
/// Nothing while an `AT+CMCONN` waits: the firmware's AT task is inside the connect.
pub(super) fn drain_reports(m: &mut Modem, sh: &Shared) {
    let Some(st) = st_mut(&mut m.fam).as_mut().filter(|s| !s.conn_wait) else {
        return;
    };
    let now = Instant::now();
    let ready = st.events.iter().take_while(|(due, _)| *due <= now).count();
    let mut out = Vec::new();
    let mut acks = Vec::new();
    for (_, e) in st.events.drain(..ready) {
        match e {
            Ev::Status(s) => out.extend_from_slice(format!("\r\n+CMYIELD: {s}\r\n").as_bytes()),
            Ev::Message(gen, p) => {
                out.extend_from_slice(format!("\r\n+CMYIELD: 12,\"{}\",\"", p.topic).as_bytes());
                out.extend_from_slice(&p.payload);
                out.extend_from_slice(b"\"\r\n");
                sh.stats.delivered.fetch_add(1, Ordering::Relaxed);
                acks.push((gen, p));
            }
        }
    }
    sh.write_frame(&out);
    let current = m.links.get(MQTT).and_then(Option::as_ref);
    for (gen, p) in acks {
        link::ack_stored(sh, current, gen, &p);
    }
}

/// The SDK reconnects from inside a yield after the link was lost (not while a link is
/// there, connected or connecting).
pub(super) fn maybe_reconnect(m: &mut Modem, sh: &Arc<Shared>) {
    if !matches!(m.links.get(MQTT), Some(None)) {
        return;
    }
    let Some(st) = st_mut(&mut m.fam).as_mut().filter(|s| s.object) else {
        return;
    };
    let Some((pk, dn, ds)) = st.auth.clone() else {
        return;
    };
    // The same login as AT+CMCONN's (with or without the timestamp, per `sign_timestamp`).
    let opts = login(st, sh, &pk, &dn, &ds);
    let link = spawn(sh, m, MQTT, opts);
    m.links[MQTT] = link;
}

/// Runs the yield window that the last command asked for (called with no lock held).
pub(super) fn after_command(sh: &Arc<Shared>) {
    let window = {
        let mut m = sh.state();
        let Some(w) = st_mut(&mut m.fam).as_mut().and_then(|st| st.window.take()) else {
            return;
        };
        maybe_reconnect(&mut m, sh);
        w
    };
    run_window(sh, window, None);
}

pub(super) fn run_window(sh: &Arc<Shared>, window: Duration, stop: Option<&AtomicBool>) {
    let end = Instant::now() + window;
    loop {
        {
            let mut m = sh.state();
            if st(&m.fam).is_none() {
                return;
            }
            drain_reports(&mut m, sh);
        }
        let now = Instant::now();
        if now >= end
            || sh.closed.load(Ordering::Acquire)
            || stop.is_some_and(|s| s.load(Ordering::SeqCst))
        {
            return;
        }
        thread::sleep((end - now).min(Duration::from_millis(5)));
    }
}

pub(super) fn autoyield_loop(
    sh: Arc<Shared>,
    stop: Arc<AtomicBool>,
    every: Duration,
    window: Duration,
) {
    loop {
        let until = Instant::now() + every;
        while Instant::now() < until {
            if stop.load(Ordering::SeqCst) || sh.closed.load(Ordering::Acquire) {
                return;
            }
            thread::sleep(Duration::from_millis(20).min(until - Instant::now()));
        }
        {
            let mut m = sh.state();
            if st(&m.fam).is_none() {
                return;
            }
            maybe_reconnect(&mut m, &sh);
        }
        run_window(&sh, window, Some(&stop));
    }
}
