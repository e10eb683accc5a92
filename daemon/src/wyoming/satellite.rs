//! hearken as Home Assistant's satellite: what it tells HA in `info`.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use super::event::{Event, Info, Model, Satellite, WakeProgram};
use super::server::{Outbox, Role, Session};
use super::services::artifact;
use crate::config::Config;
use crate::wake::WakeWordName;

pub struct SatelliteRole {
    info: Info,
}

impl SatelliteRole {
    pub fn new(config: &Config) -> Self {
        SatelliteRole {
            info: satellite_info(config),
        }
    }
}

/// `installed: true` is what makes Home Assistant treat the peer as a satellite; the wake
/// words' phrases let it pick one device when several hear the same word.
fn satellite_info(config: &Config) -> Info {
    let languages = vec![config.asr.language.clone()];
    let words: Vec<WakeWordName> = config
        .wake
        .words
        .iter()
        .map(|w| WakeWordName::from_config(w))
        .collect();
    let models = words
        .iter()
        .map(|w| Model {
            artifact: artifact(w.as_str(), &w.to_string()),
            languages: languages.clone(),
            phrase: Some(w.to_string()),
        })
        .collect();
    let area = &config.wyoming.area;
    Info {
        wake: vec![WakeProgram {
            artifact: artifact("hearken-wake", "openWakeWord on the device"),
            models,
        }],
        satellite: Some(Satellite {
            artifact: artifact(&config.wyoming.satellite_name(), "hearken voice satellite"),
            area: (!area.is_empty()).then(|| area.clone()),
            has_vad: Some(true),
            active_wake_words: Some(words.iter().map(|w| w.as_str().to_string()).collect()),
            max_active_wake_words: Some(words.len() as u32),
            supports_trigger: Some(true),
        }),
        ..Info::default()
    }
}

impl Role for SatelliteRole {
    fn info(&self) -> Info {
        self.info.clone()
    }

    fn session(&self, _peer: SocketAddr, _out: &Outbox) -> Option<Box<dyn Session>> {
        Some(Box::new(SatelliteSession))
    }
}

struct SatelliteSession;

impl Session for SatelliteSession {
    fn handle<'a>(
        &'a mut self,
        event: Event,
        _out: &'a Outbox,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(async move {
            log::debug!("wyoming satellite: {event:?}");
            Ok(())
        })
    }
}
