//! The CMQTT family's [`FamilySpec`]: what the modem, the fuzz targets and the property
//! tests need of it.

use super::{profile_for_model, raw_rules, urc_router, Context};
use crate::dialect::{
    no_line_parsers, open_context_clients, Family, FamilyInfo, FamilySpec, MessageRules,
    ProbeExchange, ProfileBy,
};

// SIMCom `AT+CMQTT*`.
crate::family_spec!(FamilySpec {
    info: FamilyInfo::new(Family::Cmqtt, "cmqtt", &["simcom"], "AT+CMQTTACCQ=?", None),
    raw_rules,
    // The largest profile in `capabilities()` (SIM7028 has one).
    max_clients: 2,
    urc_router,
    profile: ProfileBy::Model(profile_for_model),
    qmt_options: false,
    open_clients: open_context_clients::<Context>,
    probes: [
        ProbeExchange::awaiting(
            "AT+CMQTTPUB=0,1,60,0",
            None,
            b"+CMQTTPUB: 0,",
            b"+CMQTTPUB: 0,0",
        ),
        ProbeExchange::awaiting(
            "AT+CMQTTSUB=0,3,1",
            Some(b"a/b"),
            b"+CMQTTSUB: 0,",
            b"+CMQTTSUB: 0,0",
        ),
    ],
    // Topic and payload arrive as counted raw parts: anything goes.
    message_rules: MessageRules::COUNTED,
    encode_message,
    parse_line: no_line_parsers,
});

/// `+CMQTTRXSTART`, the topic and payload in `+CMQTTRXTOPIC` / `+CMQTTRXPAYLOAD` parts of
/// at most `part` bytes, `+CMQTTRXEND`.
fn encode_message(index: u8, topic: &str, payload: &[u8], part: usize, _msgid: u16) -> Vec<u8> {
    let part = part.max(1);
    let mut out = format!(
        "\r\n+CMQTTRXSTART: {index},{},{}\r\n",
        topic.len(),
        payload.len()
    )
    .into_bytes();
    for (kind, data) in [("TOPIC", topic.as_bytes()), ("PAYLOAD", payload)] {
        for piece in data.chunks(part) {
            out.extend_from_slice(
                format!("\r\n+CMQTTRX{kind}: {index},{}\r\n", piece.len()).as_bytes(),
            );
            out.extend_from_slice(piece);
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(format!("\r\n+CMQTTRXEND: {index}\r\n").as_bytes());
    out
}
