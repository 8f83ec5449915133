//! The modem-wide ESP-AT state: the router, the one client, the certificates uploaded.

use super::*;
use crate::dialect::common::{already_open, Handlers};
use crate::dialect::{OpenRequest, Opened};

pub struct Context {
    pub(super) engine: Engine,
    pub(super) caps: Capabilities,
    pub(super) router: Arc<Router>,
    /// What was written to each certificate namespace in this session (they live in
    /// flash: the same content is not written again).
    pub(super) certs: Mutex<Vec<(&'static str, Vec<u8>)>>,
    _handlers: Handlers,
}

impl ClientContext for Context {
    type Client = EspClient;

    fn new(engine: Engine, profile: &str) -> Result<Arc<Self>> {
        let caps = capabilities(profile).ok_or_else(|| {
            Error::invalid(format!("profile: unknown ESP-AT profile {profile:?}"))
        })?;
        let router = Arc::new(Router {
            engine: engine.downgrade(),
            client: Mutex::new(None),
            disconnects: AtomicU64::new(0),
        });
        // Wi-Fi state lines the client does not act on: kept out of command responses.
        for p in [&b"WIFI CONNECTED"[..], b"WIFI GOT IP"] {
            engine.add_urc_prefix(p);
        }
        Ok(Arc::new(Context {
            _handlers: Handlers::attach(&engine, raw_rules(), &PREFIXES, &router),
            engine,
            caps,
            router,
            certs: Mutex::new(Vec::new()),
        }))
    }

    fn reserve_client(self: &Arc<Self>, req: OpenRequest<'_>) -> Opened<Self::Client> {
        let (client_id, index, options) = req.check(&self.caps)?;
        if self.router.client().is_some_and(|c| !c.is_closed()) {
            return Err(already_open(index));
        }
        let shared = ClientShared::new(index, options.queue_size);
        let client = Arc::new(EspClient {
            ctx: self.clone(),
            client_id: client_id.to_string(),
            shared: shared.clone(),
            publish_timeout: options.publish_timeout,
            subscribed: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
        });
        *lock(&self.router.client) = Some(shared.clone());
        Ok((client, shared))
    }
}
