//! A modem on an open port: generic commands, dialect detection, and its MQTT clients.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::at::session::Command;
use crate::at::{build, Arg};
use crate::dialect::{aliyun, modem_path, spec, Family, FamilyClients};
use crate::engine::{Engine, Recorder, Response, UrcHandler};
use crate::error::{Error, Result};
use crate::family::{families, or_list};
use crate::mqtt::{ClientOptions, MqttClient};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModemInfo {
    pub manufacturer: String,
    pub model: String,
    pub revision: String,
    pub imei: String,
    pub dialect: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignalQuality {
    pub rssi: u8,
    pub rssi_dbm: Option<i32>,
    pub ber: Option<u8>,
}

impl SignalQuality {
    /// From `+CSQ: <rssi>,<ber>` (3GPP TS 27.007: 0 is -113 dBm or less, 31 is -51 dBm or
    /// more, 2 dBm a step; 99 is unknown).
    pub fn from_csq(rssi: u8, ber: u8) -> Self {
        let rssi_dbm = if rssi <= 31 {
            Some(-113 + 2 * rssi as i32)
        } else {
            None
        };
        let ber = if ber <= 7 { Some(ber) } else { None };
        SignalQuality {
            rssi,
            rssi_dbm,
            ber,
        }
    }
}

/// Registration states that count as registered: 1 home, 5 roaming (and the SMS-only /
/// CSFB variants 6, 7 of TS 27.007, counted as home and roaming).
pub fn registration_state(stat: i64) -> Option<&'static str> {
    match stat {
        1 | 6 => Some("home"),
        5 | 7 => Some("roaming"),
        _ => None,
    }
}

pub struct Modem {
    engine: Engine,
    timeout: Duration,
    family: Mutex<Option<Family>>,
    profile: Mutex<Option<String>>,
    /// The clients of each family opened on this modem (in practice one family: the
    /// firmware's), made when the first client opens.
    clients: Mutex<HashMap<Family, Arc<dyn FamilyClients>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Strips `+CGMR: ` style prefixes some firmwares put before identification values.
fn ident_value(r: &Response, prefixes: &[&str]) -> String {
    let lines = r.text_lines();
    let line = lines
        .iter()
        .map(|l| l.trim())
        .find(|l| !l.is_empty())
        .unwrap_or("");
    for p in prefixes {
        if let Some(v) = line.strip_prefix(p) {
            return v.trim().trim_matches('"').to_string();
        }
    }
    line.trim_matches('"').to_string()
}

impl Modem {
    /// Opens `port` and prepares the modem: waits until it answers `AT`, turns echo off
    /// (`ATE0`) and asks for numeric error codes (`AT+CMEE=1`).
    pub fn open(port: &str, baudrate: u32, timeout: Duration, dialect: &str) -> Result<Modem> {
        Modem::open_recorded(port, baudrate, timeout, dialect, None)
    }

    /// Like [`Modem::open`], appending the whole session's wire traffic (from the first
    /// `AT`) to `recorder`.
    pub fn open_recorded(
        port: &str,
        baudrate: u32,
        timeout: Duration,
        dialect: &str,
        recorder: Option<Arc<Recorder>>,
    ) -> Result<Modem> {
        if timeout.is_zero() {
            return Err(Error::invalid("timeout: must be positive"));
        }
        let family = Family::parse(dialect)?;
        crate::init();
        let engine = Engine::open(port, baudrate)?;
        if recorder.is_some() {
            engine.set_recorder(recorder);
        }
        let modem = Modem {
            engine,
            timeout,
            family: Mutex::new(family),
            profile: Mutex::new(None),
            clients: Mutex::new(HashMap::new()),
        };
        if let Err(e) = modem.prepare() {
            modem.engine.close();
            return Err(e);
        }
        Ok(modem)
    }

    /// Wraps an engine that is already running (tests, or a transport opened elsewhere).
    pub fn with_engine(engine: Engine, timeout: Duration) -> Modem {
        Modem {
            engine,
            timeout,
            family: Mutex::new(None),
            profile: Mutex::new(None),
            clients: Mutex::new(HashMap::new()),
        }
    }

    fn prepare(&self) -> Result<()> {
        // A modem that just booted may miss the first bytes: try `AT` a few times within
        // the timeout before giving up.
        let deadline = Instant::now() + self.timeout;
        let attempt = Duration::from_millis(500).min(self.timeout);
        loop {
            let cmd = Command::new(build("AT", &[])?, attempt);
            match self.engine.execute(cmd) {
                Ok(_) => break,
                // A modem that is booting may also print RDY over our probe.
                Err(Error::Timeout { .. } | Error::Other(_))
                    if Instant::now() + attempt < deadline =>
                {
                    continue
                }
                Err(Error::Timeout { .. }) => {
                    return Err(Error::Timeout {
                        command: "AT".into(),
                        waited_for: "an answer from the modem".into(),
                        timeout: self.timeout,
                    })
                }
                Err(e) => return Err(e),
            }
        }
        let ate0 = Command::new(build("ATE0", &[])?, self.timeout);
        let cmee = Command::new(build("AT+CMEE", &[Arg::Int(1)])?, self.timeout);
        self.engine.execute(ate0.clone())?;
        if let Err(e) = self.engine.execute(cmee.clone()) {
            log::debug!("AT+CMEE=1 refused: {e}");
        }
        // A modem that restarts comes back with echo on: redo this before the next command.
        self.engine.set_setup(vec![ate0.clone(), cmee]);
        // Learn the family and limits now, so that opening a client sends nothing.
        match self.family() {
            Ok(f) => {
                log::debug!("{}: {} family", self.engine.name(), f.name());
                if let Some(path) = modem_path(f) {
                    self.engine.add_boot_line(path.boot_line);
                    // Its messages are framed from the start, for `command()` users too.
                    for rule in spec(f).raw_rules() {
                        self.engine.add_raw_rule(rule);
                    }
                    let mut setup = vec![ate0];
                    for line in path.setup {
                        let c = Command::new(build(line, &[])?, self.timeout);
                        if let Err(e) = self.engine.execute(c.clone()) {
                            log::debug!("{line} refused: {e}");
                        }
                        setup.push(c);
                    }
                    self.engine.set_setup(setup);
                }
            }
            Err(e) => log::info!("{}: {e}", self.engine.name()),
        }
        if let Err(e) = self.profile() {
            log::info!("{}: model unknown: {e}", self.engine.name());
        }
        Ok(())
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub fn command(
        &self,
        line: &str,
        timeout: Option<Duration>,
        data: Option<Vec<u8>>,
    ) -> Result<Response> {
        let t = timeout.unwrap_or(self.timeout);
        if t.is_zero() {
            return Err(Error::invalid("timeout: must be positive"));
        }
        if line.trim().is_empty() {
            return Err(Error::invalid("line: must not be empty"));
        }
        if line.contains(['\r', '\n']) {
            return Err(Error::invalid(
                "line: must not contain CR or LF (the line end is added)",
            ));
        }
        // The family learnt at open (no probing here: a raw command sends only itself).
        match self.known_family().and_then(modem_path) {
            Some(path) => self
                .engine
                .command_adjusted(line, t, data, &|c| (path.raw_command)(line, c)),
            None => self.engine.command(line, t, data),
        }
    }

    fn simple(&self, cmd: &str) -> Result<Response> {
        self.engine.command(cmd, self.timeout, None)
    }

    /// Which MQTT family the firmware answers, probing each family's test command.
    pub fn family(&self) -> Result<Family> {
        if let Some(f) = *lock(&self.family) {
            return Ok(f);
        }
        // A family whose maker made this modem (AT+CGMI "Quectel": QMT) is probed first.
        let maker = self
            .simple("AT+CGMI")
            .map(|r| ident_value(&r, &["+CGMI:"]).to_ascii_lowercase())
            .unwrap_or_default();
        let mut order: Vec<_> = families().to_vec();
        order.sort_by_key(|i| !i.maker.is_some_and(|m| maker.contains(m)));
        for info in order {
            let cmd = Command::new(build(info.probe, &[])?, self.timeout);
            if let Ok(r) = self.engine.execute_raw(cmd) {
                if r.final_result.is_ok() {
                    *lock(&self.family) = Some(info.family);
                    return Ok(info.family);
                }
            }
        }
        let tried: Vec<String> = families().iter().map(|i| i.probe.to_string()).collect();
        Err(Error::Other(format!(
            "no supported MQTT command family answers on this modem (tried {})",
            or_list(&tried).replacen(" or ", " and ", 1)
        )))
    }

    /// The family learnt when the modem was opened (or given), without probing.
    fn known_family(&self) -> Option<Family> {
        *lock(&self.family)
    }

    pub fn dialect_name(&self) -> Option<&'static str> {
        lock(&self.family).map(Family::name)
    }

    /// The profile (limits table) for this modem, from its model name.
    pub fn profile(&self) -> Result<String> {
        if let Some(p) = lock(&self.profile).clone() {
            return Ok(p);
        }
        let model = || Ok(ident_value(&self.simple("AT+CGMM")?, &["+CGMM:"]));
        let p = spec(self.family()?).detect_profile(&self.engine, self.timeout, &model)?;
        *lock(&self.profile) = Some(p.clone());
        Ok(p)
    }

    pub fn info(&self) -> Result<ModemInfo> {
        if let Some(path) = self.known_family().and_then(modem_path) {
            let [manufacturer, model, revision, imei] =
                (path.identity)(&self.engine, self.timeout)?;
            return Ok(ModemInfo {
                manufacturer,
                model,
                revision,
                imei,
                dialect: path.family.name().to_string(),
            });
        }
        let manufacturer = ident_value(&self.simple("AT+CGMI")?, &["+CGMI:"]);
        let model = ident_value(&self.simple("AT+CGMM")?, &["+CGMM:"]);
        let revision = ident_value(&self.simple("AT+CGMR")?, &["+CGMR:", "Revision:"]);
        let imei = ident_value(&self.simple("AT+CGSN")?, &["+CGSN:"]);
        let dialect = self
            .family()
            .map(|f| f.name().to_string())
            .unwrap_or_default();
        Ok(ModemInfo {
            manufacturer,
            model,
            revision,
            imei,
            dialect,
        })
    }

    pub fn signal_quality(&self) -> Result<SignalQuality> {
        if let Some(path) = self.known_family().and_then(modem_path) {
            let dbm = (path.signal_dbm)(&self.engine, self.timeout)?;
            // On the +CSQ scale (2 dB a step from -113 dBm); no bit error rate.
            let rssi = ((dbm + 113) / 2).clamp(0, 31) as u8;
            return Ok(SignalQuality {
                rssi,
                rssi_dbm: Some(dbm),
                ber: None,
            });
        }
        let r = self.simple("AT+CSQ")?;
        let v = r
            .value("+CSQ:")
            .ok_or_else(|| Error::Protocol("AT+CSQ: no +CSQ line".into()))?;
        let mut it = v.split(',').map(|s| s.trim().parse::<u8>());
        match (it.next(), it.next()) {
            (Some(Ok(rssi)), Some(Ok(ber))) => Ok(SignalQuality::from_csq(rssi, ber)),
            _ => Err(Error::Protocol(format!("AT+CSQ: cannot parse {v:?}"))),
        }
    }

    /// Polls CREG, CGREG and CEREG until one reports home or roaming.
    pub fn wait_registered(&self, timeout: Duration) -> Result<&'static str> {
        let deadline = Instant::now() + timeout;
        loop {
            for (cmd, prefix) in [
                ("AT+CREG?", "+CREG:"),
                ("AT+CGREG?", "+CGREG:"),
                ("AT+CEREG?", "+CEREG:"),
            ] {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                let Ok(r) = self.engine.command(cmd, left.min(self.timeout), None) else {
                    continue;
                };
                if let Some(v) = r.value(prefix) {
                    let stat = v
                        .split(',')
                        .nth(1)
                        .and_then(|s| s.trim().parse::<i64>().ok());
                    if let Some(state) = stat.and_then(registration_state) {
                        return Ok(state);
                    }
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::Timeout {
                    command: "AT+CREG?/AT+CGREG?/AT+CEREG?".into(),
                    waited_for: "network registration".into(),
                    timeout,
                });
            }
            if !crate::waits::sleep(Duration::from_secs(1).min(deadline - now)) {
                return Err(Error::Interrupted("wait_registered".into()));
            }
        }
    }

    /// Opens MQTT client `index` with `client_id` on this modem's family.
    pub fn mqtt(&self, client_id: &str, index: u8, options: ClientOptions) -> Result<MqttClient> {
        options.check()?;
        let family = self.family()?;
        spec(family).check_options(&options)?;
        let client = self.clients(family)?.open_mqtt(client_id, index, options)?;
        Ok(self.bounded(client))
    }

    /// The clients of `family` on this modem, made on first use.
    fn clients(&self, family: Family) -> Result<Arc<dyn FamilyClients>> {
        if let Some(c) = lock(&self.clients).get(&family) {
            return Ok(c.clone());
        }
        // The profile may ask the modem: not under the map's lock.
        let profile = self.profile()?;
        let mut map = lock(&self.clients);
        if let Some(c) = map.get(&family) {
            return Ok(c.clone());
        }
        let c = spec(family).open_clients(self.engine.clone(), &profile)?;
        map.insert(family, c.clone());
        Ok(c)
    }

    fn aliyun_revision(&self) -> Result<aliyun::Revision> {
        match self.family()? {
            Family::Aliyun => {}
            other => {
                return Err(Error::Other(format!(
                    "this modem's firmware is of the {} family, not SIMCom's Alibaba-cloud firmware (AT+CMAUTH=? and AT+CCINIT=? are not answered); use modem.mqtt()",
                    other.name()
                )))
            }
        }
        let p = self.profile()?;
        aliyun::Revision::from_profile(&p)
            .ok_or_else(|| Error::Other(format!("unknown Alibaba firmware profile {p:?}")))
    }

    /// Opens the Alibaba-cloud MQTT client (`AT+CM*`) for the device triple; nothing is sent
    /// until `connect`.
    pub fn aliyun_mqtt(
        &self,
        product_key: &str,
        device_name: &str,
        device_secret: &str,
        options: aliyun::AliyunOptions,
        client: ClientOptions,
    ) -> Result<MqttClient> {
        let queue_size = client.queue_size;
        client.check()?;
        aliyun::check_triple(product_key, device_name, device_secret)?;
        let rev = self.aliyun_revision()?;
        let clients = self.clients(Family::Aliyun)?;
        let Some(clients) = clients.as_any().downcast_ref::<aliyun::Clients>() else {
            return Err(Error::Other(
                "aliyun_mqtt: no Alibaba client registry".into(),
            ));
        };
        let mut slot = clients.mqtt_slot();
        if slot.upgrade().is_some_and(|c| !c.is_closed()) {
            return Err(Error::invalid(
                "aliyun_mqtt: the firmware has one MQTT client and it is already open on this modem; close it first",
            ));
        }
        let (mqtt, shared) = aliyun::AliyunMqtt::open(
            self.engine.clone(),
            rev,
            product_key,
            device_name,
            device_secret,
            options,
            queue_size,
        )?;
        *slot = Arc::downgrade(&mqtt);
        Ok(self.bounded(MqttClient::new(
            Arc::new(aliyun::AliyunBackend(mqtt)),
            shared,
            client,
        )))
    }

    /// A client whose `close()` takes this modem's timeout at most.
    fn bounded(&self, client: MqttClient) -> MqttClient {
        client.set_close_timeout(self.timeout);
        client
    }

    /// Opens the Alibaba-cloud CoAP client (`AT+CC*`); nothing is sent until the first
    /// `auth` or `send`.
    pub fn aliyun_coap(
        &self,
        product_key: &str,
        device_name: &str,
        device_secret: &str,
    ) -> Result<aliyun::AliyunCoap> {
        aliyun::check_triple(product_key, device_name, device_secret)?;
        let rev = self.aliyun_revision()?;
        aliyun::AliyunCoap::open(
            self.engine.clone(),
            rev,
            product_key,
            device_name,
            device_secret,
        )
    }

    /// Offers every unsolicited line to `f` (after the dialects' own handlers).
    pub fn on_urc(&self, f: Option<UrcHandler>) {
        self.engine.set_catch_all(f);
    }

    pub fn close(&self) {
        // Taken out before they drop: a family's clients may say goodbye on drop.
        let clients = std::mem::take(&mut *lock(&self.clients));
        drop(clients);
        self.engine.close();
    }
}

impl Drop for Modem {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::memport;

    /// A modem that answers `AT+CGMI` with `maker`, `AT+CGMM` with `model`, `OK` to the
    /// probe commands in `probes` and `ERROR` to everything else.
    fn modem(
        maker: &'static str,
        model: &'static str,
        probes: &'static [&'static str],
    ) -> (Modem, memport::ScriptedModem) {
        let (port, scripted) = memport::scripted(Box::new(move |line: &[u8]| {
            let line = String::from_utf8_lossy(line).into_owned();
            let answer = match line.as_str() {
                "AT+CGMI" => format!("\r\n{maker}\r\n\r\nOK\r\n"),
                "AT+CGMM" => format!("\r\n{model}\r\n\r\nOK\r\n"),
                l if probes.contains(&l) => "\r\nOK\r\n".to_string(),
                _ => "\r\nERROR\r\n".to_string(),
            };
            vec![answer.into_bytes()]
        }));
        let m = Modem::with_engine(Engine::start(port), Duration::from_secs(2));
        (m, scripted)
    }

    #[test]
    fn the_maker_s_family_is_probed_first_and_gives_the_profile() {
        // Answers every probe: the maker decides.
        let all: &[&str] = &["AT+CMQTTACCQ=?", "AT+QMTCFG=?", "AT+CMAUTH=?"];
        let (m, _s) = modem("Quectel", "EC21", all);
        assert_eq!(m.family().unwrap(), Family::Qmt);
        assert_eq!(m.profile().unwrap(), "ec21");
        let (m, _s) = modem("SIMCOM INCORPORATED", "A7600E", all);
        assert_eq!(m.family().unwrap(), Family::Cmqtt);
        assert_eq!(m.profile().unwrap(), "a7600");
    }

    fn err(r: Result<MqttClient>) -> String {
        match r {
            Ok(_) => panic!("opened a client"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn no_family_means_no_profile_and_no_client() {
        let (m, _s) = modem("SIMCOM INCORPORATED", "A7600E", &[]);
        let e = m.family().unwrap_err().to_string();
        assert!(e.contains("AT+CMQTTACCQ=?, AT+QMTCFG=?"), "{e}");
        // Every family's probe was tried (whichever families are registered).
        for info in families() {
            assert!(e.contains(info.probe), "{e}");
        }
        assert!(m.profile().is_err(), "no CMQTT profile by default");
        assert!(m.mqtt("x", 0, ClientOptions::default()).is_err());
    }

    #[test]
    fn clients_of_a_family_share_one_context() {
        let (m, _s) = modem("SIMCOM INCORPORATED", "A7600E", &["AT+CMQTTACCQ=?"]);
        let a = m.mqtt("a", 0, ClientOptions::default()).unwrap();
        let b = m.mqtt("b", 1, ClientOptions::default()).unwrap();
        let e = err(m.mqtt("c", 0, ClientOptions::default()));
        assert!(e.contains("already open"), "{e}");
        assert_eq!(lock(&m.clients).len(), 1);
        let mut o = ClientOptions::default();
        o.qmt.pdp_context = Some(2);
        let e = err(m.mqtt("d", 1, o));
        assert!(e.starts_with("pdp_context: only on Quectel"), "{e}");
        drop((a, b));
    }
}
