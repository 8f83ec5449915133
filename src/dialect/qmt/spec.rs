//! The QMT family's [`FamilySpec`]: what the modem, the fuzz targets and the property tests
//! need of it.

use super::{profile_for_model, raw_rules, urc_router, Context};
use crate::dialect::{
    no_line_parsers, open_context_clients, quoted_payload_line, Family, FamilyInfo, FamilySpec,
    MessageRules, ProbeExchange, ProfileBy,
};

// Quectel `AT+QMT*`.
crate::family_spec!(FamilySpec {
    info: FamilyInfo::new(
        Family::Qmt,
        "qmt",
        &["quectel"],
        "AT+QMTCFG=?",
        Some("quectel"),
    ),
    raw_rules,
    // The largest profile in `capabilities()`.
    max_clients: 6,
    urc_router,
    profile: ProfileBy::Model(profile_for_model),
    qmt_options: true,
    open_clients: open_context_clients::<Context>,
    probes: [
        ProbeExchange::awaiting(
            "AT+QMTSUB=0,1,\"a/b\",1",
            None,
            b"+QMTSUB: 0,1,",
            b"+QMTSUB: 0,1,0,1",
        ),
        ProbeExchange::awaiting(
            "AT+QMTPUBEX=0,1,1,0,\"a/b\",5",
            Some(b"hello"),
            b"+QMTPUBEX: 0,1,",
            b"+QMTPUBEX: 0,1,0",
        ),
    ],
    // The topic is quoted inside the line; the payload is counted.
    message_rules: MessageRules::QUOTED_TOPIC,
    encode_message,
    parse_line: no_line_parsers,
});

/// One `+QMTRECV` line carrying `msgid` (the topic must have no `"`).
fn encode_message(index: u8, topic: &str, payload: &[u8], _part: usize, msgid: u16) -> Vec<u8> {
    let head = format!("+QMTRECV: {index},{msgid},\"{topic}\",{},", payload.len());
    quoted_payload_line(&head, payload)
}
