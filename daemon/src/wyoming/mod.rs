//! Home Assistant's Wyoming protocol: hearken as a satellite (`[wyoming] enabled`) and its
//! engines as Wyoming services (`[wyoming] services`). See hardware-notes.md for adding it
//! in Home Assistant.

pub mod codec;
mod config;
pub mod event;
pub mod satellite;
pub mod server;
pub mod services;

use std::sync::Arc;

pub use codec::{CodecError, Frame, Limits};
pub use config::{Service, WyomingConfig};
pub use event::Event;

use crate::config::Config;
use crate::pipeline::{supervise, Handle};

/// Starts what `[wyoming]` asks for on the current tokio runtime: binds the ports now (so
/// a taken port fails start-up with the key's name) and serves in the background. An
/// accept loop that dies (a panic, a listener that fails for good) stops the loop `handle`
/// drives, naming it, so the daemon exits and systemd starts it again. Returns
/// the satellite's link for [`crate::pipeline::Pipeline::set_remote`] when it is enabled.
pub async fn start(
    config: &Config,
    handle: &Handle,
) -> anyhow::Result<Option<Arc<satellite::Link>>> {
    let wyoming = &config.wyoming;
    let mut link = None;
    if wyoming.enabled {
        let listener = server::bind(&wyoming.listen, "wyoming.listen").await?;
        log::info!(
            "wyoming: satellite {:?} listening on {}",
            wyoming.satellite_name(),
            wyoming.listen
        );
        if wyoming.zeroconf {
            log::info!(
                "wyoming: mDNS advertisement is not built in; add hearken in Home Assistant \
                 by host and port"
            );
        }
        let satellite = serve_satellite(listener, config, handle);
        link = Some(satellite);
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
    Ok(link)
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
