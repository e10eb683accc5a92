//! APA102 (and SK9822) RGB LEDs over SPI, as on the ReSpeaker 2-/4-mic HATs: the frame
//! encoder (pure, byte-exact to the datasheet) and the backend on rppal's SPI.

use super::{Frame, HwError, Leds, Rgb};

/// The SPI frame for `colors`, per the APA102 datasheet: a start frame of 32 zero bits;
/// per LED `0b111` + the 5-bit global brightness, then blue, green, red; an end frame of
/// 32 one bits, lengthened for long chains (the data needs one extra clock edge per two
/// LEDs to reach the last one: at least n/2 bits).
pub fn encode(colors: &[Rgb], brightness: u8) -> Vec<u8> {
    let n = colors.len();
    let end = 4.max(n.div_ceil(16));
    let mut out = Vec::with_capacity(4 + 4 * n + end);
    out.extend_from_slice(&[0; 4]);
    let global = 0xE0 | (brightness.min(31));
    for &Rgb(r, g, b) in colors {
        out.extend_from_slice(&[global, b, g, r]);
    }
    out.extend(std::iter::repeat_n(0xFF, end));
    out
}

/// APA102 LEDs on an SPI bus (rppal).
pub struct Apa102 {
    spi: rppal::spi::Spi,
    count: usize,
    brightness: u8,
}

impl Apa102 {
    /// Opens `/dev/spidev{bus}.{cs}`; the error names the device and the fix.
    pub fn open(bus: u8, cs: u8, count: usize, brightness: u8) -> Result<Apa102, HwError> {
        use rppal::spi::{Bus, Mode, SlaveSelect, Spi};
        let device = format!("/dev/spidev{bus}.{cs}");
        let fail = |message: String| HwError::Device {
            device: device.clone(),
            message,
        };
        let bus_ = match bus {
            0 => Bus::Spi0,
            1 => Bus::Spi1,
            2 => Bus::Spi2,
            3 => Bus::Spi3,
            4 => Bus::Spi4,
            5 => Bus::Spi5,
            6 => Bus::Spi6,
            _ => return Err(fail(format!("no SPI bus {bus} (0..6)"))),
        };
        let ss = match cs {
            0 => SlaveSelect::Ss0,
            1 => SlaveSelect::Ss1,
            2 => SlaveSelect::Ss2,
            _ => return Err(fail(format!("no chip select {cs} (0..2)"))),
        };
        let spi = Spi::new(bus_, ss, 8_000_000, Mode::Mode0).map_err(|e| {
            fail(format!(
                "cannot open it ({e}); enable SPI (raspi-config → Interface Options → SPI, or \
                 dtparam=spi=on in /boot/firmware/config.txt) and add hearken's user to the \
                 `spi` group, or set hw.backend = \"none\""
            ))
        })?;
        Ok(Apa102 {
            spi,
            count,
            brightness,
        })
    }

    fn write(&mut self, colors: &[Rgb]) -> Result<(), HwError> {
        self.spi
            .write(&encode(colors, self.brightness))
            .map(|_| ())
            .map_err(|e| HwError::Device {
                device: "APA102 SPI".into(),
                message: e.to_string(),
            })
    }
}

impl Leds for Apa102 {
    fn count(&self) -> usize {
        self.count
    }

    fn show(&mut self, frame: &Frame) -> Result<(), HwError> {
        self.write(&frame.colors)
    }

    fn off(&mut self) -> Result<(), HwError> {
        let dark = vec![Rgb::default(); self.count];
        self.write(&dark)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_follow_the_datasheet_byte_for_byte() {
        let colors = [Rgb(0x11, 0x22, 0x33), Rgb(0xff, 0, 0), Rgb(0, 0, 0)];
        assert_eq!(
            encode(&colors, 31),
            [
                0x00, 0x00, 0x00, 0x00, // start frame
                0xFF, 0x33, 0x22, 0x11, // 111 + brightness 31, B, G, R
                0xFF, 0x00, 0x00, 0xFF, //
                0xFF, 0x00, 0x00, 0x00, //
                0xFF, 0xFF, 0xFF, 0xFF, // end frame
            ]
        );
        // Brightness is 5 bits under the 0b111 marker; more is clamped.
        assert_eq!(encode(&[Rgb(1, 2, 3)], 5)[4..8], [0xE5, 3, 2, 1]);
        assert_eq!(encode(&[Rgb(1, 2, 3)], 200)[4], 0xFF);
        assert_eq!(encode(&[], 31), [0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]);
        // 100 LEDs need at least 50 end bits: 7 bytes of ones.
        let long = encode(&[Rgb(0, 0, 0); 100], 1);
        assert_eq!(long.len(), 4 + 400 + 7);
        assert!(long[404..].iter().all(|&b| b == 0xFF));
        assert!(long[4..404].chunks(4).all(|c| c == [0xE1, 0, 0, 0]));
    }
}
