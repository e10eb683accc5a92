//! The satellite's mDNS advertisement (`[wyoming] zeroconf`): `<name>._wyoming._tcp.local.`
//! with the satellite's port and the host's addresses, as the `wyoming` package's own
//! zeroconf helper registers a satellite, so Home Assistant's Wyoming integration offers it
//! by itself. The instance name is the satellite's name, which Home Assistant keeps as the
//! device's identity; withdrawn (a goodbye) when dropped, so it leaves discovery at once.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use mdns_sd::{ServiceDaemon, ServiceInfo};

/// What Home Assistant browses for.
pub const SERVICE_TYPE: &str = "_wyoming._tcp.local.";

/// How long a withdrawal may take at shutdown (the goodbye is one multicast packet).
const GOODBYE_WAIT: Duration = Duration::from_millis(500);

/// A registered advertisement; dropping it withdraws it.
pub struct Advert {
    daemon: ServiceDaemon,
    fullname: String,
}

impl Advert {
    /// Advertises `name` for a satellite listening on `listen`: on every interface with
    /// its current addresses when `listen` is unspecified (`0.0.0.0`), else on that address.
    pub fn start(name: &str, host: &str, listen: SocketAddr) -> Result<Advert, mdns_sd::Error> {
        let daemon = ServiceDaemon::new()?;
        let host = format!("{}.local.", host_label(host));
        let properties: Option<HashMap<String, String>> = None;
        let info = if listen.ip().is_unspecified() {
            ServiceInfo::new(SERVICE_TYPE, name, &host, (), listen.port(), properties)?
                .enable_addr_auto()
        } else {
            ServiceInfo::new(
                SERVICE_TYPE,
                name,
                &host,
                listen.ip(),
                listen.port(),
                properties,
            )?
        };
        let fullname = info.get_fullname().to_string();
        daemon.register(info)?;
        Ok(Advert { daemon, fullname })
    }

    /// The advertised instance: `<name>._wyoming._tcp.local.`.
    pub fn fullname(&self) -> &str {
        &self.fullname
    }
}

impl Drop for Advert {
    fn drop(&mut self) {
        if let Ok(done) = self.daemon.unregister(&self.fullname) {
            let _ = done.recv_timeout(GOODBYE_WAIT);
        }
        let _ = self.daemon.shutdown();
    }
}

/// A DNS label from a host name: letters, digits and hyphens, at most 63 bytes.
fn host_label(host: &str) -> String {
    let label: String = host
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(63)
        .collect();
    let label = label.trim_matches('-');
    if label.is_empty() {
        "hearken".into()
    } else {
        label.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_labels_are_dns_labels() {
        assert_eq!(host_label("kitchen-pi"), "kitchen-pi");
        assert_eq!(host_label("Kitchen speaker"), "Kitchen-speaker");
        assert_eq!(host_label("_"), "hearken");
        assert_eq!(host_label(&"a".repeat(80)).len(), 63);
    }
}
