//! Text to the host without `core::fmt`: a line of strings and integers, written over
//! semihosting (or RTT, feature `rtt`) in one go. `core::fmt` costs several KiB of flash; `demo-int8` (and the
//! hard-fault handler every program links) print through this instead.
#[cfg(all(target_arch = "arm", not(feature = "rtt")))]
use core::cell::Cell;

#[cfg(all(target_arch = "arm", not(feature = "rtt")))]
use cortex_m::interrupt::{self, Mutex};
#[cfg(all(target_arch = "arm", not(feature = "rtt")))]
use cortex_m_semihosting::hio::{self, HostStream};

/// The host's stdout, opened on first use.
#[cfg(all(target_arch = "arm", not(feature = "rtt")))]
static STDOUT: Mutex<Cell<Option<HostStream>>> = Mutex::new(Cell::new(None));

/// Writes `bytes` to RTT channel 0 (text: the lines of [`Line`]).
#[cfg(feature = "rtt")]
pub fn write(bytes: &[u8]) {
    rtt_target::print_impl::write_str(0, core::str::from_utf8(bytes).unwrap_or("?\n"));
}

/// Writes `bytes` to the host's stdout (nothing when no host is attached).
#[cfg(target_arch = "riscv32")]
pub fn write(bytes: &[u8]) {
    use semihosting::io::Write as _;
    if let Ok(mut s) = semihosting::io::stdout() {
        let _ = s.write_all(bytes);
    }
}

/// Writes `bytes` to the host's stdout (nothing when no host is attached).
#[cfg(all(target_arch = "arm", not(feature = "rtt")))]
pub fn write(bytes: &[u8]) {
    let stream = interrupt::free(|cs| {
        let cell = STDOUT.borrow(cs);
        if cell.get().is_none() {
            cell.set(hio::hstdout().ok());
        }
        cell.get()
    });
    if let Some(mut s) = stream {
        let _ = s.write_all(bytes);
    }
}

/// One line of output, built in place and written by [`Line::end`] (longer lines are
/// cut at 128 bytes).
pub struct Line {
    buf: [u8; 128],
    len: usize,
}

impl Default for Line {
    fn default() -> Self {
        Line::new()
    }
}

impl Line {
    pub const fn new() -> Line {
        Line {
            buf: [0; 128],
            len: 0,
        }
    }

    fn byte(&mut self, b: u8) -> &mut Line {
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = b;
            self.len += 1;
        }
        self
    }

    /// A string.
    pub fn s(&mut self, s: &str) -> &mut Line {
        for &b in s.as_bytes() {
            self.byte(b);
        }
        self
    }

    /// `n` in decimal, right-aligned in `width` columns.
    pub fn n(&mut self, n: u32, width: usize) -> &mut Line {
        let mut digits = [0u8; 10];
        let (mut k, mut v) = (digits.len(), n);
        loop {
            k -= 1;
            digits[k] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 || k == 0 {
                break;
            }
        }
        for _ in digits.len() - k..width {
            self.byte(b' ');
        }
        for &d in &digits[k..] {
            self.byte(d);
        }
        self
    }

    /// `n` in decimal.
    pub fn u(&mut self, n: u32) -> &mut Line {
        self.n(n, 0)
    }

    /// `n` as `0x` and eight hex digits.
    pub fn hex(&mut self, n: u32) -> &mut Line {
        self.s("0x");
        for k in (0..8).rev() {
            let d = (n >> (4 * k)) as u8 & 0xF;
            self.byte(if d < 10 { b'0' + d } else { b'a' + d - 10 });
        }
        self
    }

    /// `a / b` rounded to `decimals` (at most 3) decimals; `a · 10^decimals` must fit
    /// a u32.
    pub fn ratio(&mut self, a: u32, b: u32, decimals: u32) -> &mut Line {
        let scale = 10u32.pow(decimals.min(3));
        let b = b.max(1);
        let v = (a * scale + b / 2) / b;
        self.u(v / scale);
        if decimals > 0 {
            self.byte(b'.');
            let frac = v % scale;
            let mut unit = scale / 10;
            while unit > 0 {
                self.byte(b'0' + (frac / unit % 10) as u8);
                unit /= 10;
            }
        }
        self
    }

    /// A byte count as `x.y KiB`.
    pub fn kib(&mut self, bytes: usize) -> &mut Line {
        self.ratio(bytes as u32, 1024, 1).s(" KiB")
    }

    /// Writes the line and a newline.
    pub fn end(&mut self) {
        self.byte(b'\n');
        write(&self.buf[..self.len]);
        self.len = 0;
    }
}
