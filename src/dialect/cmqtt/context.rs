//! The modem-wide CMQTT state: the service, the router and the clients open on it.

use super::*;
use crate::dialect::common::{already_open, Handlers};
use crate::dialect::{OpenRequest, Opened};

/// Modem-wide CMQTT state: the service, and the clients open on it.
pub struct Context {
    pub(super) engine: Engine,
    pub(super) caps: Capabilities,
    pub(super) router: Arc<Router>,
    /// The service generation (see [`Context::service_gen`]) in which the service was
    /// started, if it is.
    pub(super) started: Mutex<Option<(u64, u64)>>,
    pub(super) _handlers: Handlers,
}

impl Context {
    /// What a started service and an acquired client last as long as: the modem's boot
    /// and the network (`+CMQTTNONET` stops the service).
    pub(super) fn service_gen(&self) -> (u64, u64) {
        (
            self.engine.boot_generation(),
            self.router.nonet.load(Ordering::SeqCst),
        )
    }

    pub(super) fn ensure_started(&self) -> Result<()> {
        let mut started = lock(&self.started);
        let gen = self.service_gen();
        if *started == Some(gen) {
            return Ok(());
        }
        let cmd = Command::new(build("AT+CMQTTSTART", &[])?, Duration::from_secs(125))
            .with_expect(Expect::prefix(b"+CMQTTSTART:".to_vec()));
        let r = self.engine.execute_raw(cmd)?;
        let code = r
            .urc
            .as_deref()
            .map(int_fields)
            .and_then(|f| f.first().copied());
        match code {
            Some(0) => {}
            Some(c) if c == ALREADY_STARTED as i64 => log::debug!("cmqtt: service already started"),
            Some(c) => {
                let code = c as i32;
                return Err(Error::Mqtt {
                    operation: "start".into(),
                    code,
                    name: error_name(code),
                });
            }
            // The A7600 manual answers a second START with a bare ERROR (seeds/003 §2.1.1);
            // a `+CME ERROR` says something else and is reported.
            None if r.final_result == crate::at::FinalResult::Error => {
                log::debug!("cmqtt: service already started")
            }
            None if !r.final_result.is_ok() => {
                return Err(Error::from_final("AT+CMQTTSTART", &r.final_result))
            }
            None => {
                return Err(Error::Protocol(
                    "AT+CMQTTSTART: OK without +CMQTTSTART".into(),
                ))
            }
        }
        *started = Some(gen);
        Ok(())
    }

    pub(super) fn client_closed(&self, index: u8) -> Result<()> {
        let any_left = {
            let mut clients = lock(&self.router.clients);
            if let Some(slot) = clients.get_mut(index as usize) {
                *slot = None;
            }
            clients.iter().any(Option::is_some)
        };
        if any_left {
            return Ok(());
        }
        let mut started = lock(&self.started);
        if started.take() != Some(self.service_gen()) {
            return Ok(());
        }
        let cmd = Command::new(build("AT+CMQTTSTOP", &[])?, Duration::from_secs(30))
            .with_expect(Expect::prefix(b"+CMQTTSTOP:".to_vec()));
        let r = self.engine.execute_raw(cmd)?;
        if let Some(code) = r
            .urc
            .as_deref()
            .map(int_fields)
            .and_then(|f| f.first().copied())
        {
            if code != 0 {
                log::warn!(
                    "cmqtt: AT+CMQTTSTOP reported {} ({code})",
                    error_name(code as i32)
                );
            }
        }
        Ok(())
    }
}

impl ClientContext for Context {
    type Client = CmqttClient;

    fn new(engine: Engine, profile: &str) -> Result<Arc<Self>> {
        let caps = capabilities(profile)
            .ok_or_else(|| Error::invalid(format!("profile: unknown CMQTT profile {profile:?}")))?;
        let n = caps.clients as usize;
        let router = Arc::new(Router {
            engine: engine.downgrade(),
            clients: Mutex::new(vec![None; n]),
            rx: Mutex::new((0..n).map(|_| None).collect()),
            nonet: std::sync::atomic::AtomicU64::new(0),
        });
        Ok(Arc::new(Context {
            _handlers: Handlers::attach(&engine, raw_rules(), &PREFIXES, &router),
            engine,
            caps,
            router,
            started: Mutex::new(None),
        }))
    }

    /// Reserves client `index` after checking the arguments; nothing is sent yet. The first
    /// `connect` starts the service if needed, clears what a previous run left on the index
    /// (connected or acquired) and acquires it.
    fn reserve_client(self: &Arc<Self>, req: OpenRequest<'_>) -> Opened<Self::Client> {
        let (client_id, index, options) = req.check(&self.caps)?;
        if self.router.client(index as usize).is_some() {
            return Err(already_open(index));
        }
        let shared = ClientShared::new(index, options.queue_size);
        let client = Arc::new(CmqttClient {
            ctx: self.clone(),
            index,
            client_id: client_id.to_string(),
            shared: shared.clone(),
            check_utf8: options.check_utf8,
            op_timeout: options.op_timeout,
            publish_timeout: options.publish_timeout,
            acquired_ssl: Mutex::new(None),
            will_set: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        });
        lock(&self.router.clients)[index as usize] = Some(shared.clone());
        Ok((client, shared))
    }
}
