use super::*;

#[test]
fn smsub_quoted_form_splits_at_the_first_separator() {
    let (t, p) = parse_smsub(b"+SMSUB: \"information\",\"hello\"").unwrap();
    assert_eq!(
        (t.as_slice(), p.as_slice()),
        (&b"information"[..], &b"hello"[..])
    );
    // The payload may hold quotes and the separator itself.
    let (t, p) = parse_smsub(b"+SMSUB: \"a/b\",\"{\"k\":\"v\",\"x\"}\"").unwrap();
    assert_eq!(t, b"a/b");
    assert_eq!(p, b"{\"k\":\"v\",\"x\"}");
    // Empty payload.
    let (_, p) = parse_smsub(b"+SMSUB: \"a\",\"\"").unwrap();
    assert!(p.is_empty());
}

#[test]
fn smsub_unquoted_form_of_the_application_note() {
    let (t, p) = parse_smsub(b"+SMSUB: /ext/regnwl,{\"clientId\":\"x\"}").unwrap();
    assert_eq!(t, b"/ext/regnwl");
    assert_eq!(p, b"{\"clientId\":\"x\"}");
}

#[test]
fn smsub_cut_lines_are_not_messages() {
    // A payload whose line break cut the line: no closing quote.
    assert!(parse_smsub(b"+SMSUB: \"a\",\"first half").is_none());
    assert!(parse_smsub(b"+SMSUB: \"a\"").is_none());
    assert!(parse_smsub(b"+SMSTATE: 0").is_none());
}

#[test]
fn router_reports_losses_with_their_causes() {
    let c = ClientShared::new(0, 8);
    c.sync_connected(false);
    let (prefixes, handler) = urc_router(std::slice::from_ref(&c));
    assert!(prefixes.iter().any(|p| p == b"+SMSUB:"));
    handler(&Frame::Line(b"+SMSUB: \"t\",\"x\"".to_vec()));
    let m = c.try_next().unwrap();
    assert_eq!((m.topic.as_str(), m.payload.as_slice()), ("t", &b"x"[..]));
    assert_eq!(m.qos, None);
    assert_eq!(
        cause_reason(CAUSE_LINK_DOWN),
        "the module reports the MQTT link down (+SMSTATE: 0)"
    );
    assert_eq!(
        cause_reason(crate::mqtt::CAUSE_PDP_DEACTIVATED),
        "the bearer went down (+APP PDP: 0,DEACTIVE)"
    );
}

#[test]
fn limits_of_the_manual() {
    let c = capabilities("sim7080").unwrap();
    assert_eq!((c.clients, c.topic_max, c.payload_max), (1, 128, 1024));
    assert_eq!(c.client_id_len, (1, 128));
    assert_eq!(c.server_addr_len, (1, 246));
    assert_eq!(c.keepalive, (0, 65535));
    assert!(capabilities("sim7600").is_none());
    assert_eq!(profile_for_model("SIMCOM_SIM7080"), "sim7080");
}

#[test]
fn tls_without_a_ca_is_refused_before_sending() {
    let e = SmClient::check_tls(&Tls::default())
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("tls: ca_cert is needed"), "{e}");
    let t = Tls {
        ca_cert: Some(vec![b'x'; FILE_MAX + 1]),
        ..Tls::default()
    };
    let e = SmClient::check_tls(&t).unwrap_err().to_string();
    assert!(e.starts_with("ca_cert: 10240 bytes is too long"), "{e}");
}
