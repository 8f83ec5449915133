//! The modem state shared by every family and the commands every profile answers alike:
//! basic commands (`ATE`, `ATI`, `ATZ`, ...), identification, registration and packet
//! domain (`+CREG`, `+COPS`, `+CGATT`, `+CFUN`), PDP contexts (`+CGDCONT`, `+CGACT`) and
//! `+CMEE`. `Modem::execute` sends each `+NAME` command to the profile's family first.
//!
//! `AT+CMEE` only changes errors of the generic commands (`+CME ERROR: 50` /
//! `+CME ERROR: Incorrect parameters`, 3 / "operation not allowed"); CMQTT, CSSLCFG and
//! CCERT errors keep the manual's plain `ERROR`.

use std::any::Any;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::Duration;

use super::args::{int, num, split_args, Cmd, Form, Resp};
use super::conn::{Link, LinkEvent};
use super::parser::{DataKind, Next};
use super::profile::{Family, Profile};
use super::ssl::{self, SslCtx};
use super::{Shared, SimError, VirtualModem};
pub(crate) use linkme::distributed_slice;

/// A family's own part of the modem state (its client slots, settings, links it keeps
/// itself): one type per family, made by [`SimFamily::new_state`].
pub(crate) type FamilyState = Box<dyn Any + Send>;

/// A family's own kind of prompted data (see [`DataKind::family`]).
pub(crate) type FamilyData = Box<dyn Any + Send>;

/// The family state in `fam` as the family's type `T`. Each family stores one type, made by
/// its own `new_state`, so another type is a bug in the family, not a modem's input.
pub(crate) fn fam<T: 'static>(fam: &FamilyState) -> &T {
    fam.downcast_ref()
        .expect("a family reads the state its new_state made")
}

/// Like [`fam`], for changing it.
pub(crate) fn fam_mut<T: 'static>(fam: &mut FamilyState) -> &mut T {
    fam.downcast_mut()
        .expect("a family reads the state its new_state made")
}

/// Every command family of the virtual modem, each registered by its own module with
/// `#[distributed_slice(SIM_FAMILIES)]`.
#[distributed_slice]
pub(crate) static SIM_FAMILIES: [&'static dyn SimFamily];

/// Registers family `$family` (a unit struct implementing [`SimFamily`]) in
/// [`SIM_FAMILIES`], gives it [`FamilyBase`] (the modems `$profiles` it imitates, its
/// power-on state made by `$new_state` from the profile) and gives its module `st` /
/// `st_mut`: its part of the modem state (`Modem::fam`) as its type `$state`.
macro_rules! sim_family {
    ($family:ident, $state:ty, $profiles:expr, $new_state:expr) => {
        #[$crate::sim::modem::distributed_slice($crate::sim::modem::SIM_FAMILIES)]
        static REGISTERED: &dyn $crate::sim::modem::SimFamily = &$family;

        impl $crate::sim::modem::FamilyBase for $family {
            fn profiles(&self) -> &'static [&'static $crate::sim::profile::Profile] {
                $profiles
            }

            fn new_state(
                &self,
                profile: &'static $crate::sim::profile::Profile,
            ) -> $crate::sim::modem::FamilyState {
                let new: fn(&'static $crate::sim::profile::Profile) -> $state = $new_state;
                Box::new(new(profile))
            }
        }

        /// This family's part of the modem state.
        pub(crate) fn st(f: &$crate::sim::modem::FamilyState) -> &$state {
            $crate::sim::modem::fam(f)
        }

        /// This family's part of the modem state, for changing it.
        pub(crate) fn st_mut(f: &mut $crate::sim::modem::FamilyState) -> &mut $state {
            $crate::sim::modem::fam_mut(f)
        }
    };
}
pub(crate) use sim_family;

/// What each family has, given by [`sim_family!`].
pub(crate) trait FamilyBase {
    /// The modems it imitates (their `family` is the one this is the virtual modem of).
    fn profiles(&self) -> &'static [&'static Profile];

    /// The family's own state of a modem with `profile` at power-on (`Modem::fam`; the
    /// family reads it back with [`fam`] / [`fam_mut`]).
    fn new_state(&self, profile: &'static Profile) -> FamilyState;
}

/// Hands prompted data of the family's own kind `K` to `done`; any other kind is `ERROR`
/// (for [`SimFamily::data_done`]).
pub(crate) fn own_data<K: 'static>(
    kind: FamilyData,
    r: &mut Resp,
    done: impl FnOnce(K, &mut Resp),
) {
    match kind.downcast::<K>() {
        Ok(k) => done(*k, r),
        Err(_) => r.error(),
    }
}

/// `ERROR` for a command of another vendor's (`foreign`) that the family's modems lack,
/// answered there and then; `None` leaves the command to the core.
pub(crate) fn refuse_if(foreign: bool, r: &mut Resp) -> Option<Next> {
    foreign.then(|| {
        r.error();
        Next::Line
    })
}

/// One command family of the virtual modem. Every method runs with the modem state
/// locked (`m`), except [`SimFamily::after_command`] and [`SimFamily::drop_link`].
pub(crate) trait SimFamily: FamilyBase + Sync {
    /// Executes `AT+<c.name>` if it is one of this family's commands; `None` leaves it to the
    /// core (generic 3GPP and SSL commands, else `ERROR`).
    fn execute(&self, m: &mut Modem, sh: &Arc<Shared>, c: Cmd<'_>, r: &mut Resp) -> Option<Next>;

    /// The data the host typed after one of this family's prompts (`kind` is the one the
    /// family gave in [`DataKind::family`]; a family without prompts never gets any).
    fn data_done(&self, _m: &mut Modem, _kind: FamilyData, _data: Vec<u8>, r: &mut Resp) {
        r.error()
    }

    /// Writes link event `ev` of client `idx` in the family's words to `out` (from
    /// `link::report`, while link `gen` is current, after the core marked the link
    /// connected or dropped it; a family whose links report otherwise gets none).
    fn link_event(&self, _: &Shared, _: &mut Modem, _: u8, _: LinkEvent, _: &mut Vec<u8>) {}

    /// Whether client `idx` keeps received messages in the modem for the host to read
    /// (they are acknowledged when read, not when written).
    fn stores_messages(&self, _m: &Modem, _idx: u8) -> bool {
        false
    }

    /// Whether client `idx` can take one more received message now; `false` while every
    /// buffer it keeps for the host is full (the link then stops reading its socket).
    fn has_free_buffer(&self, _m: &Modem, _idx: u8) -> bool {
        true
    }

    /// The largest received payload a link writes or hands to the family; a larger one is
    /// taken off the socket, acknowledged and discarded (`link`). The profile's
    /// `payload_max` unless the family's modems take more than they send.
    fn receive_max(&self, profile: &Profile) -> usize {
        profile.payload_max
    }

    /// Link slots the family keeps in `Modem::links` after its clients' (indexes from
    /// `profile.clients` on) for links of its own that no client index names (the Alibaba
    /// firmware's CoAP forward link): driven and reported by `link` like a client's.
    fn extra_links(&self) -> u8 {
        0
    }

    /// PDP context `cid` went down (already removed from `m.active`): the family's links
    /// on it go, with their URCs in `r`. `by_network`: the network took it, else the host.
    fn context_down(&self, _m: &mut Modem, _cid: u8, _by_network: bool, _r: &mut Resp) {}

    /// The registration is gone (after every context went down); URCs in `r`.
    fn network_lost(&self, _m: &mut Modem, _r: &mut Resp) {}

    /// Registered again.
    fn network_back(&self, _m: &mut Modem) {}

    /// Drops the links the family keeps outside `Modem::links` (reboot, close).
    fn kill_links(&self, _m: &mut Modem) {}

    /// The modem was power-cycled: `new` is the power-on state, `old` what it replaced
    /// (the family carries over what the module saves).
    fn after_reset(&self, _old: &mut Modem, _new: &mut Modem) {}

    /// Runs after each command line, with no lock held.
    fn after_command(&self, _sh: &Arc<Shared>) {}

    /// The causes `VirtualModem::drop_link` takes.
    fn link_causes(&self) -> RangeInclusive<u8>;

    /// Client `idx`'s link was cut by fault injection with `cause`: the family's state
    /// after it, and the URC that reports it.
    fn link_lost(&self, m: &mut Modem, idx: u8, cause: u8) -> String;

    /// `VirtualModem::drop_link`: closes client `idx`'s link abruptly (no DISCONNECT) and
    /// reports it with [`SimFamily::link_lost`].
    fn drop_link(&self, vm: &VirtualModem, idx: u8, cause: u8) -> Result<(), SimError> {
        let sh = &vm.shared;
        let clients = sh.profile.clients;
        if idx >= clients {
            return Err(SimError::InvalidArgument(format!(
                "client_index: must be 0 to {}, got {idx}",
                clients - 1
            )));
        }
        let causes = self.link_causes();
        if !causes.contains(&cause) {
            return Err(SimError::InvalidArgument(format!(
                "cause: must be {} to {} on {}, got {cause}",
                causes.start(),
                causes.end(),
                sh.profile.name
            )));
        }
        let link = sh.state().take_link(idx);
        let Some(link) = link else {
            return Err(SimError::NoLink(idx));
        };
        link.shutdown(Duration::from_secs(5));
        // Under the state lock, like every other frame.
        let mut st = sh.state();
        let urc = self.link_lost(&mut st, idx, cause);
        sh.write_net(format!("\r\n{urc}\r\n").into_bytes());
        drop(st);
        Ok(())
    }
}

pub(crate) struct Modem {
    pub(crate) profile: &'static Profile,
    pub(crate) echo: bool,
    cmee: u8,
    /// n of +CREG, +CGREG, +CEREG
    reg_n: [u8; 3],
    pub(crate) cgdcont: BTreeMap<u8, (String, String)>,
    /// `AT+QICSGP` user name, password and authentication per context (its APN and type
    /// live in `cgdcont`, as on the module, where both commands define the same context).
    pub(crate) qicsgp_auth: BTreeMap<u8, (String, String, u8)>,
    /// `AT+CFUN` level: 1 full, 0 minimum, 4 flight mode (no radio: not registered).
    cfun: u8,
    /// `AT+COPS=2`: deregistered by the host until `AT+COPS=0/1/4`.
    deregistered: bool,
    /// `AT+CGATT=0`: detached from the packet domain.
    detached: bool,
    /// The PDP contexts that are up (cid).
    pub(crate) active: BTreeSet<u8>,
    /// The MQTT link of each client index, then the family's own (`SimFamily::extra_links`).
    pub(crate) links: Vec<Option<Link>>,
    pub(crate) ssl: Vec<SslCtx>,
    /// Survive reboot: they live in the module's flash.
    pub(crate) certs: ssl::Files,
    pub(crate) next_gen: u64,
    /// The command family of the profile.
    family: &'static dyn SimFamily,
    /// The family's own state (see [`fam`], [`fam_mut`]).
    pub(crate) fam: FamilyState,
}

impl Modem {
    pub fn new(profile: &'static Profile, family: &'static dyn SimFamily) -> Modem {
        let mut cgdcont = BTreeMap::new();
        cgdcont.insert(1, ("IP".to_owned(), "CMNET".to_owned()));
        Modem {
            profile,
            echo: true,
            cmee: 0,
            reg_n: [0; 3],
            cgdcont,
            qicsgp_auth: BTreeMap::new(),
            cfun: 1,
            deregistered: false,
            detached: false,
            // Registered with context 1 up at power-on: hosts that never bring the bearer up
            // (the library's clients, the manuals' MQTT examples) keep working.
            active: BTreeSet::from([1]),
            links: (0..profile.clients + family.extra_links())
                .map(|_| None)
                .collect(),
            ssl: vec![SslCtx::default(); usize::from(profile.ssl_ctx_max) + 1],
            certs: BTreeMap::new(),
            next_gen: 1,
            family,
            fam: family.new_state(profile),
        }
    }

    /// The command family of the profile.
    pub(crate) fn family(&self) -> &'static dyn SimFamily {
        self.family
    }

    /// Power-on state (links must have been taken out first).
    pub fn reset(&mut self) {
        let mut old = std::mem::replace(self, Modem::new(self.profile, self.family));
        self.certs = std::mem::take(&mut old.certs);
        self.next_gen = old.next_gen;
        self.family().after_reset(&mut old, self);
    }

    pub fn take_link(&mut self, idx: u8) -> Option<Link> {
        self.links.get_mut(usize::from(idx))?.take()
    }

    pub fn take_all_links(&mut self) -> Vec<Link> {
        self.family().kill_links(self);
        self.links.iter_mut().filter_map(Option::take).collect()
    }

    pub fn link_gen(&self, idx: u8) -> Option<u64> {
        self.links.get(usize::from(idx))?.as_ref().map(|l| l.gen)
    }

    pub fn clear_link(&mut self, idx: u8) {
        if let Some(l) = self.links.get_mut(usize::from(idx)) {
            *l = None;
        }
    }

    pub fn set_connected(&mut self, idx: u8) {
        if let Some(l) = self
            .links
            .get_mut(usize::from(idx))
            .and_then(Option::as_mut)
        {
            l.connected = true;
        }
    }

    /// Registered on the network: radio on (`AT+CFUN=1`) and not deregistered by the host
    /// (`AT+COPS=2`).
    pub(crate) fn registered(&self) -> bool {
        self.cfun == 1 && !self.deregistered
    }

    /// Attached to the packet domain, which a PDP context needs (`AT+CGATT=0` detaches).
    pub(crate) fn attached(&self) -> bool {
        self.registered() && !self.detached
    }

    /// The registration is gone (`AT+CFUN=0/4`, `AT+COPS=2`, `AT+CGATT=0`): every context
    /// goes down with the links on it, reported as the network taking them.
    fn network_lost(&mut self, r: &mut Resp) {
        let cids: Vec<u8> = self.active.iter().copied().collect();
        self.contexts_down(&cids, true, r);
        self.family().network_lost(self, r);
    }

    /// Brings context `cid` up; false when the module is not attached (or has no such
    /// context defined).
    pub(crate) fn context_up(&mut self, cid: u8) -> bool {
        if !self.attached() || !self.cgdcont.contains_key(&cid) {
            return false;
        }
        self.active.insert(cid);
        true
    }

    /// Contexts `cids` go down, and every MQTT link on them without DISCONNECT (the
    /// family says how: `SimFamily::context_down`). `by_network`: the network took them;
    /// otherwise the host deactivated them (`AT+QIDEACT`, `AT+CGACT=0`).
    pub(crate) fn contexts_down(&mut self, cids: &[u8], by_network: bool, r: &mut Resp) {
        for &cid in cids {
            if self.active.remove(&cid) {
                self.family().context_down(self, cid, by_network, r);
            }
        }
    }

    /// Registered again.
    fn network_back(&mut self) {
        if self.registered() {
            self.family().network_back(self);
        }
    }
}

fn cme_text(code: u16) -> &'static str {
    match code {
        3 => "operation not allowed",
        30 => "no network service",
        4 => "operation not supported",
        _ => "Incorrect parameters",
    }
}

impl Modem {
    pub(crate) fn cme(&self, r: &mut Resp, code: u16) {
        match self.cmee {
            1 => r.line(&format!("+CME ERROR: {code}")),
            2 => r.line(&format!("+CME ERROR: {}", cme_text(code))),
            _ => r.error(),
        }
    }

    pub(crate) fn execute(&mut self, sh: &Arc<Shared>, body: &str, r: &mut Resp) -> Next {
        if body.is_empty() {
            r.ok();
            return Next::Line;
        }
        if let Some(ext) = body.strip_prefix('+') {
            let end = ext.find(['=', '?']).unwrap_or(ext.len());
            let name = ext[..end].to_ascii_uppercase();
            let rest = &ext[end..];
            let form = if rest.is_empty() {
                Form::Exec
            } else if rest == "?" {
                Form::Read
            } else if rest == "=?" {
                Form::Test
            } else if let Some(a) = rest.strip_prefix('=') {
                Form::Write(a)
            } else {
                r.error();
                return Next::Line;
            };
            let cmd = Cmd { name: &name, form };
            if let Some(next) = self.family().execute(self, sh, cmd, r) {
                return next;
            }
            if let ("CCERTDOWN", Form::Write(a)) = (name.as_str(), &form) {
                return ssl::certdown(a, r);
            }
            self.generic(&name, form, r);
            return Next::Line;
        }
        self.basic(&body.to_ascii_uppercase(), r);
        Next::Line
    }

    fn basic(&mut self, b: &str, r: &mut Resp) {
        let p = self.profile;
        match b {
            "E0" => {
                self.echo = false;
                r.ok()
            }
            "E1" | "E" => {
                self.echo = true;
                r.ok()
            }
            // Quectel: three lines (field `bg96_tinygsm157_pdpdeact_rdy.at`; BG96 and EC2x
            // AT manuals, ATI).
            "I" | "I0" if p.family == Family::Qmt => {
                r.line(p.manufacturer);
                r.line(p.model);
                r.line(&format!("Revision: {}", p.revision));
                r.ok()
            }
            // SIM7080: the firmware base only (ATM V1.05 §2.2.5, `ATI` -> `R1951.01`).
            "I" | "I0" if p.family == Family::Sm => r.answer("R1951.01"),
            "I" | "I0" => {
                r.line(&format!("Manufacturer: {}", p.manufacturer));
                r.line(&format!("Model: {}", p.model));
                r.line(&format!("Revision: {}", p.revision));
                r.line(&format!("IMEI: {}", p.imei));
                r.line("+GCAP: +CGSM,+FCLASS,+DS");
                r.ok()
            }
            "Z" | "Z0" | "&F" | "&F0" => {
                self.echo = true;
                self.cmee = 0;
                r.ok()
            }
            "V1" | "Q0" | "&W" | "&W0" | "&D0" | "&D1" | "&D2" | "&C0" | "&C1" | "H" | "H0" => {
                r.ok()
            }
            _ => r.error(),
        }
    }

    fn generic(&mut self, name: &str, form: Form<'_>, r: &mut Resp) {
        let p = self.profile;
        match (name, form) {
            ("CGMI" | "GMI", Form::Exec) => r.answer(p.manufacturer),
            ("CGMM" | "GMM", Form::Exec) => r.answer(p.model),
            // Quectel prints the revision alone (BG96 / EC2x AT manuals, AT+CGMR and AT+GMR).
            ("CGMR" | "GMR", Form::Exec) if p.family == Family::Qmt => r.answer(p.revision),
            ("CGMR" | "GMR", Form::Exec) => r.answer(&format!("+CGMR: {}", p.revision)),
            ("CGSN" | "GSN", Form::Exec) => r.answer(p.imei),
            ("CIMI", Form::Exec) => r.answer(p.imsi),
            ("CICCID", Form::Exec) => r.answer(&format!("+ICCID: {}", p.iccid)),
            ("CCID", Form::Exec | Form::Read) => r.answer(&format!("+CCID: {}", p.iccid)),
            ("CPIN", Form::Read) => r.answer("+CPIN: READY"),
            ("CSQ", Form::Exec) => r.answer("+CSQ: 23,0"),
            ("CSQ", Form::Test) => r.answer("+CSQ: (0-31,99),(0-7,99)"),
            ("CREG" | "CGREG" | "CEREG", f) => {
                let i = match name {
                    "CREG" => 0,
                    "CGREG" => 1,
                    _ => 2,
                };
                // <stat> 1 registered (home), 0 not registered and not searching (radio off
                // or deregistered with AT+COPS=2); the packet-domain ones also 0 after
                // AT+CGATT=0 (3GPP TS 27.007, +CREG / +CGREG / +CEREG).
                let stat = if i == 0 {
                    u8::from(self.registered())
                } else {
                    u8::from(self.attached())
                };
                match f {
                    Form::Read => r.answer(&format!("+{name}: {},{stat}", self.reg_n[i])),
                    Form::Test => r.answer(&format!("+{name}: (0-2)")),
                    Form::Write(a) => match int(&split_args(a), 0, 0, 2) {
                        Some(n) => {
                            self.reg_n[i] = n as u8;
                            r.ok()
                        }
                        None => self.cme(r, 50),
                    },
                    Form::Exec => {
                        self.reg_n[i] = 0;
                        r.ok()
                    }
                }
            }
            ("COPS", Form::Read) if self.deregistered => r.answer("+COPS: 2"),
            ("COPS", Form::Read) if !self.registered() => r.answer("+COPS: 0"),
            ("COPS", Form::Read) => r.answer(&format!("+COPS: 0,0,\"CHINA MOBILE\",{}", p.act)),
            ("COPS", Form::Test) => {
                r.line(&format!(
                    "+COPS: (2,\"CHINA MOBILE\",\"CMCC\",\"46000\",{}),,(0-4),(0-2)",
                    p.act
                ));
                r.ok()
            }
            // <mode> 0/1/4 register (again), 2 deregisters, 3 only sets the format
            // (27.007 §7.3).
            ("COPS", Form::Write(a)) => match int(&split_args(a), 0, 0, 4) {
                Some(2) => {
                    r.ok();
                    if !self.deregistered {
                        self.deregistered = true;
                        self.network_lost(r);
                    }
                }
                Some(3) => r.ok(),
                Some(_) if self.cfun == 1 => {
                    self.deregistered = false;
                    self.network_back();
                    r.ok()
                }
                // No radio: the registration cannot be made.
                Some(_) => self.cme(r, 30),
                None => self.cme(r, 50),
            },
            ("CGATT", Form::Read) => r.answer(&format!("+CGATT: {}", u8::from(self.attached()))),
            ("CGATT", Form::Test) => r.answer("+CGATT: (0,1)"),
            ("CGATT", Form::Write(a)) => match int(&split_args(a), 0, 0, 1) {
                Some(0) => {
                    r.ok();
                    if !self.detached {
                        self.detached = true;
                        self.network_lost(r);
                    }
                }
                Some(_) if self.registered() => {
                    self.detached = false;
                    self.network_back();
                    r.ok()
                }
                Some(_) => self.cme(r, 30),
                None => self.cme(r, 50),
            },
            ("CGDCONT", Form::Write(a)) => {
                let args = split_args(a);
                let Some(cid) = int(&args, 0, 1, 15) else {
                    return self.cme(r, 50);
                };
                if args.len() == 1 {
                    self.cgdcont.remove(&(cid as u8));
                    return r.ok();
                }
                let ty = args[1].text.to_ascii_uppercase();
                if !matches!(ty.as_str(), "IP" | "IPV6" | "IPV4V6" | "PPP" | "NON-IP") {
                    return self.cme(r, 50);
                }
                let apn = args.get(2).map(|a| a.text.clone()).unwrap_or_default();
                self.cgdcont.insert(cid as u8, (ty, apn));
                r.ok()
            }
            // The defined contexts; +CGSOCKCONT (SIMCom) has two numbers fewer at the end.
            ("CGDCONT" | "CGSOCKCONT", Form::Read) => {
                let rest = if name == "CGDCONT" { ",0,0" } else { "" };
                for (cid, (ty, apn)) in &self.cgdcont {
                    r.line(&format!(
                        "+{name}: {cid},\"{ty}\",\"{apn}\",\"0.0.0.0\",0,0{rest}"
                    ));
                }
                r.ok()
            }
            ("CGDCONT", Form::Test) => {
                r.line("+CGDCONT: (1-15),\"IP\",,,(0-2),(0-4),(0-1),(0-1)");
                r.line("+CGDCONT: (1-15),\"IPV6\",,,(0-2),(0-4),(0-1),(0-1)");
                r.line("+CGDCONT: (1-15),\"IPV4V6\",,,(0-2),(0-4),(0-1),(0-1)");
                r.ok()
            }
            ("CGSOCKCONT", Form::Write(a)) => {
                let args = split_args(a);
                if int(&args, 0, 1, 24).is_none() {
                    return self.cme(r, 50);
                }
                r.ok()
            }
            ("CGACT", Form::Read) => {
                for cid in self.cgdcont.keys() {
                    r.line(&format!(
                        "+CGACT: {cid},{}",
                        u8::from(self.active.contains(cid))
                    ));
                }
                r.ok()
            }
            // AT+CGACT=<state>[,<cid>[,<cid>...]]: no cid = every defined context; a context
            // already in the state stays so; activation needs the packet domain (27.007
            // §10.1.10); an undefined cid is an error.
            ("CGACT", Form::Write(a)) => {
                let args = split_args(a);
                let Some(state) = int(&args, 0, 0, 1) else {
                    return self.cme(r, 50);
                };
                let mut cids = Vec::new();
                for i in 1..args.len() {
                    match int(&args, i, 1, 15) {
                        Some(c) if self.cgdcont.contains_key(&(c as u8)) => cids.push(c as u8),
                        _ => return self.cme(r, 50),
                    }
                }
                if cids.is_empty() {
                    cids = self.cgdcont.keys().copied().collect();
                }
                if state == 1 {
                    if !self.attached() {
                        return self.cme(r, 30);
                    }
                    for c in cids {
                        self.context_up(c);
                    }
                    r.ok()
                } else {
                    r.ok();
                    self.contexts_down(&cids, false, r);
                }
            }
            ("CGACT", Form::Test) => r.answer("+CGACT: (0,1)"),
            ("CGPADDR", Form::Exec | Form::Write(_)) => {
                for cid in self.cgdcont.keys() {
                    if *cid == 1 && self.active.contains(cid) {
                        r.line("+CGPADDR: 1,10.49.14.68");
                    } else {
                        r.line(&format!("+CGPADDR: {cid},0.0.0.0"));
                    }
                }
                r.ok()
            }
            ("CFUN", Form::Read) => r.answer(&format!("+CFUN: {}", self.cfun)),
            // 0 minimum functionality and 4 flight mode switch the radio off: the module
            // deregisters and its contexts go down; 1 switches it on and registers again
            // (at once here), contexts staying down until the host (or AT+QMTOPEN,
            // AT+CMQTTSTART) brings them up. 5-7 are taken and change nothing here.
            ("CFUN", Form::Write(a)) => match int(&split_args(a), 0, 0, 7) {
                Some(f @ (0 | 4)) => {
                    r.ok();
                    let was = self.registered();
                    self.cfun = f as u8;
                    if was {
                        self.network_lost(r);
                    }
                }
                Some(1) => {
                    self.cfun = 1;
                    self.network_back();
                    r.ok()
                }
                Some(_) => r.ok(),
                None => self.cme(r, 50),
            },
            ("CFUN", Form::Test) => r.answer("+CFUN: (0,1,4),(0-1)"),
            ("IPR", Form::Read) => r.answer("+IPR: 115200"),
            ("IPR", Form::Test) => {
                r.answer("+IPR: (0,300,600,1200,2400,4800,9600,19200,38400,57600,115200,230400,460800,921600,3000000,3200000,3686400)");
            }
            ("IPR", Form::Write(a)) => match num(&split_args(a), 0) {
                Some(
                    0 | 300 | 600 | 1200 | 2400 | 4800 | 9600 | 19200 | 38400 | 57600 | 115200
                    | 230400 | 460800 | 921600 | 3000000 | 3200000 | 3686400,
                ) => r.ok(),
                _ => self.cme(r, 50),
            },
            ("CMEE", Form::Read) => r.answer(&format!("+CMEE: {}", self.cmee)),
            ("CMEE", Form::Test) => r.answer("+CMEE: (0-2)"),
            ("CMEE", Form::Write(a)) => match int(&split_args(a), 0, 0, 2) {
                Some(n) => {
                    self.cmee = n as u8;
                    r.ok()
                }
                None => self.cme(r, 50),
            },
            ("CMEE", Form::Exec) => {
                self.cmee = 0;
                r.ok()
            }
            ("CSSLCFG", f) => ssl::csslcfg(&mut self.ssl, self.profile.ssl_ctx_max, f, r),
            ("CCERTLIST", Form::Exec) => {
                for name in self.certs.keys() {
                    r.line(&format!("+CCERTLIST: \"{name}\""));
                }
                r.ok()
            }
            ("CCERTDELE", Form::Write(a)) => {
                let args = split_args(a);
                let name = args.first().map(|a| a.text.as_str()).unwrap_or("");
                if self.certs.remove(name).is_some() {
                    r.ok()
                } else {
                    r.error()
                }
            }
            _ => r.error(),
        }
    }

    /// The data typed after a prompt arrived: a certificate file (`AT+CCERTDOWN`) or the
    /// family's.
    pub(crate) fn data_done(&mut self, kind: DataKind, data: Vec<u8>, r: &mut Resp) {
        match kind {
            DataKind::Cert(name) => {
                self.certs.insert(name, data);
                r.ok()
            }
            DataKind::Family(kind) => self.family().data_done(self, kind, data, r),
        }
    }
}
