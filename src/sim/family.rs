//! The seam between the virtual modem's shared core (parser, generic commands, SSL, links)
//! and its command families: each family is one module implementing [`SimFamily`], found
//! by [`of`]. The core calls the family from one place each: a `+NAME` command
//! (`Modem::execute`), the data after one of its prompts (`Modem::data_done`), a link
//! event (`link::report`), a context going down (`Modem::contexts_down`), the network
//! going and coming back, a fault-injected link loss (`VirtualModem::drop_link`).

use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::Duration;

use super::args::{Cmd, Resp};
use super::link::LinkEvent;
use super::modem::Modem;
use super::parser::{DataKind, Next};
use super::profile::Family;
use super::{Shared, SimError, VirtualModem};

/// One command family of the virtual modem. Every method runs with the modem state
/// locked (`m`), except [`SimFamily::after_command`] and [`SimFamily::drop_link`].
pub(crate) trait SimFamily: Sync {
    /// Executes `AT+<c.name>` if it is one of this family's commands; `None` leaves it to the
    /// core (generic 3GPP and SSL commands, else `ERROR`).
    fn execute(&self, m: &mut Modem, sh: &Arc<Shared>, c: Cmd<'_>, r: &mut Resp) -> Option<Next>;

    /// The data the host typed after one of this family's prompts (a family without
    /// prompts never gets any).
    fn data_done(&self, _m: &mut Modem, _kind: DataKind, _data: Vec<u8>, r: &mut Resp) {
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

    /// PDP context `cid` went down (already removed from `m.active`): the family's links
    /// on it go, with their URCs in `r`. `by_network`: the network took it, else the host.
    fn context_down(&self, _m: &mut Modem, _cid: u8, _by_network: bool, _r: &mut Resp) {}

    /// The registration is gone (after every context went down).
    fn network_lost(&self, _m: &mut Modem) {}

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

/// The family of a profile.
pub(crate) fn of(family: Family) -> &'static dyn SimFamily {
    match family {
        Family::Cmqtt => &super::cmqtt::Cmqtt,
        Family::Qmt => &super::qmt::Qmt,
        Family::Aliyun => &super::aliyun::Aliyun,
    }
}
