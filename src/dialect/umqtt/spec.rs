//! The u-blox family's [`FamilySpec`]: what the modem, the fuzz targets and the property
//! tests need of it.

use super::{profile_for_model, raw_rules, urc_router, Context};
use crate::dialect::{
    no_line_parsers, open_context_clients, quoted_payload_line, Family, FamilyInfo, FamilySpec,
    MessageRules, ProbeExchange, ProfileBy,
};

// u-blox `AT+UMQTT` / `AT+UMQTTC` (new syntax).
crate::family_spec!(FamilySpec {
    info: FamilyInfo::new(
        Family::Umqtt,
        "umqtt",
        &["ublox", "u-blox"],
        "AT+UMQTTC=?",
        Some("u-blox"),
    ),
    raw_rules,
    max_clients: 1,
    urc_router,
    profile: ProfileBy::Model(profile_for_model),
    qmt_options: false,
    open_clients: open_context_clients::<Context>,
    probes: [
        ProbeExchange::awaiting(
            "AT+UMQTTC=4,1,\"a/b\"",
            None,
            b"+UUMQTTC: 4,",
            b"+UUMQTTC: 4,1,1,\"a/b\"",
        ),
        ProbeExchange::awaiting(
            "AT+UMQTTC=9,1,0,\"a/b\",5",
            Some(b"hello"),
            b"+UUMQTTC: 9,",
            b"+UUMQTTC: 9,1",
        ),
    ],
    // The topic is quoted inside the read answer; the message is counted.
    message_rules: MessageRules::QUOTED_TOPIC,
    encode_message,
    parse_line: no_line_parsers,
});

/// One read answer `+UMQTTC: 6,...` (the topic must have no `"`); QoS 1.
fn encode_message(_index: u8, topic: &str, payload: &[u8], _part: usize, _msgid: u16) -> Vec<u8> {
    let (t, p) = (topic.len(), payload.len());
    quoted_payload_line(
        &format!("+UMQTTC: 6,1,{},{t},\"{topic}\",{p},", t + p),
        payload,
    )
}
