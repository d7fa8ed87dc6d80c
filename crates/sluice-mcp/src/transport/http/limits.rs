//! Per-client accounting and the byte budget: who a connection or a request counts
//! against ([`ClientKey`]), bounded counters per client ([`PerClient`]), and reading a
//! body within a deadline and a budget shared by every request ([`read_body`]).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use axum::response::Response;
use http_body_util::BodyExt as _;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::lock;

/// Who a connection, a request or a session is counted against: the token's subject once
/// a request is authenticated, else the peer's address (an IPv6 address by its `/64`, the
/// block one host is usually given).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) enum ClientKey {
    /// An authenticated caller.
    Subject(Arc<str>),
    /// An unauthenticated peer.
    Address(IpAddr),
    /// The peer is unknown (the router is served by someone else's loop without
    /// `ConnectInfo`): no per-client limit applies.
    Unknown,
}

impl ClientKey {
    /// The key of a peer address.
    pub(super) fn address(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(_) => ClientKey::Address(ip),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => ClientKey::Address(IpAddr::V4(v4)),
                None => {
                    let bits = u128::from(v6) & !((1u128 << 64) - 1);
                    ClientKey::Address(IpAddr::V6(Ipv6Addr::from(bits)))
                }
            },
        }
    }
}

/// A count per client, each bounded by `limit`.
pub(super) struct PerClient {
    counts: Mutex<HashMap<ClientKey, usize>>,
    limit: usize,
}

/// One unit held against a client; released when dropped.
pub(super) struct Held {
    owner: Option<(Arc<PerClient>, ClientKey)>,
}

impl PerClient {
    pub(super) fn new(limit: usize) -> Arc<Self> {
        Arc::new(PerClient {
            counts: Mutex::new(HashMap::new()),
            limit: limit.max(1),
        })
    }

    /// Takes one unit for `key`, or `None` when it already holds `limit`.
    pub(super) fn try_hold(self: &Arc<Self>, key: &ClientKey) -> Option<Held> {
        if *key == ClientKey::Unknown {
            return Some(Held { owner: None });
        }
        let mut counts = lock(&self.counts);
        let count = counts.entry(key.clone()).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(Held {
            owner: Some((Arc::clone(self), key.clone())),
        })
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let Some((owner, key)) = self.owner.take() else {
            return;
        };
        let mut counts = lock(&owner.counts);
        if let Some(count) = counts.get_mut(&key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&key);
            }
        }
    }
}

/// The bytes of request bodies held at once, across every request.
pub(super) struct Budget {
    bytes: Arc<Semaphore>,
    total: u32,
}

impl Budget {
    pub(super) fn new(bytes: usize) -> Self {
        let total = u32::try_from(bytes.max(1)).unwrap_or(u32::MAX);
        Budget {
            bytes: Arc::new(Semaphore::new(total as usize)),
            total,
        }
    }

    /// Takes `bytes` of the budget now, or `None` when that much is not free.
    fn try_take(&self, bytes: usize) -> Option<OwnedSemaphorePermit> {
        let bytes = u32::try_from(bytes).ok().filter(|b| *b <= self.total)?;
        Arc::clone(&self.bytes).try_acquire_many_owned(bytes).ok()
    }
}

/// Why a body was not read.
pub(super) enum BodyRefusal {
    TooLarge,
    TimedOut,
    OverBudget,
    Broken,
}

impl BodyRefusal {
    /// The answer; the connection is closed after it (the rest of the body is unread).
    pub(super) fn response(&self) -> Response {
        let (status, message) = match self {
            BodyRefusal::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "request body too large"),
            BodyRefusal::TimedOut => (
                StatusCode::REQUEST_TIMEOUT,
                "the request body did not arrive in time",
            ),
            BodyRefusal::OverBudget => (
                StatusCode::SERVICE_UNAVAILABLE,
                "the server holds too many request bodies at once; try again shortly",
            ),
            BodyRefusal::Broken => (StatusCode::BAD_REQUEST, "the request body broke off"),
        };
        let mut response = super::error(status, message);
        if matches!(self, BodyRefusal::OverBudget) {
            response = super::retry_after(response, "1");
        }
        super::closing(response)
    }
}

/// Reads a whole body of at most `limit` bytes within `timeout`, holding its size in
/// `budget` (taken as the bytes arrive, or at once for a declared length) until the
/// returned permit is dropped.
pub(super) async fn read_body(
    body: Body,
    declared: Option<usize>,
    limit: usize,
    timeout: Duration,
    budget: &Budget,
) -> Result<(Bytes, Vec<OwnedSemaphorePermit>), BodyRefusal> {
    if declared.is_some_and(|length| length > limit) {
        return Err(BodyRefusal::TooLarge);
    }
    let mut permits = Vec::new();
    if let Some(length) = declared.filter(|length| *length > 0) {
        permits.push(budget.try_take(length).ok_or(BodyRefusal::OverBudget)?);
    }
    let reading = async {
        let mut body = body;
        let mut collected: Vec<u8> = Vec::with_capacity(declared.unwrap_or(0).min(limit));
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| BodyRefusal::Broken)?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            if collected.len() + data.len() > limit {
                return Err(BodyRefusal::TooLarge);
            }
            let beyond_declared = (collected.len() + data.len())
                .saturating_sub(declared.unwrap_or(0))
                .min(data.len());
            if beyond_declared > 0 {
                permits.push(
                    budget
                        .try_take(beyond_declared)
                        .ok_or(BodyRefusal::OverBudget)?,
                );
            }
            collected.extend_from_slice(&data);
        }
        Ok(Bytes::from(collected))
    };
    match tokio::time::timeout(timeout, reading).await {
        Ok(Ok(bytes)) => Ok((bytes, permits)),
        Ok(Err(refusal)) => Err(refusal),
        Err(_) => Err(BodyRefusal::TimedOut),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_peers_count_by_their_64_block_and_mapped_v4_as_v4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1"
            .parse()
            .unwrap_or(IpAddr::from([0; 4]));
        let b: IpAddr = "2001:db8:1:2:bbbb::9"
            .parse()
            .unwrap_or(IpAddr::from([0; 4]));
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap_or(IpAddr::from([0; 4]));
        assert_eq!(ClientKey::address(a), ClientKey::address(b));
        assert_ne!(ClientKey::address(a), ClientKey::address(c));
        let mapped: IpAddr = "::ffff:10.0.0.7".parse().unwrap_or(IpAddr::from([0; 4]));
        assert_eq!(
            ClientKey::address(mapped),
            ClientKey::Address(IpAddr::from([10, 0, 0, 7]))
        );
    }

    #[test]
    fn a_client_holds_at_most_its_limit_and_gets_units_back() {
        let counts = PerClient::new(2);
        let key = ClientKey::address(IpAddr::from([127, 0, 0, 2]));
        let other = ClientKey::address(IpAddr::from([127, 0, 0, 3]));
        let first = counts.try_hold(&key);
        let second = counts.try_hold(&key);
        assert!(first.is_some() && second.is_some());
        assert!(counts.try_hold(&key).is_none());
        assert!(counts.try_hold(&other).is_some());
        drop(first);
        assert!(counts.try_hold(&key).is_some());
        assert!(counts.try_hold(&ClientKey::Unknown).is_some());
    }
}
