//! The `requestState` of a multi-round-trip request: what the earlier rounds gathered,
//! sealed so that the client can carry it but not change it.
//!
//! Format: `base64url(payload) "." base64url(HMAC-SHA-256(key, payload))`, where the
//! payload is JSON `{"v":1,"exp":<unix seconds>,"req":<hex digest>,"answers":{…}}`.
//! `req` digests what the state belongs to — the method, the tool, prompt or resource,
//! its arguments (keys sorted, so the same arguments in another order match) and the
//! caller's subject — so state issued for one request, or one caller, is refused for
//! any other. `exp` bounds how long a client may take between rounds.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// The server's key for sealing request state, and how long state stays valid.
#[derive(Clone)]
pub(crate) struct Sealer {
    key: [u8; 32],
    lifetime: Duration,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.debug_struct("Sealer")
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

/// Why a `requestState` was refused. The message is safe to show the client: it says
/// what is wrong without helping to forge state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refused(pub(crate) &'static str);

impl Sealer {
    pub(crate) fn new(key: [u8; 32], lifetime: Duration) -> Self {
        Sealer { key, lifetime }
    }

    /// A key from the operating system's randomness: state survives only as long as the
    /// process (replicas that share clients need [`Sealer::new`] with one shared key).
    pub(crate) fn random(lifetime: Duration) -> Self {
        let mut key = [0u8; 32];
        if getrandom::fill(&mut key).is_err() {
            // A machine without randomness cannot keep secrets; make forgery at least
            // depend on the moment the process started.
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            key[..16].copy_from_slice(&nanos.to_le_bytes());
        }
        Sealer { key, lifetime }
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC takes keys of any length; 32 bytes cannot fail.
        <HmacSha256 as KeyInit>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"))
    }

    /// Seals `answers` for the request `binding` names.
    pub(crate) fn seal(&self, binding: &str, answers: &Map<String, Value>) -> String {
        let expires = now_secs().saturating_add(self.lifetime.as_secs());
        let payload = json!({"v": 1, "exp": expires, "req": binding, "answers": answers});
        let payload = URL_SAFE_NO_PAD.encode(payload.to_string());
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        let tag = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{payload}.{tag}")
    }

    /// Opens state sealed by [`seal`](Self::seal) for the same request: the answers of
    /// the earlier rounds.
    pub(crate) fn open(&self, binding: &str, state: &str) -> Result<Map<String, Value>, Refused> {
        const TAMPERED: Refused =
            Refused("requestState was not issued by this server or was altered");
        let (payload, tag) = state.split_once('.').ok_or(TAMPERED)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| TAMPERED)?;
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        // Constant-time comparison.
        mac.verify_slice(&tag).map_err(|_| TAMPERED)?;
        let bytes = URL_SAFE_NO_PAD.decode(payload).map_err(|_| TAMPERED)?;
        let Ok(Value::Object(mut payload)) = serde_json::from_slice::<Value>(&bytes) else {
            return Err(TAMPERED);
        };
        if payload.get("v") != Some(&json!(1)) {
            return Err(TAMPERED);
        }
        let expires = payload.get("exp").and_then(Value::as_u64).ok_or(TAMPERED)?;
        if expires < now_secs() {
            return Err(Refused(
                "requestState has expired: send the request again without it",
            ));
        }
        if payload.get("req").and_then(Value::as_str) != Some(binding) {
            return Err(Refused(
                "requestState belongs to another request (method, name, arguments or caller differ)",
            ));
        }
        match payload.remove("answers") {
            Some(Value::Object(answers)) => Ok(answers),
            _ => Err(TAMPERED),
        }
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The digest that binds state to one request of one caller: SHA-256 over the method,
/// the target, the subject and the arguments as canonical JSON, the first three
/// length-prefixed, streamed into the hash without building the text.
pub(crate) fn binding(method: &str, target: &str, arguments: &Value, subject: &str) -> String {
    let mut hasher = Sha256::new();
    for part in [method, target, subject] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    write_canonical(arguments, &mut HashWriter(&mut hasher));
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = hasher.finalize();
    let mut hex = String::with_capacity(64);
    for byte in digest.iter() {
        hex.push(char::from(HEX[usize::from(byte >> 4)]));
        hex.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    hex
}

/// Feeds what JSON serialisation writes into the hash.
struct HashWriter<'a>(&'a mut Sha256);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// JSON with object keys sorted at every level: equal values give equal bytes whatever
/// order the client sent the keys in.
fn write_canonical(value: &Value, out: &mut HashWriter<'_>) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.0.update(b"{");
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.0.update(b",");
                }
                // Writing into a hash cannot fail.
                let _ = serde_json::to_writer(&mut *out, key);
                out.0.update(b":");
                write_canonical(&map[key], out);
            }
            out.0.update(b"}");
        }
        Value::Array(items) => {
            out.0.update(b"[");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.0.update(b",");
                }
                write_canonical(item, out);
            }
            out.0.update(b"]");
        }
        other => {
            let _ = serde_json::to_writer(&mut *out, other);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answers() -> Map<String, Value> {
        let mut map = Map::new();
        map.insert(
            "name".into(),
            json!({"action": "accept", "content": {"n": "Alice"}}),
        );
        map
    }

    #[test]
    fn sealed_state_opens_for_the_same_request_only() {
        let sealer = Sealer::random(Duration::from_secs(60));
        let here = binding(
            "tools/call",
            "t",
            &json!({"a": 1, "b": [1, {"y": 2, "x": 1}]}),
            "alice",
        );
        let state = sealer.seal(&here, &answers());
        assert_eq!(sealer.open(&here, &state).unwrap(), answers());
        // The same arguments in another key order are the same request.
        let reordered = binding(
            "tools/call",
            "t",
            &json!({"b": [1, {"x": 1, "y": 2}], "a": 1}),
            "alice",
        );
        assert_eq!(here, reordered);
        for other in [
            binding("tools/call", "t", &json!({"a": 2}), "alice"),
            binding("tools/call", "u", &json!({"a": 1}), "alice"),
            binding("prompts/get", "t", &json!({"a": 1}), "alice"),
            binding(
                "tools/call",
                "t",
                &json!({"a": 1, "b": [1, {"y": 2, "x": 1}]}),
                "bob",
            ),
        ] {
            assert!(sealer.open(&other, &state).is_err());
        }
    }

    #[test]
    fn altered_or_foreign_state_is_refused() {
        let sealer = Sealer::random(Duration::from_secs(60));
        let here = binding("tools/call", "t", &Value::Null, "");
        let state = sealer.seal(&here, &answers());
        let (payload, tag) = state.split_once('.').unwrap();
        // A payload with other answers, under the old tag.
        let mut forged_answers = answers();
        forged_answers.insert("name".into(), json!({"action": "decline"}));
        let forged = Sealer::random(Duration::from_secs(60)).seal(&here, &forged_answers);
        let (forged_payload, _) = forged.split_once('.').unwrap();
        for bad in [
            format!("{state}-TAMPERED"),
            format!("{forged_payload}.{tag}"),
            forged.clone(),
            payload.to_owned(),
            String::new(),
            ".".to_owned(),
            "x".repeat(10_000),
        ] {
            assert!(sealer.open(&here, &bad).is_err(), "{bad:.40}");
        }
    }

    #[test]
    fn expired_state_is_refused() {
        let sealer = Sealer::new([7; 32], Duration::ZERO);
        let here = binding("tools/call", "t", &Value::Null, "");
        // Sealed with no lifetime, it expires as the clock's second turns.
        let state = sealer.seal(&here, &answers());
        std::thread::sleep(Duration::from_millis(1100));
        assert!(
            sealer
                .open(&here, &state)
                .unwrap_err()
                .0
                .contains("expired")
        );
    }
}
