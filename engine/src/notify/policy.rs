//! The rules of delivery, decided here once: which targets may be called, how an attempt is
//! signed, which answers are retried and after how long.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::Invalid;

/// The longest webhook URL taken.
pub const MAX_URL_CHARS: usize = 2048;

/// A webhook URL taken apart: what an attempt resolves and connects to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub https: bool,
    pub host: String,
    pub port: u16,
    /// Path and query, at least `/`.
    pub path: String,
}

impl Target {
    /// Parses a webhook URL: http or https, a host, no credentials, at most
    /// [`MAX_URL_CHARS`].
    pub fn parse(text: &str) -> Result<Target, Invalid> {
        let bad = |why: &str| Invalid::WebhookUrl(why.to_string());
        if text.chars().count() > MAX_URL_CHARS {
            return Err(bad(&format!("is longer than {MAX_URL_CHARS} characters")));
        }
        let url = url::Url::parse(text).map_err(|error| bad(&format!("is not a URL ({error})")))?;
        let https = match url.scheme() {
            "https" => true,
            "http" => false,
            other => return Err(bad(&format!("must be http or https, not `{other}`"))),
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("must not carry credentials"));
        }
        let host = match url.host() {
            Some(url::Host::Domain(name)) => name.to_string(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            None => return Err(bad("has no host")),
        };
        let port = url
            .port_or_known_default()
            .ok_or_else(|| bad("has no port"))?;
        let mut path = url.path().to_string();
        if let Some(query) = url.query() {
            path.push('?');
            path.push_str(query);
        }
        Ok(Target {
            https,
            host,
            port,
            path,
        })
    }

    /// The host as a literal address, if it is one.
    pub fn literal(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }
}

/// Whether `ip` is on the public internet: not loopback, private, link-local, shared
/// (CGNAT), unique-local, multicast, documentation, benchmarking, reserved or unspecified,
/// nor an IPv4 address wrapped in IPv6 that is one of those.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_public_v4(ip),
        IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(ip),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link local
        || (first & 0xffc0) == 0xfec0 // site local (deprecated)
        || first == 0x2001 && ip.segments()[1] == 0x0db8 // documentation
        || first == 0x0064 && ip.segments()[1] == 0xff9b // NAT64 (can reach private v4)
        || ip.to_ipv4().is_some()) // IPv4-compatible
}

/// Of the addresses a target resolved to, those an attempt may connect to: all of them when
/// private networks are allowed, else the public ones. Refused outright when any is private,
/// so a name that mixes public and private answers cannot be used to reach the private one.
pub fn allowed_addresses(
    addresses: Vec<SocketAddr>,
    allow_private: bool,
) -> Result<Vec<SocketAddr>, String> {
    if addresses.is_empty() {
        return Err("the host resolved to no address".to_string());
    }
    if !allow_private
        && let Some(private) = addresses.iter().find(|address| !is_public(address.ip()))
    {
        return Err(format!(
            "refused: the target resolves to {} in a private or loopback network \
             (webhooks.allow_private_networks is off)",
            private.ip()
        ));
    }
    Ok(addresses)
}

/// `X-Flit-Signature`: `sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">` with each secret
/// that signs (the current one, then the previous one during a rotation's grace period),
/// comma-separated.
pub fn signature(secrets: &[&str], timestamp: i64, body: &[u8]) -> String {
    let mut header = String::new();
    for secret in secrets {
        let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
            Ok(mac) => mac,
            // HMAC takes keys of any length.
            Err(_) => continue,
        };
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        if !header.is_empty() {
            header.push(',');
        }
        header.push_str("sha256=");
        for byte in mac.finalize().into_bytes() {
            header.push_str(&format!("{byte:02x}"));
        }
    }
    header
}

/// Whether an answer with this status is worth another attempt: server errors, 408 and 429.
pub fn is_retryable(status: u16) -> bool {
    status >= 500 || status == 408 || status == 429
}

/// How the wait between attempts grows.
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Backoff {
    /// The wait after the `attempt`-th failed attempt (1-based): `base × 2^(attempt-1)`, capped
    /// at `max`, then scaled by `jitter` (a factor in [0.75, 1.25)) so that retries of many
    /// events do not land on an endpoint at once.
    pub fn after(&self, attempt: u16, jitter: f64) -> Duration {
        let doubling = 1u32 << u32::from(attempt.saturating_sub(1)).min(20);
        let wait = self.base.saturating_mul(doubling).min(self.max);
        wait.mul_f64(jitter.clamp(0.75, 1.25))
    }

    /// A random jitter factor for [`Backoff::after`].
    pub fn jitter() -> f64 {
        0.75 + rand::random::<f64>() * 0.5
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_http_or_https_with_a_host() {
        let target = Target::parse("https://hooks.example.com/flit?x=1").expect("valid");
        assert_eq!(
            target,
            Target {
                https: true,
                host: "hooks.example.com".into(),
                port: 443,
                path: "/flit?x=1".into()
            }
        );
        assert_eq!(Target::parse("http://[::1]:81").expect("valid").port, 81);
        for bad in [
            "ftp://example.com/",
            "javascript:alert(1)",
            "example.com/hook",
            "http://user:pw@example.com/",
            "",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_CHARS));
        assert!(Target::parse(&long).is_err());
    }

    #[test]
    fn private_and_loopback_addresses_are_not_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
        ] {
            let ip: IpAddr = private.parse().expect("address");
            assert!(!is_public(ip), "{private}");
        }
        for public in ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"] {
            let ip: IpAddr = public.parse().expect("address");
            assert!(is_public(ip), "{public}");
        }
    }

    #[test]
    fn one_private_answer_refuses_the_target() {
        let public: SocketAddr = "93.184.216.34:443".parse().expect("address");
        let private: SocketAddr = "127.0.0.1:443".parse().expect("address");
        assert!(allowed_addresses(vec![public, private], false).is_err());
        assert_eq!(allowed_addresses(vec![public], false), Ok(vec![public]));
        assert_eq!(allowed_addresses(vec![private], true), Ok(vec![private]));
        assert!(allowed_addresses(vec![], true).is_err());
    }

    #[test]
    fn the_signature_is_an_hmac_of_timestamp_dot_body() {
        // Computed independently (Python's hmac module).
        assert_eq!(
            signature(&["key"], 1_700_000_000, b"{}"),
            "sha256=9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae"
        );
        assert_eq!(
            signature(&["new", "old"], 5, b"x"),
            "sha256=46ab5687fb0f89e332b07e93dec348fd93fa6f4c700cb56aec5a6c291727604d,\
             sha256=56b05c49296168f3ef7a1021c22c5b07dba54bd88c50daa502b868f130c07d58"
        );
    }

    #[test]
    fn retries_on_server_errors_timeouts_and_throttling_only() {
        for status in [500, 502, 503, 504, 408, 429] {
            assert!(is_retryable(status), "{status}");
        }
        for status in [400, 401, 403, 404, 410, 422] {
            assert!(!is_retryable(status), "{status}");
        }
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let backoff = Backoff {
            base: Duration::from_secs(10),
            max: Duration::from_secs(3600),
        };
        assert_eq!(backoff.after(1, 1.0), Duration::from_secs(10));
        assert_eq!(backoff.after(2, 1.0), Duration::from_secs(20));
        assert_eq!(backoff.after(9, 1.0), Duration::from_secs(2560));
        assert_eq!(backoff.after(10, 1.0), Duration::from_secs(3600));
        assert_eq!(backoff.after(40, 1.0), Duration::from_secs(3600));
        assert_eq!(backoff.after(1, 0.75), Duration::from_millis(7500));
        assert_eq!(backoff.after(1, 9.0), Duration::from_millis(12500));
    }
}
