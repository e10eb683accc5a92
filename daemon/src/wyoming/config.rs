use serde::{Deserialize, Serialize};

/// `[wyoming]`: Home Assistant's Wyoming protocol.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct WyomingConfig {
    /// Offer hearken to Home Assistant as a Wyoming satellite on `listen`.
    pub enabled: bool,
    /// Where the satellite listens (Home Assistant connects to it).
    pub listen: String,
    /// The satellite's name in Home Assistant ("" = the host name).
    pub name: String,
    /// The area it is in ("" = none; chosen in Home Assistant).
    pub area: String,
    /// Advertise the satellite over mDNS (`_wyoming._tcp.local.`).
    pub zeroconf: bool,
    /// Who answers the turns while Home Assistant is connected.
    pub turns: Turns,
    /// hearken's own engines offered as Wyoming services on `services_listen`: any of
    /// "asr" (the recognizer of `[asr]`), "tts" (the voice of `[tts]`) and "wake"
    /// (openWakeWord with the words of `[wake]`).
    pub services: Vec<Service>,
    pub services_listen: String,
}

/// `[wyoming] turns`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Turns {
    /// Each turn goes to Home Assistant's Assist pipeline while it is connected, and is
    /// answered here while it is not.
    HomeAssistant,
    /// Every turn is answered here; Home Assistant still announces, rings its timers and
    /// may use the engines offered as services.
    Local,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Service {
    Asr,
    Tts,
    Wake,
}

impl Default for WyomingConfig {
    fn default() -> Self {
        WyomingConfig {
            enabled: false,
            listen: "0.0.0.0:10700".into(),
            name: String::new(),
            area: String::new(),
            zeroconf: true,
            turns: Turns::HomeAssistant,
            services: Vec::new(),
            services_listen: "0.0.0.0:10300".into(),
        }
    }
}

impl WyomingConfig {
    pub(crate) fn validate(&self) -> Result<(), (&'static str, String)> {
        for (key, value) in [
            ("wyoming.listen", &self.listen),
            ("wyoming.services_listen", &self.services_listen),
        ] {
            if value.parse::<std::net::SocketAddr>().is_err() {
                return Err((
                    key,
                    format!("{value:?} is not an address:port such as \"0.0.0.0:10700\""),
                ));
            }
        }
        Ok(())
    }

    /// The name Home Assistant shows: `name`, else the host name, else "hearken".
    pub fn satellite_name(&self) -> String {
        if !self.name.is_empty() {
            return self.name.clone();
        }
        host_name().unwrap_or_else(|| "hearken".into())
    }
}

/// This machine's host name.
pub(super) fn host_name() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
}
