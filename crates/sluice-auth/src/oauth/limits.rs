//! Per-address request budgets for the authorization endpoints.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// The endpoints with a budget of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Endpoint {
    Authorize,
    Callback,
    Token,
    Register,
    Revoke,
}

/// Addresses tracked before the table is reset (a flood from many addresses must not
/// grow it without bound).
const MAX_TRACKED: usize = 100_000;

/// A fixed one-minute window per address and endpoint.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    per_minute: u32,
    windows: Mutex<HashMap<(Endpoint, IpAddr), (Instant, u32)>>,
}

impl RateLimiter {
    pub(crate) fn new(per_minute: u32) -> Self {
        RateLimiter {
            per_minute: per_minute.max(1),
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// `Ok` when `address` may make one more request to `endpoint`; otherwise the
    /// seconds until it may.
    pub(crate) fn check(&self, endpoint: Endpoint, address: IpAddr) -> Result<(), u64> {
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if windows.len() >= MAX_TRACKED {
            windows.retain(|_, (start, _)| now.duration_since(*start).as_secs() < 60);
            if windows.len() >= MAX_TRACKED {
                windows.clear();
            }
        }
        let (start, count) = windows.entry((endpoint, address)).or_insert((now, 0));
        let age = now.duration_since(*start).as_secs();
        if age >= 60 {
            *start = now;
            *count = 0;
        }
        if *count >= self.per_minute {
            return Err(60u64.saturating_sub(age).max(1));
        }
        *count += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_and_endpoint_has_its_own_budget() {
        let limiter = RateLimiter::new(2);
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        assert!(limiter.check(Endpoint::Token, a).is_ok());
        assert!(limiter.check(Endpoint::Token, a).is_ok());
        assert!(limiter.check(Endpoint::Token, a).is_err());
        assert!(limiter.check(Endpoint::Register, a).is_ok());
        assert!(limiter.check(Endpoint::Token, b).is_ok());
    }
}
