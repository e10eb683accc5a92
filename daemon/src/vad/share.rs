//! One VAD per capture stream: the listener runs Silero and hands its segment boundaries to
//! the recognizer, whose [`FollowingVad`] replays them instead of running a second model on
//! the same audio.

use std::sync::{Arc, Mutex};

use super::{VadError, VadEvent, VoiceDetector};

#[derive(Default)]
struct Decisions {
    /// Absolute capture position of the first sample the recognizer was fed since it
    /// started over.
    origin: u64,
    /// Boundaries not yet taken by the recognizer, in absolute capture positions.
    pending: Vec<VadEvent>,
    in_speech: bool,
}

/// The listener's side: tells the recognizer where its audio starts and what the VAD found.
#[derive(Clone, Default)]
pub struct VadShare(Arc<Mutex<Decisions>>);

/// The recognizer's side, a [`VoiceDetector`] that runs no model.
pub struct FollowingVad(Arc<Mutex<Decisions>>);

impl VadShare {
    pub fn new() -> (VadShare, FollowingVad) {
        let share = VadShare::default();
        let follower = FollowingVad(share.0.clone());
        (share, follower)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Decisions> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The recognizer starts over with audio from absolute sample `origin`; `open` is where
    /// the segment under way (if any) began.
    pub fn start_at(&self, origin: u64, open: Option<u64>) {
        let mut d = self.lock();
        d.origin = origin;
        d.pending.clear();
        d.in_speech = open.is_some();
        if let Some(sample) = open {
            d.pending.push(VadEvent::SpeechStart { sample });
        }
    }

    /// Boundaries (absolute positions) about audio the recognizer is fed next.
    pub fn push(&self, events: &[VadEvent]) {
        let mut d = self.lock();
        for e in events {
            d.in_speech = matches!(e, VadEvent::SpeechStart { .. });
        }
        d.pending.extend_from_slice(events);
    }
}

impl FollowingVad {
    fn take(&mut self) -> Vec<VadEvent> {
        let mut d = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let origin = d.origin;
        d.pending
            .drain(..)
            .map(|e| match e {
                VadEvent::SpeechStart { sample } => VadEvent::SpeechStart {
                    sample: sample.saturating_sub(origin),
                },
                VadEvent::SpeechEnd { sample } => VadEvent::SpeechEnd {
                    sample: sample.saturating_sub(origin),
                },
            })
            .collect()
    }
}

impl VoiceDetector for FollowingVad {
    fn process(&mut self, _samples: &[i16]) -> Result<Vec<VadEvent>, VadError> {
        Ok(self.take())
    }

    fn in_speech(&self) -> bool {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).in_speech
    }

    /// The listener pushes its own end-of-input boundaries before the recognizer finishes.
    fn flush(&mut self) -> Result<Vec<VadEvent>, VadError> {
        Ok(self.take())
    }

    /// The listener says where the recognizer's audio starts ([`VadShare::start_at`]) just
    /// before the recognizer resets this: nothing to forget here.
    fn reset(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_count_from_where_the_recognizer_started() {
        let (share, mut follower) = VadShare::new();
        share.push(&[VadEvent::SpeechEnd { sample: 100 }]);
        // Starting over drops what the recognizer never saw and keeps the open segment.
        share.start_at(16_000, Some(20_000));
        follower.reset();
        assert!(follower.in_speech());
        assert_eq!(
            follower.process(&[0; 1280]).unwrap(),
            [VadEvent::SpeechStart { sample: 4_000 }]
        );
        share.push(&[VadEvent::SpeechEnd { sample: 30_000 }]);
        assert_eq!(
            follower.process(&[0; 1280]).unwrap(),
            [VadEvent::SpeechEnd { sample: 14_000 }]
        );
        assert!(!follower.in_speech());
        assert!(follower.process(&[0; 1280]).unwrap().is_empty());
    }
}
