//! One egress policy for every request the server makes on a tenant's
//! behalf (a plugin's `http-send`, reply forwarding): the destination must
//! be a public address. Loopback, private, link-local (the cloud metadata
//! address), shared, multicast and unspecified addresses, in IPv4 and IPv6
//! (mapped forms included), are refused unless the operator allows them
//! with `--allow-egress CIDR|HOST` (the tests and `--demo` allow the
//! simulator on loopback this way). Names are checked as they resolve, by
//! the HTTP client's own resolver, so the connection goes to the address
//! that was checked (no DNS rebinding between check and connect).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;

/// Whether `host` is one an allowed-hosts entry names: the same name, or
/// for `*.example.com` any name under it.
pub fn host_pattern_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(suffix) => host
            .len()
            .checked_sub(suffix.len())
            .filter(|&at| at > 0 && host.is_char_boundary(at))
            .is_some_and(|at| {
                host[at..].eq_ignore_ascii_case(suffix) && host.as_bytes()[at - 1] == b'.'
            }),
        None => pattern.eq_ignore_ascii_case(host),
    }
}

/// What tenants are told: never the socket error behind it.
pub const REFUSED: &str = "refused by egress policy";

#[derive(Debug, Default)]
pub struct EgressPolicy {
    /// Non-public ranges the operator allows anyway.
    nets: Vec<IpNet>,
    /// Host names the operator allows whatever they resolve to.
    hosts: Vec<String>,
}

impl EgressPolicy {
    /// Public addresses only, plus each rule: a CIDR (`10.1.0.0/16`), an
    /// address (`127.0.0.1`, `::1`) or a host name.
    pub fn parse(rules: &[String]) -> Result<Self, String> {
        let mut policy = Self::default();
        for rule in rules.iter().flat_map(|r| r.split(',')).map(str::trim) {
            if rule.is_empty() {
                continue;
            }
            if let Ok(net) = rule.parse::<IpNet>() {
                policy.nets.push(net);
            } else if let Ok(ip) = rule.parse::<IpAddr>() {
                policy.nets.push(IpNet::from(ip));
            } else if rule
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
            {
                policy.hosts.push(rule.to_ascii_lowercase());
            } else {
                return Err(format!(
                    "--allow-egress {rule:?}: not a CIDR, address or host name"
                ));
            }
        }
        Ok(policy)
    }

    /// Public addresses and loopback: for local tools (`herald plugin
    /// check`, `--demo`) whose simulator listens on 127.0.0.1.
    pub fn with_loopback() -> Self {
        Self::parse(&["127.0.0.0/8".into(), "::1/128".into()]).expect("valid rules")
    }

    pub fn permits(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        is_public(ip) || self.nets.iter().any(|net| net.contains(&ip))
    }

    /// Whether a URL's host may be reached as written: an address literal
    /// (which never reaches the checking resolver) must be permitted; a
    /// name is checked by the resolver as it connects.
    pub fn permits_url_host(&self, host: &url::Host<&str>) -> bool {
        match host {
            url::Host::Ipv4(ip) => self.permits((*ip).into()),
            url::Host::Ipv6(ip) => self.permits((*ip).into()),
            url::Host::Domain(_) => true,
        }
    }

    /// [`Self::permits_url_host`] of a URL's text; one that does not parse
    /// is left to the client to refuse.
    pub fn permits_url(&self, url: &str) -> bool {
        url::Url::parse(url)
            .ok()
            .and_then(|u| u.host().map(|h| self.permits_url_host(&h)))
            .unwrap_or(true)
    }

    fn host_allowed(&self, host: &str) -> bool {
        self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
    }

    /// Whether the operator named this destination with `--allow-egress`
    /// (a host name, or an address in an allowed range): a tenant may list
    /// it in a channel's allowed hosts without the admin.
    pub fn operator_allows(&self, host: &str) -> bool {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        match bare.parse::<IpAddr>() {
            Ok(ip) => {
                let ip = canonical(ip);
                self.nets.iter().any(|net| net.contains(&ip))
            }
            Err(_) => self.host_allowed(bare),
        }
    }

    /// The check of a URL's host made before a request or when a channel
    /// is saved: an address literal now, a name by resolving it (at
    /// request time the resolver checks it again, as it connects).
    pub async fn check_host(&self, host: &str) -> Result<(), String> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return if self.permits(ip) {
                Ok(())
            } else {
                Err(format!("{REFUSED}: {host} is not a public address"))
            };
        }
        if self.host_allowed(bare) {
            return Ok(());
        }
        // A name that does not resolve now is not refused for that: the
        // resolver checks what it resolves to when a request goes out.
        let Ok(addrs) = tokio::net::lookup_host((bare, 0)).await else {
            return Ok(());
        };
        for addr in addrs {
            if !self.permits(addr.ip()) {
                return Err(format!(
                    "{REFUSED}: {host} resolves to a non-public address"
                ));
            }
        }
        Ok(())
    }

    /// The resolver an HTTP client connects through: only permitted
    /// addresses come out of it.
    pub fn resolver(self: &Arc<Self>) -> Arc<PolicyResolver> {
        Arc::new(PolicyResolver {
            policy: self.clone(),
        })
    }
}

/// `::ffff:a.b.c.d` (and the deprecated `::a.b.c.d`) is the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped().or_else(|| v6.to_ipv4()) {
            Some(v4) if !v6.is_loopback() && !v6.is_unspecified() => IpAddr::V4(v4),
            _ => ip,
        },
        v4 => v4,
    }
}

/// Reachable on the public internet: none of the special-purpose ranges.
pub fn is_public(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || a == 0
                // Shared address space (carrier-grade NAT), 100.64.0.0/10.
                || (a == 100 && (64..128).contains(&b))
                // Benchmarking 198.18.0.0/15 and reserved 240.0.0.0/4.
                || (a == 198 && (18..20).contains(&b))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                // Unique local fc00::/7 and link-local fe80::/10.
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                // Documentation 2001:db8::/32.
                || (first == 0x2001 && v6.segments()[1] == 0x0db8))
        }
    }
}

pub struct PolicyResolver {
    policy: Arc<EgressPolicy>,
}

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = if policy.host_allowed(&host) {
                addrs
            } else {
                addrs
                    .into_iter()
                    .filter(|a| policy.permits(a.ip()))
                    .collect()
            };
            if allowed.is_empty() {
                return Err(format!("{REFUSED}: {host} resolves to no public address").into());
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn special_addresses_are_refused_in_every_form() {
        let strict = EgressPolicy::default();
        for refused in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "fd00::1",
            "fe80::1",
            "ff02::1",
        ] {
            assert!(!strict.permits(ip(refused)), "{refused}");
        }
        for public in ["8.8.8.8", "52.1.2.3", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert!(strict.permits(ip(public)), "{public}");
        }
    }

    #[test]
    fn the_operator_allows_ranges_and_names() {
        let policy =
            EgressPolicy::parse(&["127.0.0.1".into(), "10.1.0.0/16,sim.local".into()]).unwrap();
        assert!(policy.permits(ip("127.0.0.1")));
        assert!(policy.permits(ip("::ffff:127.0.0.1")));
        assert!(!policy.permits(ip("127.0.0.2")));
        assert!(policy.permits(ip("10.1.200.3")));
        assert!(!policy.permits(ip("10.2.0.1")));
        assert!(policy.host_allowed("SIM.local"));
        assert!(EgressPolicy::parse(&["not a rule!".into()]).is_err());
    }

    #[tokio::test]
    async fn names_are_checked_by_what_they_resolve_to() {
        let strict = EgressPolicy::default();
        let refused = strict.check_host("localhost").await.unwrap_err();
        assert!(refused.starts_with(REFUSED), "{refused}");
        assert!(strict.check_host("[::1]").await.is_err());
        assert!(
            EgressPolicy::with_loopback()
                .check_host("localhost")
                .await
                .is_ok()
        );
    }
}
