//! Who the client is behind a reverse proxy: [`TrustedProxies`].
//!
//! Behind a load balancer every connection comes from the balancer's address, so limits
//! per client address would treat all clients as one. A proxy named as trusted is taken
//! at its word: connections from it are not counted per address (the server-wide limit
//! still holds), and an unauthenticated request's client is the address the proxy wrote
//! into `X-Forwarded-For` — the rightmost entry not itself a trusted proxy, as each
//! proxy appends the address it saw. Entries left of that are the client's own to
//! write, and are never believed. From a peer that is not trusted the header is
//! ignored.

use std::net::IpAddr;

use axum::http::HeaderMap;

/// The header a proxy appends the address it saw to.
const FORWARDED_FOR: &str = "x-forwarded-for";

/// Networks whose connections come from a reverse proxy to be believed about the
/// client's address. Empty by default: no one is trusted.
///
/// Connections from a trusted proxy are not counted per address (the server-wide limit
/// still holds), and an unauthenticated request's client is the rightmost
/// `X-Forwarded-For` entry that is not itself a trusted proxy — each proxy appends the
/// address it saw, so entries left of that are the client's own to write and never
/// believed. From a peer that is not trusted the header is ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    /// Each network as an address and a prefix length.
    nets: Vec<(IpAddr, u8)>,
}

impl TrustedProxies {
    /// No proxy is trusted.
    pub fn none() -> Self {
        TrustedProxies::default()
    }

    /// Parses networks separated by commas or spaces, each an address (`10.0.0.7`,
    /// `::1`) or a network in CIDR form (`10.0.0.0/8`, `fd00::/8`).
    ///
    /// ```
    /// use sluice_mcp::transport::http::TrustedProxies;
    /// let proxies = TrustedProxies::parse("10.0.0.0/8, 127.0.0.1").unwrap();
    /// assert!(proxies.contains("10.1.2.3".parse().unwrap()));
    /// assert!(!proxies.contains("192.0.2.1".parse().unwrap()));
    /// assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// A message naming the entry that is not an address or a network.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut nets = Vec::new();
        for entry in list
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|e| !e.is_empty())
        {
            let (address, prefix) = match entry.split_once('/') {
                Some((address, prefix)) => (address, Some(prefix)),
                None => (entry, None),
            };
            let address: IpAddr = address
                .parse()
                .map_err(|_| format!("trusted proxy {entry:?}: not an IP address"))?;
            let address = canonical(address);
            let most = if address.is_ipv4() { 32 } else { 128 };
            let prefix = match prefix {
                None => most,
                Some(prefix) => prefix
                    .parse::<u8>()
                    .ok()
                    .filter(|p| *p <= most)
                    .ok_or_else(|| format!("trusted proxy {entry:?}: prefix must be 0–{most}"))?,
            };
            nets.push((address, prefix));
        }
        Ok(TrustedProxies { nets })
    }

    /// True when no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    /// True when `ip` is in one of the networks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.nets
            .iter()
            .any(|(net, prefix)| within(ip, *net, *prefix))
    }

    /// The client's address for a request that came from `peer` with `headers`:
    /// `peer` itself unless it is a trusted proxy; else the rightmost
    /// `X-Forwarded-For` entry that is not a trusted proxy (the leftmost entry when all
    /// are; `peer` when there is none, or an entry does not parse — a chain that cannot
    /// be read is not followed).
    pub(super) fn client_of(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.contains(peer) {
            return peer;
        }
        let mut entries: Vec<&str> = Vec::new();
        for value in headers.get_all(FORWARDED_FOR) {
            let Ok(value) = value.to_str() else {
                return peer;
            };
            entries.extend(value.split(',').map(str::trim));
        }
        let mut client = peer;
        for entry in entries.iter().rev() {
            let Some(ip) = forwarded_address(entry) else {
                return client;
            };
            client = ip;
            if !self.contains(ip) {
                return ip;
            }
        }
        client
    }
}

/// An `X-Forwarded-For` entry's address: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1` or
/// `[2001:db8::1]:4711`.
fn forwarded_address(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Ok(socket) = entry.parse::<std::net::SocketAddr>() {
        return Some(canonical(socket.ip()));
    }
    None
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

fn within(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(FORWARDED_FOR, value.parse().unwrap());
        }
        headers
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn networks_parse_and_match() {
        let proxies = TrustedProxies::parse("10.0.0.0/8 192.0.2.7,fd00::/8").unwrap();
        assert!(proxies.contains(ip("10.255.0.1")));
        assert!(proxies.contains(ip("::ffff:10.0.0.1")), "mapped IPv4");
        assert!(proxies.contains(ip("192.0.2.7")));
        assert!(!proxies.contains(ip("192.0.2.8")));
        assert!(proxies.contains(ip("fd12::1")));
        assert!(!proxies.contains(ip("fe80::1")));
        assert!(
            TrustedProxies::parse("0.0.0.0/0")
                .unwrap()
                .contains(ip("8.8.8.8"))
        );
        for bad in [
            "10.0.0.0/",
            "10.0.0/8",
            "::/129",
            "proxy.example",
            "10.0.0.1/-1",
        ] {
            assert!(TrustedProxies::parse(bad).is_err(), "{bad}");
        }
        assert!(TrustedProxies::parse("").unwrap().is_empty());
    }

    #[test]
    fn only_a_trusted_peer_is_believed() {
        let proxies = TrustedProxies::parse("127.0.0.1").unwrap();
        let forged = headers(&["203.0.113.9"]);
        assert_eq!(proxies.client_of(ip("192.0.2.1"), &forged), ip("192.0.2.1"));
        assert_eq!(
            proxies.client_of(ip("127.0.0.1"), &forged),
            ip("203.0.113.9")
        );
        assert_eq!(
            TrustedProxies::none().client_of(ip("127.0.0.1"), &forged),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn the_rightmost_untrusted_entry_is_the_client() {
        let proxies = TrustedProxies::parse("10.0.0.0/8, 127.0.0.1").unwrap();
        // The client wrote a fake first entry; the proxies appended what they saw.
        let chain = headers(&["1.2.3.4, 198.51.100.20", "10.0.0.5"]);
        assert_eq!(
            proxies.client_of(ip("127.0.0.1"), &chain),
            ip("198.51.100.20")
        );
        // Ports and brackets as some proxies write them.
        let ported = headers(&["[2001:db8::7]:4711, 198.51.100.21:55000"]);
        assert_eq!(
            proxies.client_of(ip("127.0.0.1"), &ported),
            ip("198.51.100.21")
        );
        // Only proxies in the chain: the leftmost.
        let inner = headers(&["10.0.0.9, 10.0.0.5"]);
        assert_eq!(proxies.client_of(ip("127.0.0.1"), &inner), ip("10.0.0.9"));
        // No header, or a chain that does not parse: the peer (or the last hop read).
        assert_eq!(
            proxies.client_of(ip("127.0.0.1"), &HeaderMap::new()),
            ip("127.0.0.1")
        );
        let junk = headers(&["198.51.100.1, unknown, 10.0.0.5"]);
        assert_eq!(proxies.client_of(ip("127.0.0.1"), &junk), ip("10.0.0.5"));
    }
}
