//! The far-end reference: what the playback thread wrote, period by period, with the instant
//! its first sample reaches the speaker. Two preallocated SPSC rings (samples and period
//! marks); publishing allocates, locks and logs nothing, and never waits: when the reader
//! falls behind, the period is dropped and counted.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use rtrb::{Consumer, Producer, RingBuffer};

/// One published period.
#[derive(Debug, Clone, Copy)]
pub struct Period {
    /// When its first sample is played.
    pub at: Instant,
    /// Samples (mono) in the sample ring.
    pub len: u32,
    /// Their rate (the playback device's).
    pub rate: u32,
}

/// The playback thread's end.
pub struct ReferenceWriter {
    samples: Producer<i16>,
    marks: Producer<Period>,
    dropped: Arc<AtomicU64>,
}

/// The capture side's end.
pub struct ReferenceReader {
    samples: Consumer<i16>,
    marks: Consumer<Period>,
    dropped: Arc<AtomicU64>,
}

/// A reference channel holding `ms` milliseconds of audio at up to `max_rate` Hz.
pub fn channel(ms: u32, max_rate: u32) -> (ReferenceWriter, ReferenceReader) {
    let capacity = (max_rate as usize * ms as usize / 1000).max(4096);
    let (sp, sc) = RingBuffer::new(capacity);
    // Periods are at least a few milliseconds: one mark per millisecond is plenty.
    let (mp, mc) = RingBuffer::new(ms.max(64) as usize);
    let dropped = Arc::new(AtomicU64::new(0));
    (
        ReferenceWriter {
            samples: sp,
            marks: mp,
            dropped: dropped.clone(),
        },
        ReferenceReader {
            samples: sc,
            marks: mc,
            dropped,
        },
    )
}

impl ReferenceWriter {
    /// Publishes `samples` (mono, `rate` Hz) played from `at` on. Returns false when the
    /// reader has fallen behind and the period was dropped.
    pub fn publish(&mut self, at: Instant, rate: u32, samples: &[i16]) -> bool {
        if samples.is_empty() {
            return true;
        }
        if self.samples.slots() < samples.len() || self.marks.slots() == 0 {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        let _ = self.samples.push_partial_slice(samples);
        let _ = self.marks.push(Period {
            at,
            len: samples.len() as u32,
            rate,
        });
        true
    }
}

impl ReferenceReader {
    /// The next period, its samples written into `buf` (resized to fit); None when nothing
    /// new was published.
    pub fn pop(&mut self, buf: &mut Vec<i16>) -> Option<Period> {
        let mark = self.marks.pop().ok()?;
        buf.resize(mark.len as usize, 0);
        let (got, _) = self.samples.pop_partial_slice(buf);
        let got = got.len();
        buf.truncate(got);
        Some(mark)
    }

    /// Periods dropped because this reader fell behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// True once the playback thread is gone.
    pub fn is_abandoned(&self) -> bool {
        self.marks.is_abandoned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_come_out_in_order_with_their_samples() {
        let (mut w, mut r) = channel(100, 16_000);
        let t = Instant::now();
        assert!(w.publish(t, 16_000, &[1, 2, 3]));
        assert!(w.publish(t, 16_000, &[4, 5]));
        let mut buf = Vec::new();
        assert_eq!(r.pop(&mut buf).unwrap().len, 3);
        assert_eq!(buf, [1, 2, 3]);
        assert_eq!(r.pop(&mut buf).unwrap().len, 2);
        assert_eq!(buf, [4, 5]);
        assert!(r.pop(&mut buf).is_none());
    }

    #[test]
    fn a_full_ring_drops_whole_periods() {
        let (mut w, mut r) = channel(100, 16_000);
        let big = [7i16; 4096];
        assert!(w.publish(Instant::now(), 16_000, &big));
        assert!(!w.publish(Instant::now(), 16_000, &[1]));
        assert_eq!(r.dropped(), 1);
        let mut buf = Vec::new();
        assert_eq!(r.pop(&mut buf).unwrap().len, 4096);
        assert!(r.pop(&mut buf).is_none());
    }
}
