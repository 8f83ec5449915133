//! The device triple: its checks, the platform endpoint and the MQTT login signature.

use super::*;

/// The MQTT CONNECT fields the Alibaba IoT platform expects from a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttSign {
    pub client_id: String,
    pub username: String,
    pub password: String,
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The HMAC of `text` keyed with `key`, by the MAC type `M`.
fn hmac_digest<M: Mac + hmac::digest::KeyInit>(key: &str, text: &str) -> Vec<u8> {
    // HMAC accepts keys of any length: new_from_slice cannot fail.
    match <M as hmac::digest::KeyInit>::new_from_slice(key.as_bytes()) {
        Ok(mut mac) => {
            mac.update(text.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

/// Signs a connection by the platform's documented scheme: the parameters `clientId`,
/// `deviceName`, `productKey` and (when given) `timestamp`, sorted by name, are written as
/// name followed by value, and that text is signed with the device secret; the hex digest is
/// the password. The MQTT client id is `<clientId>|securemode=3,signmethod=<m>[,timestamp=<t>]|`
/// (securemode 3: plain TCP) and the user name `<deviceName>&<productKey>`. `client_id`
/// `None` uses `<productKey>.<deviceName>`, as the platform SDK does.
pub fn sign_mqtt(
    product_key: &str,
    device_name: &str,
    device_secret: &str,
    client_id: Option<&str>,
    timestamp: Option<&str>,
    method: SignMethod,
) -> MqttSign {
    let id = client_id
        .map(str::to_string)
        .unwrap_or_else(|| format!("{product_key}.{device_name}"));
    let mut content = format!("clientId{id}deviceName{device_name}productKey{product_key}");
    if let Some(ts) = timestamp {
        content.push_str("timestamp");
        content.push_str(ts);
    }
    let digest = match method {
        SignMethod::HmacSha1 => hmac_digest::<Hmac<sha1::Sha1>>(device_secret, &content),
        SignMethod::HmacSha256 => hmac_digest::<Hmac<sha2::Sha256>>(device_secret, &content),
    };
    let mut ext = format!("securemode=3,signmethod={}", method.name());
    if let Some(ts) = timestamp {
        ext.push_str(",timestamp=");
        ext.push_str(ts);
    }
    MqttSign {
        client_id: format!("{id}|{ext}|"),
        username: format!("{device_name}&{product_key}"),
        password: hex(&digest),
    }
}

/// The platform's MQTT endpoint for a product in the default (Shanghai) region.
pub fn mqtt_endpoint(product_key: &str) -> String {
    format!("{product_key}.iot-as-mqtt.cn-shanghai.aliyuncs.com")
}

/// Checks a device triple against the manual's limits and quoting rules.
pub fn check_triple(product_key: &str, device_name: &str, device_secret: &str) -> Result<()> {
    for (what, v, max) in [
        ("product_key", product_key, PRODUCT_KEY_MAX),
        ("device_name", device_name, DEVICE_NAME_MAX),
        ("device_secret", device_secret, DEVICE_SECRET_MAX),
    ] {
        mqtt::check_len(what, v.len(), (1, max))?;
        mqtt::check_quotable(what, v)?;
        if v.contains(['\\', ',']) {
            return Err(Error::invalid(format!(
                "{what}: must not contain a backslash or a comma"
            )));
        }
    }
    Ok(())
}

/// Signature algorithms of the platform's MQTT signing scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignMethod {
    HmacSha1,
    HmacSha256,
}

impl SignMethod {
    pub fn name(self) -> &'static str {
        match self {
            SignMethod::HmacSha1 => "hmacsha1",
            SignMethod::HmacSha256 => "hmacsha256",
        }
    }
}
