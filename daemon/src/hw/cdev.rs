//! The GPIO character device (`/dev/gpiochipN`) through `gpiocdev`: Jetson and any Linux
//! board. The button is an input line with edge events from the kernel (no polling);
//! plain LEDs are output lines, on while the pattern's level is at least one half.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gpiocdev::line::{Bias, EdgeDetection, EdgeKind, Value};
use gpiocdev::Request;

use super::{Button, Edge, Frame, GpioConfig, HwError, Leds, Pull};

/// A line named in the config: its offset on `chip` ("17") or its name ("PIN_11",
/// "GPIO17"), looked up on every chip.
fn find(chip: &Path, line: &str) -> Result<(PathBuf, u32), HwError> {
    if let Ok(offset) = line.parse::<u32>() {
        if !chip.exists() {
            return Err(no_chip(chip));
        }
        return Ok((chip.to_owned(), offset));
    }
    match gpiocdev::find_named_line(line) {
        Some(found) => Ok((found.chip, found.info.offset)),
        None => Err(HwError::Device {
            device: format!("GPIO line {line}"),
            message: "no GPIO chip has a line of that name; list them with `gpioinfo` (Debian \
                      package gpiod) and give the name or the offset in hw.gpio"
                .into(),
        }),
    }
}

pub(super) fn no_chip(chip: &Path) -> HwError {
    HwError::Device {
        device: chip.display().to_string(),
        message: "no such GPIO character device: this machine has no GPIO there (ls \
                  /dev/gpiochip*; set hw.gpio.chip), or set hw.backend = \"none\" or \
                  \"simulated\""
            .into(),
    }
}

fn failed(chip: &Path, line: u32, e: gpiocdev::Error) -> HwError {
    HwError::Device {
        device: format!("{} line {line}", chip.display()),
        message: format!(
            "{e}; is hearken's user in the `gpio` group (or allowed on the chip by udev), and \
             is the line free (gpioinfo)?"
        ),
    }
}

/// The button on a GPIO line.
pub struct CdevButton {
    request: Request,
    start: Instant,
    active_low: bool,
}

impl CdevButton {
    pub fn open(config: &GpioConfig) -> Result<CdevButton, HwError> {
        let (chip, offset) = find(&config.chip, &config.button)?;
        let mut builder = Request::builder();
        builder
            .on_chip(&chip)
            .with_consumer("hearken button")
            .with_line(offset)
            .as_input()
            .with_bias(match config.button_pull {
                Pull::Up => Bias::PullUp,
                Pull::Down => Bias::PullDown,
                Pull::None => Bias::Disabled,
            })
            .with_edge_detection(EdgeDetection::BothEdges);
        let request = builder.request().map_err(|e| failed(&chip, offset, e))?;
        Ok(CdevButton {
            request,
            start: Instant::now(),
            active_low: config.button_active_low,
        })
    }
}

impl Button for CdevButton {
    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    fn wait_edge(&mut self, timeout: Duration) -> Result<Option<Edge>, HwError> {
        let err = |e: gpiocdev::Error| HwError::Device {
            device: "GPIO button".into(),
            message: e.to_string(),
        };
        if !self.request.wait_edge_event(timeout).map_err(err)? {
            return Ok(None);
        }
        let event = self.request.read_edge_event().map_err(err)?;
        let high = event.kind == EdgeKind::Rising;
        Ok(Some(Edge {
            at: self.now(),
            pressed: high != self.active_low,
        }))
    }
}

/// Plain LEDs on GPIO output lines.
pub struct CdevLeds {
    lines: Vec<(Request, u32)>,
}

impl CdevLeds {
    pub fn open(config: &GpioConfig) -> Result<CdevLeds, HwError> {
        let mut lines = Vec::new();
        for name in &config.leds {
            let (chip, offset) = find(&config.chip, name)?;
            let request = Request::builder()
                .on_chip(&chip)
                .with_consumer("hearken LED")
                .with_line(offset)
                .as_output(Value::Inactive)
                .request()
                .map_err(|e| failed(&chip, offset, e))?;
            lines.push((request, offset));
        }
        Ok(CdevLeds { lines })
    }

    fn set(&self, on: impl Fn(usize) -> bool) -> Result<(), HwError> {
        for (i, (request, offset)) in self.lines.iter().enumerate() {
            let value = if on(i) {
                Value::Active
            } else {
                Value::Inactive
            };
            request
                .set_value(*offset, value)
                .map_err(|e| HwError::Device {
                    device: format!("GPIO LED line {offset}"),
                    message: e.to_string(),
                })?;
        }
        Ok(())
    }
}

impl Leds for CdevLeds {
    fn count(&self) -> usize {
        self.lines.len()
    }

    fn show(&mut self, frame: &Frame) -> Result<(), HwError> {
        self.set(|i| frame.colors.get(i).is_some_and(|c| super::level(*c) >= 0.5))
    }

    fn off(&mut self) -> Result<(), HwError> {
        self.set(|_| false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_by_offset_need_the_chip_and_names_are_looked_up() {
        let dir = tempfile::tempdir().unwrap();
        let chip = dir.path().join("gpiochip7");
        let err = find(&chip, "17").unwrap_err().to_string();
        assert!(err.starts_with(&chip.display().to_string()), "{err}");
        assert!(err.contains("ls /dev/gpiochip*"), "{err}");
        std::fs::write(&chip, "").unwrap();
        assert_eq!(find(&chip, "17").unwrap(), (chip.clone(), 17));
        // No chip anywhere has this name: the error says how to list the names.
        let err = find(&chip, "NO_SUCH_LINE_hearken").unwrap_err().to_string();
        assert!(err.starts_with("GPIO line NO_SUCH_LINE_hearken"), "{err}");
        assert!(err.contains("gpioinfo"), "{err}");
    }
}
