//! Home Assistant's Wyoming protocol: hearken as a satellite (`[wyoming] enabled`) and its
//! engines as Wyoming services (`[wyoming] services`). See hardware-notes.md for adding it
//! in Home Assistant.

pub mod codec;
mod config;
pub mod event;
pub mod satellite;
pub mod server;
pub mod services;
pub mod wake_service;
pub mod zeroconf;

use std::sync::Arc;

pub use codec::{CodecError, Frame, Limits};
pub use config::{Service, Turns, WyomingConfig};
pub use event::Event;

use crate::config::Config;
use crate::pipeline::{supervise, Handle};

/// What [`start`] leaves running.
#[derive(Default)]
pub struct Started {
    /// The satellite's link for [`crate::pipeline::Pipeline::set_remote`], when enabled.
    pub link: Option<Arc<satellite::Link>>,
    /// Its mDNS advertisement, withdrawn when this is dropped.
    advert: Option<zeroconf::Advert>,
}

/// Starts what `[wyoming]` asks for on the current tokio runtime: binds the ports now (so
/// a taken port fails start-up with the key's name) and serves in the background. An
/// accept loop that dies (a panic, a listener that fails for good) stops the loop `handle`
/// drives, naming it, so the daemon exits and systemd starts it again. Keep what it
/// returns until the loop is over: dropping it withdraws the mDNS advertisement.
pub async fn start(config: &Config, handle: &Handle) -> anyhow::Result<Started> {
    let wyoming = &config.wyoming;
    let mut started = Started::default();
    if wyoming.enabled {
        let listener = server::bind(&wyoming.listen, "wyoming.listen").await?;
        let name = wyoming.satellite_name();
        log::info!(
            "wyoming: satellite {name:?} listening on {}",
            wyoming.listen
        );
        if wyoming.zeroconf {
            started.advert = advertise(&name, listener.local_addr()?);
        }
        started.link = Some(serve_satellite(listener, config, handle));
    }
    if !wyoming.services.is_empty() {
        let listener = server::bind(&wyoming.services_listen, "wyoming.services_listen").await?;
        let services = {
            let config = config.clone();
            tokio::task::spawn_blocking(move || services::Services::load(&config)).await??
        };
        log::info!(
            "wyoming: services {}",
            services::Services::config_summary(wyoming)
        );
        supervise::spawn_task(
            "wyoming services",
            handle.on_exit(),
            server::serve(listener, Arc::new(services), Limits::default()),
        );
    }
    Ok(started)
}

/// Discovery is a convenience: without it (no multicast-capable interface) Home Assistant
/// can still be pointed at the host and port, so a failure is a warning, not a stop.
fn advertise(name: &str, listen: std::net::SocketAddr) -> Option<zeroconf::Advert> {
    let host = config::host_name().unwrap_or_else(|| "hearken".into());
    match zeroconf::Advert::start(name, &host, listen) {
        Ok(advert) => {
            log::info!("wyoming: advertised over mDNS as {}", advert.fullname());
            Some(advert)
        }
        Err(e) => {
            log::warn!(
                "wyoming: no mDNS advertisement ({e}); add hearken in Home Assistant by host \
                 and port"
            );
            None
        }
    }
}

/// Serves the satellite on `listener` (on the current tokio runtime) for the pipeline
/// `handle` controls; the link to give it with `set_remote`.
pub fn serve_satellite(
    listener: tokio::net::TcpListener,
    config: &Config,
    handle: &Handle,
) -> Arc<satellite::Link> {
    let link = Arc::new(satellite::Link::new(handle.clone()));
    let role = Arc::new(satellite::SatelliteRole::new(config, link.clone()));
    supervise::spawn_task(
        "wyoming satellite",
        handle.on_exit(),
        server::serve(listener, role, Limits::default()),
    );
    link
}
