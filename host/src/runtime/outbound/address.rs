//! Which addresses a plugin may reach through a host *name*: globally routable ones only.
//! A name that resolves to loopback, a private network, link-local, CGNAT, multicast or any
//! other special-purpose range is refused, so an allowed public name cannot be pointed (by
//! its DNS, or by `/etc/hosts`) at the user's machine or network. Only an `allowed_hosts`
//! entry that is itself such a literal address reaches one.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Whether `ip` is a public unicast address (IANA's special-purpose registries, RFC 6890
/// and its updates, read conservatively: when in doubt, not global).
pub fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_global_v4(v4),
        IpAddr::V6(v6) => is_global_v6(v6),
    }
}

fn is_global_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0                                   // "this network", 0.0.0.0 (unspecified)
        || a == 10                             // private
        || a == 127                            // loopback
        || (a == 100 && (64..128).contains(&b)) // CGNAT, shared address space
        || (a == 169 && b == 254)              // link-local (cloud metadata services)
        || (a == 172 && (16..32).contains(&b)) // private
        || (a == 192 && b == 0 && c == 0)      // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2)      // documentation
        || (a == 192 && b == 88 && c == 99)    // 6to4 relay anycast (deprecated)
        || (a == 192 && b == 168)              // private
        || (a == 198 && (b == 18 || b == 19))  // benchmarking
        || (a == 198 && b == 51 && c == 100)   // documentation
        || (a == 203 && b == 0 && c == 113)    // documentation
        || a >= 224) // multicast, reserved, broadcast
}

fn is_global_v6(ip: Ipv6Addr) -> bool {
    // An IPv4 address carried in IPv6 is judged as that IPv4 address.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_global_v4(v4);
    }
    let s = ip.segments();
    // NAT64 (64:ff9b::/96): DNS64 networks hand out these for public IPv4 names.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_global_v4(v4_of(s[6], s[7]));
    }
    // 6to4 (2002::/16) carries an IPv4 address in its next 32 bits.
    if s[0] == 0x2002 {
        return is_global_v4(v4_of(s[1], s[2]));
    }
    // Global unicast is 2000::/3; inside it, the IETF protocol assignments (2001::/23:
    // Teredo, benchmarking, ORCHID) and documentation (2001:db8::/32, 3fff::/20) are not.
    // Everything else (::, ::1, IPv4-compatible ::/96, fc00::/7 unique local, fe80::/10
    // link-local, fec0::/10 site-local, ff00::/8 multicast, 100::/64 discard) is outside.
    let global_unicast = (s[0] & 0xe000) == 0x2000;
    let protocol_assignments = s[0] == 0x2001 && s[1] < 0x0200;
    let documentation = (s[0] == 0x2001 && s[1] == 0x0db8) || (s[0] & 0xfff0) == 0x3ff0;
    global_unicast && !protocol_assignments && !documentation
}

/// The IPv4 address two IPv6 segments carry (NAT64, 6to4).
fn v4_of(hi: u16, lo: u16) -> Ipv4Addr {
    let [a, b] = hi.to_be_bytes();
    let [c, d] = lo.to_be_bytes();
    Ipv4Addr::new(a, b, c, d)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn only_public_unicast_addresses_are_global() {
        for ip in [
            "0.0.0.0",
            "0.1.2.3",
            "127.0.0.1",
            "127.255.255.254",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "198.18.0.1",
            "198.51.100.1",
            "203.0.113.1",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::a00:1",
            "2002:7f00:1::",
            "2002:c0a8:101::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "100::1",
            "2001::1",
            "2001:2::1",
            "2001:db8::1",
            "3fff::1",
        ] {
            assert!(!is_global(ip.parse().unwrap()), "{ip} is not global");
        }
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.216.34",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.255.255",
            "172.32.0.1",
            "192.169.0.1",
            "2606:4700::1111",
            "2a00:1450:4001::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(is_global(ip.parse().unwrap()), "{ip} is global");
        }
    }
}
