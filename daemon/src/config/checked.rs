//! Range checks that run while a key is deserialized: one place per key, so `run`, `check`
//! and every other subcommand refuse the same values with the same message. Each message
//! names the value and what is allowed; the caller adds the file, line and key.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::time::Duration;

use serde::de::{Deserialize, Deserializer, Error};

/// The longest timeout a key accepts: beyond it, adding the timeout to an `Instant` could
/// overflow, and nobody waits an hour for a spoken answer.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(3600);

fn out_of_range(value: impl Display, min: impl Display, max: impl Display) -> String {
    format!("{value} is out of range {min}..{max}")
}

/// `deserialize_with` for an integer key allowed in `MIN..=MAX`. Read as i64 first so a
/// negative value is reported with the range rather than as a type error.
pub fn u32_in<'de, D, const MIN: u32, const MAX: u32>(d: D) -> Result<u32, D::Error>
where
    D: Deserializer<'de>,
{
    let value = i64::deserialize(d)?;
    match u32::try_from(value) {
        Ok(v) if (MIN..=MAX).contains(&v) => Ok(v),
        _ => Err(D::Error::custom(out_of_range(value, MIN, MAX))),
    }
}

/// A sample rate: 8 kHz to 192 kHz, or 0 where the key says 0 means "the source's rate".
pub fn rate_or_zero<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let value = i64::deserialize(d)?;
    match u32::try_from(value) {
        Ok(v) if v == 0 || (8_000..=192_000).contains(&v) => Ok(v),
        _ => Err(D::Error::custom(format!(
            "{value} is out of range 8000..192000 (or 0)"
        ))),
    }
}

/// A finite number in `min..=max`; NaN and infinities are out of every range.
pub fn f32_in<'de, D: Deserializer<'de>>(d: D, min: f32, max: f32) -> Result<f32, D::Error> {
    let value = f32::deserialize(d)?;
    if value.is_finite() && (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(D::Error::custom(out_of_range(value, min, max)))
    }
}

/// A probability, threshold or gain: 0 to 1.
pub fn fraction<'de, D: Deserializer<'de>>(d: D) -> Result<f32, D::Error> {
    f32_in(d, 0.0, 1.0)
}

/// A table of fractions, e.g. per-word thresholds; the message names the entry.
pub fn fraction_map<'de, D>(d: D) -> Result<BTreeMap<String, f32>, D::Error>
where
    D: Deserializer<'de>,
{
    let map = BTreeMap::<String, f32>::deserialize(d)?;
    for (name, value) in &map {
        if !(value.is_finite() && (0.0..=1.0).contains(value)) {
            return Err(D::Error::custom(format!(
                "{name} = {}",
                out_of_range(value, 0, 1)
            )));
        }
    }
    Ok(map)
}

/// A timeout in seconds: more than 0, at most [`MAX_TIMEOUT`], and convertible to a
/// `Duration` (which is how every timeout is used), so no later conversion can panic.
pub fn seconds<'de, D: Deserializer<'de>>(d: D) -> Result<f32, D::Error> {
    let value = f32::deserialize(d)?;
    match Duration::try_from_secs_f32(value) {
        Ok(t) if !t.is_zero() && t <= MAX_TIMEOUT => Ok(value),
        _ => Err(D::Error::custom(format!(
            "{value} is out of range: a timeout is more than 0 and at most {} seconds",
            MAX_TIMEOUT.as_secs()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Keys {
        #[serde(default, deserialize_with = "super::u32_in::<_, 1, 64>")]
        threads: u32,
        #[serde(default, deserialize_with = "super::fraction")]
        threshold: f32,
        #[serde(default, deserialize_with = "super::seconds")]
        timeout: f32,
        #[serde(default, deserialize_with = "super::rate_or_zero")]
        rate: u32,
        #[serde(default, deserialize_with = "super::fraction_map")]
        per_word: std::collections::BTreeMap<String, f32>,
    }

    fn error(text: &str) -> String {
        toml::from_str::<Keys>(text)
            .unwrap_err()
            .message()
            .to_string()
    }

    #[test]
    fn integers_outside_the_range_name_value_and_range() {
        assert_eq!(error("threads = 0"), "0 is out of range 1..64");
        assert_eq!(error("threads = -3"), "-3 is out of range 1..64");
        assert_eq!(error("threads = 65"), "65 is out of range 1..64");
        assert_eq!(toml::from_str::<Keys>("threads = 64").unwrap().threads, 64);
    }

    #[test]
    fn fractions_refuse_nan_and_out_of_range() {
        assert_eq!(error("threshold = 1.5"), "1.5 is out of range 0..1");
        assert_eq!(error("threshold = nan"), "NaN is out of range 0..1");
        assert_eq!(error("threshold = -0.1"), "-0.1 is out of range 0..1");
        assert_eq!(
            toml::from_str::<Keys>("threshold = 1").unwrap().threshold,
            1.0
        );
        assert_eq!(
            error("per_word = { hey_jarvis = 2.0 }"),
            "hey_jarvis = 2 is out of range 0..1"
        );
        let keys: Keys = toml::from_str("per_word = { alexa = 0.6 }").unwrap();
        assert_eq!(keys.per_word["alexa"], 0.6);
    }

    #[test]
    fn timeouts_go_through_duration() {
        for bad in ["-1.0", "0.0", "nan", "inf", "1e30", "3600.5", "1e-12"] {
            let msg = error(&format!("timeout = {bad}"));
            assert!(msg.contains("at most 3600 seconds"), "{bad}: {msg}");
        }
        assert_eq!(
            toml::from_str::<Keys>("timeout = 0.5").unwrap().timeout,
            0.5
        );
        assert_eq!(
            toml::from_str::<Keys>("timeout = 3600").unwrap().timeout,
            3600.0
        );
    }

    #[test]
    fn rates_are_zero_or_audio_rates() {
        assert!(error("rate = 44").contains("8000..192000 (or 0)"));
        assert_eq!(toml::from_str::<Keys>("rate = 0").unwrap().rate, 0);
        assert_eq!(toml::from_str::<Keys>("rate = 48000").unwrap().rate, 48_000);
    }
}
