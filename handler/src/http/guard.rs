//! Which addresses an `http` job may reach.
//!
//! A URL in a job is data from outside, and the handler runs inside an AWS
//! account: a job that names `169.254.169.254` would read the instance
//! metadata service's credentials (the 2019 Capital One breach went this way).
//! So every address a host resolves to is checked here before connecting, and
//! the connection goes to the checked address. These are refused unless
//! `JOBS_HTTP_ALLOW` names them: loopback, private (RFC 1918, IPv6 unique
//! local, which holds the metadata service's `fd00:ec2::254`), link-local (the
//! metadata service's `169.254.169.254`), carrier-grade NAT, multicast,
//! unspecified, broadcast, reserved, benchmarking and documentation ranges,
//! and the IPv6 forms that carry an IPv4 address inside (IPv4-mapped,
//! IPv4-compatible, NAT64, 6to4), checked as the IPv4 address they carry.
//!
//! `JOBS_HTTP_ALLOW` matches resolved addresses, not names: a name can be made
//! to resolve anywhere, an address cannot.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// The setting that lets calls reach networks the rules refuse.
pub const ALLOW_ENV: &str = "JOBS_HTTP_ALLOW";

/// A network: an address and a prefix length (`10.0.0.0/8`, `::1/128`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    address: IpAddr,
    prefix: u8,
}

impl Network {
    const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> Self {
        Network {
            address: IpAddr::V4(Ipv4Addr::new(a, b, c, d)),
            prefix,
        }
    }

    const fn v6(segments: [u16; 8], prefix: u8) -> Self {
        let [a, b, c, d, e, f, g, h] = segments;
        Network {
            address: IpAddr::V6(Ipv6Addr::new(a, b, c, d, e, f, g, h)),
            prefix,
        }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.address, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_matches(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_matches(&net.octets(), &ip.octets(), self.prefix)
            }
            _ => false,
        }
    }
}

fn prefix_matches(net: &[u8], ip: &[u8], prefix: u8) -> bool {
    let full = usize::from(prefix / 8);
    let rest = prefix % 8;
    if net[..full] != ip[..full] {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    (net[full] & mask) == (ip[full] & mask)
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix)
    }
}

impl FromStr for Network {
    type Err = String;

    /// `ADDRESS/PREFIX`, or an address alone (one host).
    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address: IpAddr = address
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| format!("`{text}` is not an address or network such as `10.1.0.0/16`"))?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(prefix) => prefix
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{text}` has a prefix length that is not 0 to {max}"))?,
            None => max,
        };
        if canonical(address) != address {
            return Err(format!(
                "`{text}` is an IPv6 form of an IPv4 address; write the IPv4 address, which covers every form"
            ));
        }
        let network = Network { address, prefix };
        // `10.1.2.3/8` most likely means a mistake; say so instead of guessing.
        let masked = Network {
            address: mask(network.address, network.prefix),
            ..network
        };
        if masked.address != network.address {
            return Err(format!(
                "`{text}` has bits set past its prefix; did you mean `{masked}`?"
            ));
        }
        Ok(network)
    }
}

fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    fn masked<const N: usize>(mut octets: [u8; N], prefix: u8) -> [u8; N] {
        for (i, octet) in octets.iter_mut().enumerate() {
            let start = (i * 8) as u32;
            let keep = u32::from(prefix).saturating_sub(start).min(8);
            *octet &= if keep == 0 { 0 } else { 0xffu8 << (8 - keep) };
        }
        octets
    }
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(masked(v4.octets(), prefix))),
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(masked(v6.octets(), prefix))),
    }
}

/// The ranges refused by default, each with the reason a refusal gives.
pub const REFUSED: [(Network, &str); 26] = [
    (
        Network::v4(0, 0, 0, 0, 8),
        "an unspecified (\"this network\") address",
    ),
    (Network::v4(10, 0, 0, 0, 8), "a private address"),
    (
        Network::v4(100, 64, 0, 0, 10),
        "a carrier-grade NAT address",
    ),
    (Network::v4(127, 0, 0, 0, 8), "a loopback address"),
    (
        Network::v4(169, 254, 0, 0, 16),
        "a link-local address (the instance metadata service is 169.254.169.254)",
    ),
    (Network::v4(172, 16, 0, 0, 12), "a private address"),
    (Network::v4(192, 0, 0, 0, 24), "an IETF protocol address"),
    (Network::v4(192, 0, 2, 0, 24), "a documentation address"),
    (Network::v4(192, 88, 99, 0, 24), "a 6to4 relay address"),
    (Network::v4(192, 168, 0, 0, 16), "a private address"),
    (Network::v4(198, 18, 0, 0, 15), "a benchmarking address"),
    (Network::v4(198, 51, 100, 0, 24), "a documentation address"),
    (Network::v4(203, 0, 113, 0, 24), "a documentation address"),
    (Network::v4(224, 0, 0, 0, 4), "a multicast address"),
    (
        Network::v4(240, 0, 0, 0, 4),
        "a reserved address (or the broadcast address)",
    ),
    (
        Network::v6([0, 0, 0, 0, 0, 0, 0, 0], 128),
        "the unspecified address",
    ),
    (
        Network::v6([0, 0, 0, 0, 0, 0, 0, 1], 128),
        "a loopback address",
    ),
    (
        Network::v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48),
        "a local-use NAT64 address",
    ),
    (
        Network::v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64),
        "a discard-only address",
    ),
    (
        Network::v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32),
        "a documentation address",
    ),
    (
        Network::v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 23),
        "an IETF protocol address",
    ),
    (
        Network::v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7),
        "a unique local (private) address (the instance metadata service is fd00:ec2::254)",
    ),
    (
        Network::v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10),
        "a link-local address",
    ),
    (
        Network::v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10),
        "a site-local address",
    ),
    (
        Network::v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8),
        "a multicast address",
    ),
    (
        Network::v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20),
        "a documentation address",
    ),
];

/// The IPv4 address an IPv6 address carries, for the forms that route to it:
/// IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`), NAT64
/// (`64:ff9b::a.b.c.d`) and 6to4 (`2002:AABB:CCDD::`).
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(low),
        // `::` and `::1` are IPv6's own; other `::a.b.c.d` are IPv4-compatible.
        [0, 0, 0, 0, 0, 0, hi, lo] if (hi, lo) != (0, 0) && (hi, lo) != (0, 1) => Some(low),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(low),
        [0x2002, a, b, ..] => Some(Ipv4Addr::new(
            (a >> 8) as u8,
            a as u8,
            (b >> 8) as u8,
            b as u8,
        )),
        _ => None,
    }
}

/// The address as it is routed: an IPv6 form that carries an IPv4 address
/// is that IPv4 address.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => embedded_v4(v6).map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Why the default rules refuse `ip`, or `None` when it is a public address.
pub fn refusal(ip: IpAddr) -> Option<&'static str> {
    let ip = canonical(ip);
    REFUSED
        .iter()
        .find(|(network, _)| network.contains(ip))
        .map(|(_, reason)| *reason)
}

/// The networks `JOBS_HTTP_ALLOW` lets calls reach past the rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList(Vec<Network>);

impl AllowList {
    /// Comma-separated networks or addresses: `127.0.0.1/32,10.1.0.0/16`.
    pub fn parse(text: &str) -> Result<Self, String> {
        text.split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(Network::from_str)
            .collect::<Result<Vec<_>, _>>()
            .map(AllowList)
    }

    pub fn networks(&self) -> &[Network] {
        &self.0
    }

    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|network| network.contains(ip))
    }

    /// Whether a call may connect to `ip`, and plain `http` with it: an
    /// allowed address always; any other only when public, and over TLS.
    pub fn check(&self, ip: IpAddr, https: bool) -> Result<(), String> {
        if self.allows(ip) {
            return Ok(());
        }
        if let Some(reason) = refusal(ip) {
            return Err(format!(
                "`{ip}` is {reason}, which jobs may not reach unless {ALLOW_ENV} allows it"
            ));
        }
        if !https {
            return Err(format!(
                "plain `http` to `{ip}` is refused: use `https`, or allow the address in {ALLOW_ENV}"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect(text)
    }

    #[test]
    fn every_listed_range_is_refused_at_its_edges_and_its_neighbours_are_not() {
        for (network, reason) in REFUSED {
            let first = network.address;
            assert_eq!(refusal(first), Some(reason), "{network}");
            let last = match first {
                IpAddr::V4(v4) => {
                    let host_bits = 32 - u32::from(network.prefix);
                    let last = u32::from(v4) | ((1u64 << host_bits) - 1) as u32;
                    IpAddr::V4(Ipv4Addr::from(last))
                }
                IpAddr::V6(v6) => {
                    let host_bits = 128 - u32::from(network.prefix);
                    let ones = if host_bits == 128 {
                        u128::MAX
                    } else {
                        (1u128 << host_bits) - 1
                    };
                    IpAddr::V6(Ipv6Addr::from(u128::from(v6) | ones))
                }
            };
            assert!(refusal(last).is_some(), "{last} ends {network}");
        }
        for public in [
            "1.1.1.1",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "169.253.255.255",
            "169.255.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.167.255.255",
            "192.169.0.0",
            "223.255.255.255",
            "2606:4700::1111",
            "2a00:1450:4001::1",
        ] {
            assert_eq!(refusal(ip(public)), None, "{public}");
        }
    }

    #[test]
    fn the_metadata_services_and_their_disguises_are_refused() {
        for address in [
            "169.254.169.254",
            "fd00:ec2::254",
            "::ffff:169.254.169.254",
            "::ffff:127.0.0.1",
            "::169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "2002:a9fe:a9fe::1",
            "::ffff:10.0.0.1",
            "100.100.100.200",
            "0.0.0.0",
            "::",
            "255.255.255.255",
            "fe80::1",
            "ff02::1",
        ] {
            assert!(refusal(ip(address)).is_some(), "{address} must be refused");
        }
        // A public address in a mapped form is the public address.
        assert_eq!(refusal(ip("::ffff:1.1.1.1")), None);
    }

    #[test]
    fn the_allow_list_matches_addresses_in_any_form() {
        let allow = AllowList::parse("127.0.0.1/32, 10.1.0.0/16,::1").expect("list");
        assert!(allow.allows(ip("127.0.0.1")));
        assert!(allow.allows(ip("::ffff:127.0.0.1")));
        assert!(!allow.allows(ip("127.0.0.2")));
        assert!(allow.allows(ip("10.1.200.3")));
        assert!(!allow.allows(ip("10.2.0.1")));
        assert!(allow.allows(ip("::1")));
        assert!(allow.check(ip("127.0.0.1"), false).is_ok());
        let refused = allow.check(ip("127.0.0.2"), false).expect_err("loopback");
        assert!(
            refused.contains("loopback") && refused.contains(ALLOW_ENV),
            "{refused}"
        );
        assert!(allow.check(ip("1.1.1.1"), true).is_ok());
        let plain = allow.check(ip("1.1.1.1"), false).expect_err("plain http");
        assert!(plain.contains("plain `http`"), "{plain}");
        assert_eq!(AllowList::parse("").expect("empty"), AllowList::default());
        for bad in ["10.1.2.3/8", "10.0.0.0/33", "example.com", "10.0.0.0/x"] {
            assert!(AllowList::parse(bad).is_err(), "{bad}");
        }
    }
}
