//! Devices an account has signed in from, so that a sign-in from a new one is told to the account's
//! owner, once per device.
//!
//! A browser is recognised by a long-lived device cookie, of which only the SHA-256 is stored per
//! account (the cookie alone names no one). A client that keeps no cookies (an API client, a
//! private window) is recognised by its user agent and network instead: the /24 of an IPv4
//! address or the /64 of an IPv6 one, so an address that changes within a household or a mobile
//! network is still the same device. The first device an account is seen on is recorded without
//! a notice: that is the sign-up itself, or the first sign-in since devices were recorded.

use std::net::IpAddr;

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit::AuditEvent;
use crate::jobs::NewJob;
use crate::secret::TokenHash;
use crate::store::StoreError;

/// A device recorded for an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownDevice {
    pub id: Uuid,
    pub cookie_hash: Option<TokenHash>,
    pub user_agent: Option<String>,
    pub network: Option<String>,
    pub created_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
}

/// A sign-in as far as device recognition cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sighting {
    pub user_id: Uuid,
    /// The hash of the device cookie the browser sent, if it sent one.
    pub cookie_hash: Option<TokenHash>,
    pub user_agent: Option<String>,
    pub network: Option<String>,
    pub at: OffsetDateTime,
}

/// What a sighting is to the account's known devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recognition {
    /// Seen before, by its cookie: this record.
    Known(Uuid),
    /// A browser without the cookie, with the user agent and network of a known device: recorded
    /// with its new cookie, without a notice.
    Familiar,
    /// Never seen: recorded, and (unless it is the account's first device) its owner told.
    New { first: bool },
}

/// Recognises `sighting` among `known`.
pub fn recognise(known: &[KnownDevice], sighting: &Sighting) -> Recognition {
    if let Some(cookie) = sighting.cookie_hash
        && let Some(device) = known.iter().find(|device| device.cookie_hash == Some(cookie))
    {
        return Recognition::Known(device.id);
    }
    // Without an address (a listener that knows no peer), the user agent alone decides.
    let familiar =
        known.iter().any(|device| device.user_agent == sighting.user_agent && device.network == sighting.network);
    if familiar { Recognition::Familiar } else { Recognition::New { first: known.is_empty() } }
}

/// The network an address belongs to, as device recognition compares it: the /24 of IPv4, the
/// /64 of IPv6 (an IPv4-mapped IPv6 address counts as IPv4).
pub fn network_of(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => network_of(IpAddr::V4(v4)),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// A browser and system in words, for a notice: "Firefox on Linux", "Safari on iPhone".
///
/// Written here rather than taken from a user-agent database crate: a notice needs only the
/// common names, and those crates carry a large, frequently changing rule set for the rest.
pub fn describe_user_agent(user_agent: Option<&str>) -> String {
    let Some(agent) = user_agent.filter(|agent| !agent.trim().is_empty()) else {
        return "an unknown device".to_owned();
    };
    // Order matters: Edge and Opera also say Chrome, Chrome also says Safari.
    let browser = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chromium/", "Chromium"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
        ("python-httpx", "a Python program"),
        ("python-requests", "a Python program"),
        ("node", "a Node.js program"),
    ]
    .into_iter()
    .find_map(|(marker, name)| agent.contains(marker).then_some(name));
    let system = [
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Android", "Android"),
        ("CrOS", "ChromeOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Macintosh", "macOS"),
        ("Linux", "Linux"),
    ]
    .into_iter()
    .find_map(|(marker, name)| agent.contains(marker).then_some(name));
    match (browser, system) {
        (Some(browser), Some(system)) => format!("{browser} on {system}"),
        (Some(browser), None) => browser.to_owned(),
        (None, Some(system)) => format!("a browser on {system}"),
        // Unrecognised: its first word, cut short, so a notice still says something.
        (None, None) => agent.split_whitespace().next().unwrap_or(agent).chars().take(40).collect(),
    }
}

/// A device to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDevice {
    pub id: Uuid,
    pub user_id: Uuid,
    pub cookie_hash: TokenHash,
    pub user_agent: Option<String>,
    pub network: Option<String>,
    pub at: OffsetDateTime,
}

/// Who a new session belongs to and where it was made, read from SQL, not from a session cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionOwner {
    pub session_id: Uuid,
    pub user: crate::accounts::User,
    pub user_agent: Option<String>,
    pub ip: Option<IpAddr>,
}

/// Storage of known devices.
#[async_trait]
pub trait DeviceStore: Send + Sync + std::fmt::Debug {
    /// The owner of the session with this token hash, straight from SQL (so recording a device
    /// fills no session cache).
    async fn session_owner(&self, token_hash: &TokenHash) -> Result<Option<SessionOwner>, StoreError>;

    async fn known_devices(&self, user_id: Uuid) -> Result<Vec<KnownDevice>, StoreError>;

    /// Records that a known device signed in at `at`.
    async fn device_seen(&self, id: Uuid, at: OffsetDateTime) -> Result<(), StoreError>;

    /// Records a device with the jobs (its notice) and events it causes, in one transaction;
    /// `false`, with nothing written, when the account has this cookie already (a sign-in racing
    /// this one recorded it), so a device is told about once.
    async fn add_device(&self, device: &NewDevice, jobs: &[NewJob], events: &[AuditEvent]) -> Result<bool, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("time")
    }

    fn device(cookie: u8, agent: &str, network: &str) -> KnownDevice {
        KnownDevice {
            id: Uuid::new_v4(),
            cookie_hash: Some(TokenHash([cookie; 32])),
            user_agent: Some(agent.to_owned()),
            network: Some(network.to_owned()),
            created_at: at(),
            last_seen_at: at(),
        }
    }

    fn sighting(cookie: Option<u8>, agent: &str, network: &str) -> Sighting {
        Sighting {
            user_id: Uuid::new_v4(),
            cookie_hash: cookie.map(|c| TokenHash([c; 32])),
            user_agent: Some(agent.to_owned()),
            network: Some(network.to_owned()),
            at: at(),
        }
    }

    #[test]
    fn a_device_is_known_by_its_cookie_then_by_agent_and_network() {
        let known = [device(1, "Firefox", "10.0.0.0/24")];
        assert_eq!(recognise(&known, &sighting(Some(1), "Chrome", "192.0.2.0/24")), Recognition::Known(known[0].id));
        assert_eq!(recognise(&known, &sighting(None, "Firefox", "10.0.0.0/24")), Recognition::Familiar);
        assert_eq!(recognise(&known, &sighting(Some(2), "Firefox", "10.0.0.0/24")), Recognition::Familiar);
        assert_eq!(recognise(&known, &sighting(None, "Firefox", "10.0.1.0/24")), Recognition::New { first: false });
        assert_eq!(recognise(&known, &sighting(Some(2), "Chrome", "10.0.0.0/24")), Recognition::New { first: false });
        assert_eq!(recognise(&[], &sighting(None, "Firefox", "10.0.0.0/24")), Recognition::New { first: true });
    }

    #[test]
    fn networks_are_the_slash_24_and_the_slash_64() {
        assert_eq!(network_of("192.0.2.77".parse().expect("ip")), "192.0.2.0/24");
        assert_eq!(network_of("::ffff:192.0.2.77".parse().expect("ip")), "192.0.2.0/24");
        assert_eq!(network_of("2001:db8:1:2:3:4:5:6".parse().expect("ip")), "2001:db8:1:2::/64");
    }

    #[test]
    fn user_agents_read_as_words() {
        let cases = [
            ("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", "Firefox on Linux"),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 \
                 Safari/537.36 Edg/131.0.0.0",
                "Edge on Windows",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) \
                 Version/18.1 Mobile/15E148 Safari/604.1",
                "Safari on iPhone",
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) \
                 Chrome/131.0.0.0 Safari/537.36",
                "Chrome on macOS",
            ),
            ("curl/8.5.0", "curl"),
            ("SomeBot/1.0 (+https://example.com)", "SomeBot/1.0"),
        ];
        for (agent, words) in cases {
            assert_eq!(describe_user_agent(Some(agent)), words, "{agent}");
        }
        assert_eq!(describe_user_agent(None), "an unknown device");
    }
}
