//! The modem-wide QMT state: the router and the clients open on it.

use super::*;
use crate::dialect::common::{already_open, Handlers};
use crate::dialect::{OpenRequest, Opened};

impl Context {
    /// The fixed-length publish command this modem has: `AT+QMTPUBEX` when it answers
    /// `AT+QMTPUBEX=?`, else `AT+QMTPUB` (BG95/BG96/BG77 notes). Asked once per boot.
    pub(super) fn publish_name(&self) -> Result<&'static str> {
        let gen = self.engine.boot_generation();
        let mut probed = lock(&self.pub_probe);
        if let Some((g, name)) = *probed {
            if g == gen {
                return Ok(name);
            }
        }
        let c =
            Command::new(build("AT+QMTPUBEX=?", &[])?, CMD).with_response(b"+QMTPUBEX:".to_vec());
        let name = if self.engine.execute_raw(c)?.final_result.is_ok() {
            "QMTPUBEX"
        } else {
            "QMTPUB"
        };
        if name != self.pub_cmd {
            log::info!(
                "qmt: the modem publishes with AT+{name}, not its profile's AT+{}",
                self.pub_cmd
            );
        }
        *probed = Some((gen, name));
        Ok(name)
    }

    pub(super) fn client_closed(&self, index: u8) {
        if let Some(slot) = lock(&self.router.slots).get_mut(index as usize) {
            *slot = None;
        }
    }
}

/// Modem-wide QMT state: the router and the clients open on it.
pub struct Context {
    pub(super) engine: Engine,
    pub(super) caps: Capabilities,
    pub(super) pub_cmd: &'static str,
    /// The publish command the modem answered to, and in which boot.
    pub(super) pub_probe: Mutex<Option<(u64, &'static str)>>,
    pub(super) router: Arc<Router>,
    pub(super) _handlers: Handlers,
}

impl ClientContext for Context {
    type Client = QmtClient;

    fn new(engine: Engine, profile: &str) -> Result<Arc<Self>> {
        let caps = capabilities(profile)
            .ok_or_else(|| Error::invalid(format!("profile: unknown QMT profile {profile:?}")))?;
        let n = caps.clients as usize;
        let router = Arc::new(Router {
            slots: Mutex::new((0..n).map(|_| None).collect()),
            results: Results::default(),
        });
        Ok(Arc::new(Context {
            _handlers: Handlers::attach(&engine, raw_rules(), &prefixes(), &router),
            engine,
            pub_cmd: publish_command(profile),
            pub_probe: Mutex::new(None),
            caps,
            router,
        }))
    }

    /// Reserves client `index` after checking the arguments; nothing is sent yet.
    fn reserve_client(self: &Arc<Self>, req: OpenRequest<'_>) -> Opened<Self::Client> {
        let (client_id, index, options) = req.check(&self.caps)?;
        let q = &options.qmt;
        if let Some(a) = &q.aliauth {
            for (what, v) in [
                ("aliauth product_key", &a.product_key),
                ("aliauth device_name", &a.device_name),
                ("aliauth device_secret", &a.device_secret),
            ] {
                mqtt::check_len(what, v.len(), (1, 64))?;
                mqtt::check_quotable(what, v)?;
            }
        }
        if lock(&self.router.slots)[index as usize].is_some() {
            return Err(already_open(index));
        }
        let shared = ClientShared::new(index, options.queue_size);
        let mode = q.receive_mode.unwrap_or(ReceiveMode::Buffer);
        let (wake_tx, wake_rx) = bounded::<()>(1);
        let client = Arc::new(QmtClient {
            ctx: self.clone(),
            index,
            client_id: client_id.to_string(),
            shared: shared.clone(),
            mode,
            version: q.mqtt_version.unwrap_or(4),
            pdp_cid: q.pdp_context.unwrap_or(1),
            packet_timeout: q.packet_timeout.unwrap_or(5),
            retries: q.retries.unwrap_or(3),
            timeout_notice: q.timeout_notice.unwrap_or(false),
            aliauth: q.aliauth.clone(),
            next_msgid: AtomicU16::new(1),
            opened: Mutex::new(None),
            checked_gen: Mutex::new(None),
            closed: AtomicBool::new(false),
            reader: Mutex::new(None),
            stop: Arc::new(AtomicBool::new(false)),
        });
        if let Some(a) = &client.aliauth {
            self.engine.add_secret(a.device_secret.as_bytes());
        }
        lock(&self.router.slots)[index as usize] = Some(Slot {
            shared: shared.clone(),
            pdp_cid: client.pdp_cid,
            pending: VecDeque::new(),
            wake: (mode == ReceiveMode::Buffer).then(|| wake_tx.clone()),
        });
        if mode == ReceiveMode::Buffer {
            let w = wake_tx.clone();
            shared.set_room_listener(Some(Arc::new(move || {
                let _ = w.try_send(());
            })));
            client.start_reader(wake_rx)?;
        }
        Ok((client, shared))
    }
}
