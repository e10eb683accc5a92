//! The capture path's echo stage: microphone frames pass through the [`Aligner`] (a
//! simulated room's echo added, then hearken's own playback cancelled) before the listener
//! runs wake word, VAD and ASR on them.

use std::time::Instant;

use super::listener::{FrameSource, Read};
use crate::aec::reference::{self, ReferenceWriter};
use crate::aec::room::RoomSettings;
use crate::aec::{self, AecConfig, Aligner, AlignerSettings};
use crate::wake::FRAME_SAMPLES;

/// What sits between the speaker and the listener.
#[derive(Debug, Clone, Default)]
pub struct EchoPath {
    /// `[aec]` when cancelling (None: the microphone goes to the listener as it is).
    pub cancel: Option<AecConfig>,
    /// `simulate --echo`: the speaker's sound reaches the file-backed microphone through
    /// this room.
    pub room: Option<RoomSettings>,
}

impl EchoPath {
    /// Echo cancellation as `[aec]` says.
    pub fn from_config(aec: &AecConfig) -> EchoPath {
        EchoPath {
            cancel: aec.enabled.then(|| aec.clone()),
            room: None,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.cancel.is_none() && self.room.is_none()
    }

    /// The reference channel: the writer for the playback thread, the stage for the
    /// capture side. None when there is nothing to do.
    pub fn build(
        &self,
        inner: Box<dyn FrameSource>,
    ) -> (Option<ReferenceWriter>, Box<dyn FrameSource>) {
        if self.is_empty() {
            return (None, inner);
        }
        // Two seconds of 48 kHz: the listener reads every few milliseconds.
        let (writer, reader) = reference::channel(2_000, 48_000);
        let defaults = AecConfig::default();
        let cfg = self.cancel.as_ref().unwrap_or(&defaults);
        let settings = AlignerSettings {
            delay_ms: cfg.delay_ms,
            tail_ms: cfg.tail_ms,
            room: self.room.clone(),
        };
        let canceller = self.cancel.as_ref().map(aec::canceller);
        if let Some(c) = &canceller {
            log::info!(
                "echo cancellation: {} (delay {} ms, tail {} ms)",
                c.name(),
                cfg.delay_ms,
                cfg.tail_ms
            );
        }
        if let Some(room) = &self.room {
            log::info!("simulated room between speaker and microphone: {room:?}");
        }
        let stage = EchoStage {
            inner,
            aligner: Aligner::new(reader, canceller, &settings),
            frame: vec![0; FRAME_SAMPLES],
            held: None,
        };
        (Some(writer), Box::new(stage))
    }
}

struct EchoStage {
    inner: Box<dyn FrameSource>,
    aligner: Aligner,
    frame: Vec<i16>,
    /// A frame read from the microphone, waiting for its reference.
    held: Option<Instant>,
}

impl FrameSource for EchoStage {
    fn read_frame(&mut self, frame: &mut [i16]) -> Result<Read, String> {
        let at = match self.held {
            Some(at) => at,
            None => match self.inner.read_frame(&mut self.frame)? {
                Read::Frame(at) => {
                    self.held = Some(at);
                    at
                }
                other => return Ok(other),
            },
        };
        if !self.aligner.ready(self.frame.len(), at) {
            return Ok(Read::Pending);
        }
        self.held = None;
        self.aligner.process(&mut self.frame);
        frame.copy_from_slice(&self.frame);
        Ok(Read::Frame(at))
    }
}
