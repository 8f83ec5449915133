//! MQTT topic names and filters (MQTT 3.1.1 section 4.7).

use crate::error::{Error, Result};

/// A topic name to publish to: no wildcards, no NUL.
pub fn validate_name(topic: &str) -> Result<()> {
    if topic.is_empty() {
        return Err(Error::invalid("topic: must not be empty"));
    }
    if topic.contains(['+', '#']) {
        return Err(Error::invalid(format!(
            "topic: {topic:?} contains a wildcard; publish needs a topic name"
        )));
    }
    if topic.contains('\0') {
        return Err(Error::invalid("topic: must not contain NUL"));
    }
    Ok(())
}

/// A subscription filter: `+` fills a whole level, `#` only as the last level.
pub fn validate_filter(filter: &str) -> Result<()> {
    if filter.is_empty() {
        return Err(Error::invalid("topic: must not be empty"));
    }
    if filter.contains('\0') {
        return Err(Error::invalid("topic: must not contain NUL"));
    }
    let levels: Vec<&str> = filter.split('/').collect();
    for (i, level) in levels.iter().enumerate() {
        if level.contains('#') && (*level != "#" || i != levels.len() - 1) {
            return Err(Error::invalid(format!(
                "topic: {filter:?}: '#' must be a whole, last level"
            )));
        }
        if level.contains('+') && *level != "+" {
            return Err(Error::invalid(format!(
                "topic: {filter:?}: '+' must be a whole level"
            )));
        }
    }
    Ok(())
}

/// Whether `topic` matches `filter`.
pub fn matches(filter: &str, topic: &str) -> bool {
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_matching() {
        assert!(matches("a/+/c", "a/b/c"));
        assert!(matches("a/#", "a"));
        assert!(matches("a/#", "a/b/c"));
        assert!(matches("#", "x/y"));
        assert!(!matches("a/+", "a/b/c"));
        assert!(!matches("a/b", "a/c"));
        assert!(!matches("+/x", "$SYS/x"));
        assert!(matches("a//b", "a//b"));
    }

    #[test]
    fn validation() {
        assert!(validate_name("a/b").is_ok());
        assert!(validate_name("a/+").is_err());
        assert!(validate_name("").is_err());
        assert!(validate_filter("a/+/#").is_ok());
        assert!(validate_filter("a/#/b").is_err());
        assert!(validate_filter("a/b+").is_err());
    }
}
