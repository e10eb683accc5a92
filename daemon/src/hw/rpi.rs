//! Raspberry Pi GPIO through rppal: the button as an input pin with the configured pull and
//! kernel edge interrupts (no polling loop); plain LEDs as output pins with software PWM
//! for the pulsing and breathing patterns. Pins are BCM numbers.

use std::time::{Duration, Instant};

use rppal::gpio::{Gpio, InputPin, OutputPin, Trigger};

use super::{Button, Edge, Frame, GpioConfig, HwError, Leds, Pull};

/// Software PWM frequency for the LEDs (flicker-free to the eye).
const PWM_HZ: f64 = 200.0;

fn gpio() -> Result<Gpio, HwError> {
    Gpio::new().map_err(|e| HwError::Device {
        device: "/dev/gpiomem".into(),
        message: format!(
            "cannot open the Raspberry Pi's GPIO ({e}): this is not a Raspberry Pi, or \
             hearken's user is not in the `gpio` group; on other boards use hw.backend = \
             \"cdev\", without LEDs and button \"none\""
        ),
    })
}

/// Whether this machine's GPIO can be opened (the error names it and the fix).
pub fn check() -> Result<(), HwError> {
    gpio().map(|_| ())
}

fn pin_number(line: &str) -> Result<u8, HwError> {
    let digits = line.trim_start_matches("GPIO");
    digits.parse::<u8>().map_err(|_| HwError::Device {
        device: format!("GPIO pin {line}"),
        message: "the rppal backend takes BCM pin numbers (\"17\" or \"GPIO17\")".into(),
    })
}

fn pin_error(pin: u8, e: rppal::gpio::Error) -> HwError {
    HwError::Device {
        device: format!("BCM pin {pin}"),
        message: format!("{e}; is another program using it?"),
    }
}

pub struct RppalButton {
    pin: InputPin,
    start: Instant,
    active_low: bool,
}

impl RppalButton {
    pub fn open(config: &GpioConfig) -> Result<RppalButton, HwError> {
        let n = pin_number(&config.button)?;
        let pin = gpio()?.get(n).map_err(|e| pin_error(n, e))?;
        let mut pin = match config.button_pull {
            Pull::Up => pin.into_input_pullup(),
            Pull::Down => pin.into_input_pulldown(),
            Pull::None => pin.into_input(),
        };
        // Debouncing is hearken's (the classifier sees every edge).
        pin.set_interrupt(Trigger::Both, None)
            .map_err(|e| pin_error(n, e))?;
        Ok(RppalButton {
            pin,
            start: Instant::now(),
            active_low: config.button_active_low,
        })
    }
}

impl Button for RppalButton {
    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    fn wait_edge(&mut self, timeout: Duration) -> Result<Option<Edge>, HwError> {
        let event = self
            .pin
            .poll_interrupt(false, Some(timeout))
            .map_err(|e| pin_error(self.pin.pin(), e))?;
        Ok(event.map(|e| {
            let high = e.trigger == Trigger::RisingEdge;
            Edge {
                at: self.now(),
                pressed: high != self.active_low,
            }
        }))
    }
}

pub struct RppalLeds {
    pins: Vec<(OutputPin, f64)>,
}

impl RppalLeds {
    pub fn open(config: &GpioConfig) -> Result<RppalLeds, HwError> {
        let gpio = gpio()?;
        let mut pins = Vec::new();
        for line in &config.leds {
            let n = pin_number(line)?;
            let pin = gpio.get(n).map_err(|e| pin_error(n, e))?.into_output_low();
            pins.push((pin, 0.0));
        }
        Ok(RppalLeds { pins })
    }
}

impl Leds for RppalLeds {
    fn count(&self) -> usize {
        self.pins.len()
    }

    fn show(&mut self, frame: &Frame) -> Result<(), HwError> {
        for (i, (pin, duty)) in self.pins.iter_mut().enumerate() {
            let level = frame
                .colors
                .get(i)
                .map_or(0.0, |c| f64::from(super::level(*c)));
            // Only when it changes: each call restarts the PWM thread's period.
            if (level - *duty).abs() < 1.0 / 256.0 {
                continue;
            }
            *duty = level;
            pin.set_pwm_frequency(PWM_HZ, level)
                .map_err(|e| pin_error(pin.pin(), e))?;
        }
        Ok(())
    }

    fn off(&mut self) -> Result<(), HwError> {
        for (pin, duty) in &mut self.pins {
            let _ = pin.clear_pwm();
            pin.set_low();
            *duty = 0.0;
        }
        Ok(())
    }
}
