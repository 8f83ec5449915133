//! Network registration answers: the read commands `AT+CREG?`, `AT+CGREG?` and `AT+CEREG?`
//! of 3GPP TS 27.007 (sections 7.2, 10.1.20, 10.1.22) answer `+CREG: <n>,<stat>[,...]`.

/// The three registration read commands, as (key, command, answer prefix).
pub const QUERIES: [(&str, &str, &str); 3] = [
    ("creg", "AT+CREG?", "+CREG:"),
    ("cgreg", "AT+CGREG?", "+CGREG:"),
    ("cereg", "AT+CEREG?", "+CEREG:"),
];

/// The words for `<stat>` (TS 27.007 7.2; 8 to 10 from the EPS variant of 10.1.22).
pub fn state_name(stat: u8) -> Option<&'static str> {
    Some(match stat {
        0 => "not registered",
        1 => "home",
        2 => "searching",
        3 => "denied",
        4 => "unknown",
        5 => "roaming",
        6 => "home (SMS only)",
        7 => "roaming (SMS only)",
        8 => "emergency only",
        9 => "home (CSFB not preferred)",
        10 => "roaming (CSFB not preferred)",
        _ => return None,
    })
}

/// [`state_name`], or `"stat <n>"` for a value the table does not name.
pub fn describe(stat: u8) -> String {
    state_name(stat).map_or_else(|| format!("stat {stat}"), str::to_string)
}

/// The `<stat>` of a read answer's value (what follows `+CREG:`), e.g. `"0,1"` or
/// `"2,5,\"1A2B\",\"01C3D4E5\",7"`: the second field. None when it is not a number.
pub fn read_stat(value: &str) -> Option<u8> {
    value.split(',').nth(1)?.trim().parse().ok()
}

/// The state in words of a whole read answer line (`+CREG: 0,5` → `"roaming"`), with the
/// `<stat>` number for values the table does not name (`"stat 12"`); None for another line.
pub fn parse_line(line: &str) -> Option<(&'static str, String)> {
    let line = line.trim();
    QUERIES.iter().find_map(|&(key, _, prefix)| {
        let stat = read_stat(line.strip_prefix(prefix)?)?;
        Some((key, describe(stat)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_answers() {
        assert_eq!(parse_line("+CREG: 0,1"), Some(("creg", "home".into())));
        assert_eq!(
            parse_line("+CEREG: 2,5,\"1A2B\",\"01C3D4E5\",7"),
            Some(("cereg", "roaming".into()))
        );
        assert_eq!(
            parse_line("+CGREG: 0,12"),
            Some(("cgreg", "stat 12".into()))
        );
        // The prefix +CREG: is not taken for +CGREG: or +CEREG: lines, nor the other way.
        assert_eq!(
            parse_line("+CGREG: 1,2"),
            Some(("cgreg", "searching".into()))
        );
    }

    #[test]
    fn not_read_answers() {
        assert_eq!(parse_line("+CREG: 1"), None); // the URC form has no <n>
        assert_eq!(parse_line("+CREG: 0,x"), None);
        assert_eq!(parse_line("+CSQ: 20,99"), None);
        assert_eq!(parse_line(""), None);
        assert_eq!(read_stat("0,300"), None);
    }
}
