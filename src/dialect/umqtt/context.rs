//! The modem-wide state: the router and the one client open on it.

use super::*;
use crate::dialect::common::{already_open, Handlers};
use crate::dialect::{OpenRequest, Opened};

/// Modem-wide u-blox MQTT state.
pub struct Context {
    pub(super) engine: Engine,
    pub(super) caps: Capabilities,
    pub(super) router: Arc<Router>,
    pub(super) _handlers: Handlers,
}

impl ClientContext for Context {
    type Client = UmqttClient;

    fn new(engine: Engine, profile: &str) -> Result<Arc<Self>> {
        let caps = capabilities(profile).ok_or_else(|| {
            Error::invalid(format!("profile: unknown u-blox MQTT profile {profile:?}"))
        })?;
        let router = Arc::new(Router::new());
        Ok(Arc::new(Context {
            _handlers: Handlers::attach(&engine, raw_rules(), &PREFIXES, &router),
            engine,
            caps,
            router,
        }))
    }

    /// Reserves the client after checking the arguments; nothing is sent yet.
    fn reserve_client(self: &Arc<Self>, req: OpenRequest<'_>) -> Opened<Self::Client> {
        let (client_id, index, options) = req.check(&self.caps)?;
        if lock(&self.router.slot).is_some() {
            return Err(already_open(index));
        }
        let shared = ClientShared::new(index, options.queue_size);
        let (wake_tx, wake_rx) = bounded::<()>(1);
        let client = Arc::new(UmqttClient {
            ctx: self.clone(),
            client_id: client_id.to_string(),
            shared: shared.clone(),
            will_set: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            reader: Mutex::new(None),
            stop: Arc::new(AtomicBool::new(false)),
        });
        *lock(&self.router.slot) = Some(Slot {
            shared: shared.clone(),
        });
        *lock(&self.router.wake) = Some(wake_tx.clone());
        shared.set_room_listener(Some(Arc::new(move || {
            let _ = wake_tx.try_send(());
        })));
        client.start_reader(wake_rx)?;
        Ok((client, shared))
    }
}
