//! The device list behind `hearken devices`: every PCM ALSA knows, tested for hearken's
//! capture and playback format.

use alsa::device_name::HintIter;
use alsa::Direction;

use super::{pcm, AudioConfig, AudioError};

/// What a device agreed to when opened with the configured format.
#[derive(Debug, Clone)]
pub struct Probe {
    pub rate: u32,
    pub channels: u32,
    pub period_frames: usize,
    pub buffer_frames: usize,
}

#[derive(Debug)]
pub struct DeviceReport {
    pub name: String,
    pub description: String,
    /// None: the device does not do capture.
    pub capture: Option<Result<Probe, AudioError>>,
    pub playback: Option<Result<Probe, AudioError>>,
}

/// Opens `device` for `dir` with the configured rate, channels and periods, then closes it.
pub fn probe(
    device: &str,
    dir: Direction,
    cfg: &AudioConfig,
    rate: u32,
) -> Result<Probe, AudioError> {
    let channels = match dir {
        Direction::Capture => cfg.channels,
        Direction::Playback => 1,
    };
    let opened = pcm::open(device, dir, rate, channels, cfg.period_ms, cfg.periods)?;
    Ok(Probe {
        rate: opened.rate,
        channels: opened.channels,
        period_frames: opened.period_frames,
        buffer_frames: opened.buffer_frames,
    })
}

/// Lists ALSA's PCM hints plus the configured devices, probing each direction it supports.
/// Playback is probed at `playback_rate` (or 22050 Hz, a typical voice, when that is 0).
pub fn list(cfg: &AudioConfig) -> Vec<DeviceReport> {
    let mut seen: Vec<(String, String, Option<Direction>)> = Vec::new();
    if let Ok(hints) = HintIter::new_str(None, "pcm") {
        for hint in hints {
            let Some(name) = hint.name else { continue };
            let desc = hint.desc.unwrap_or_default().replace('\n', " — ");
            seen.push((name, desc, hint.direction));
        }
    }
    for configured in [&cfg.capture_device, &cfg.playback_device] {
        if !seen.iter().any(|(n, _, _)| n == configured) {
            seen.push((configured.clone(), "(configured)".into(), None));
        }
    }
    let playback_rate = if cfg.playback_rate == 0 {
        22_050
    } else {
        cfg.playback_rate
    };
    seen.into_iter()
        .map(|(name, description, direction)| {
            let does = |d: Direction| direction.is_none_or(|x| x == d);
            DeviceReport {
                capture: does(Direction::Capture)
                    .then(|| probe(&name, Direction::Capture, cfg, cfg.sample_rate)),
                playback: does(Direction::Playback)
                    .then(|| probe(&name, Direction::Playback, cfg, playback_rate)),
                name,
                description,
            }
        })
        .collect()
}
