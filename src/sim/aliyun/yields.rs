//! The Alibaba firmware's MQTT link to the broker and the yield windows that report its
//! events (`AT+CMYIELD`, `AT+CMAUTOYIELD`).

use super::*;

/// Starts a link to the broker; `connack` receives the outcome of the first CONNACK.
pub(super) fn spawn_link(
    sh: &Arc<Shared>,
    opts: MqttOptions,
    shared: Arc<LinkShared>,
    reconnect: bool,
    subs: Vec<(String, u8)>,
    connack: Option<flume::Sender<bool>>,
) -> Option<MqttLink> {
    let (client, mut eventloop) = AsyncClient::new(opts, 1024);
    let (kill_tx, kill_rx) = flume::bounded::<()>(1);
    let ls = shared.clone();
    let resub = client.clone();
    // The network timing of the modem (`netdelay`): what the broker sends reaches the
    // firmware after its delay.
    let net = Arc::downgrade(sh);
    let spawned = thread::Builder::new()
        .name(format!("vmodem-ali-{}", sh.profile.name))
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    log::error!("virtual modem: cannot build a runtime: {e}");
                    if let Some(tx) = connack {
                        let _ = tx.send(false);
                    }
                    return;
                }
            };
            rt.block_on(async move {
                let mut connack = connack;
                let mut up = false;
                let mut skip_subacks = if reconnect { subs.len() } else { 0 };
                loop {
                    let ev = tokio::select! {
                        _ = kill_rx.recv_async() => return,
                        ev = eventloop.poll() => ev,
                    };
                    let delay = || net.upgrade().map_or(Duration::ZERO, |sh| sh.net.draw());
                    let push = |e: Ev| ls.report(delay(), e);
                    match ev {
                        Ok(Event::Incoming(Incoming::ConnAck(ack))) => {
                            let ok = ack.code == ConnectReturnCode::Success;
                            // AT+CMCONN answers once the CONNACK has crossed the network.
                            let d = delay();
                            if connack.is_some() && !d.is_zero() {
                                tokio::time::sleep(d).await;
                            }
                            // Connected before AT+CMCONN answers, so the next command
                            // finds the link up.
                            if ok {
                                up = true;
                                ls.connected.store(true, Ordering::SeqCst);
                            }
                            if let Some(tx) = connack.take() {
                                let _ = tx.send(ok);
                            }
                            if !ok {
                                return;
                            }
                            if reconnect {
                                for (t, q) in &subs {
                                    let _ = resub.try_subscribe(t.clone(), qos(*q));
                                }
                                push(Ev::Status(2));
                            }
                        }
                        Ok(Event::Incoming(Incoming::Publish(p))) => {
                            push(Ev::Message(
                                p.topic.clone(),
                                p.payload.to_vec(),
                                Box::new((resub.clone(), p)),
                            ));
                        }
                        Ok(Event::Incoming(Incoming::SubAck(s))) => {
                            if skip_subacks > 0 {
                                // Resubscriptions after a reconnect are not reported.
                                skip_subacks -= 1;
                                continue;
                            }
                            let failed = s
                                .return_codes
                                .iter()
                                .any(|c| matches!(c, rumqttc::SubscribeReasonCode::Failure));
                            push(Ev::Status(if failed { 5 } else { 3 }));
                        }
                        Ok(Event::Incoming(Incoming::UnsubAck(_))) => push(Ev::Status(6)),
                        Ok(Event::Incoming(Incoming::PubAck(_))) => push(Ev::Status(9)),
                        Ok(_) => {}
                        Err(rumqttc::ConnectionError::RequestsDone) => return,
                        Err(e) => {
                            if let Some(tx) = connack.take() {
                                let _ = tx.send(false);
                            }
                            if up {
                                log::debug!("virtual modem: aliyun link lost: {e}");
                                ls.connected.store(false, Ordering::SeqCst);
                                push(Ev::Status(1));
                            }
                            return;
                        }
                    }
                }
            });
        });
    match spawned {
        Ok(t) => Some(MqttLink {
            client,
            kill: Some(kill_tx),
            shared,
            thread: Some(t),
        }),
        Err(e) => {
            log::error!("virtual modem: cannot spawn a link thread: {e}");
            None
        }
    }
}

pub(super) fn qos(q: u8) -> QoS {
    if q == 0 {
        QoS::AtMostOnce
    } else {
        QoS::AtLeastOnce
    }
}

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
    // Acknowledged once written to the host (see `Ev::Message`).
    opts.set_manual_acks(true);
    opts
}

/// Writes the queued reports whose time has come as `+CMYIELD:` lines (state lock held by
/// the caller).
pub(super) fn drain_reports(st: &mut State, sh: &Shared) {
    let events: Vec<Ev> = {
        let mut q = lock(&st.link_shared.events);
        let now = Instant::now();
        let ready = q.iter().take_while(|(due, _)| *due <= now).count();
        q.drain(..ready).map(|(_, e)| e).collect()
    };
    let mut out = Vec::new();
    let mut acks = Vec::new();
    for e in events {
        match e {
            Ev::Status(s) => out.extend_from_slice(format!("\r\n+CMYIELD: {s}\r\n").as_bytes()),
            Ev::Message(t, p, ack) => {
                out.extend_from_slice(format!("\r\n+CMYIELD: 12,\"{t}\",\"").as_bytes());
                out.extend_from_slice(&p);
                out.extend_from_slice(b"\"\r\n");
                sh.stats.delivered.fetch_add(1, Ordering::Relaxed);
                acks.push(ack);
            }
        }
    }
    sh.write_frame(&out);
    for ack in acks {
        let (client, p) = *ack;
        // A link that is gone leaves the message with the broker.
        if let Err(e) = client.try_ack(&p) {
            log::debug!("virtual modem: aliyun: acknowledging a delivered message: {e}");
        }
    }
}

/// The SDK reconnects from inside a yield after the link was lost.
pub(super) fn maybe_reconnect(st: &mut State, sh: &Arc<Shared>) {
    if !st.object || st.connected() {
        return;
    }
    if st
        .link
        .as_ref()
        .is_some_and(|l| l.thread.as_ref().is_some_and(|t| !t.is_finished()))
    {
        return;
    }
    let Some((pk, dn, ds)) = st.auth.clone() else {
        return;
    };
    // The same login as AT+CMCONN's (with or without the timestamp, per `sign_timestamp`).
    let opts = login(st, sh, &pk, &dn, &ds);
    let shared = st.link_shared.clone();
    st.link = spawn_link(sh, opts, shared, true, st.subs.clone(), None);
}

/// Runs the yield window that the last command asked for (called with no lock held).
pub(super) fn after_command(sh: &Arc<Shared>) {
    let window = {
        let mut m = sh.state();
        let Some(st) = st_mut(&mut m.fam).as_mut() else {
            return;
        };
        let Some(w) = st.window.take() else { return };
        maybe_reconnect(st, sh);
        w
    };
    run_window(sh, window, None);
}

pub(super) fn run_window(sh: &Arc<Shared>, window: Duration, stop: Option<&AtomicBool>) {
    let end = Instant::now() + window;
    loop {
        {
            let mut m = sh.state();
            let Some(st) = st_mut(&mut m.fam).as_mut() else {
                return;
            };
            drain_reports(st, sh);
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
            let Some(st) = st_mut(&mut m.fam).as_mut() else {
                return;
            };
            maybe_reconnect(st, &sh);
        }
        run_window(&sh, window, Some(&stop));
    }
}
