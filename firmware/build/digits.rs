//! Digit transforms done once at build time to save flash: pooling (the training digits
//! of boards whose training net takes downsampled digits) and run-length coding (the test
//! digits demo-int8 decodes).

/// Mean of each `p`×`p` block, rounded to nearest (core's `bundle::pool`, which a host
/// replay of the chip's training uses too).
pub fn pool(digit: &[u8], rows: usize, cols: usize, p: usize) -> Vec<u8> {
    let mut out = vec![0; rows / p * (cols / p)];
    microdense::bundle::pool(digit, rows, cols, p, &mut out);
    out
}

/// Run-length code of one digit: (zero pixels: u8, literal count n: u8, n pixels)
/// groups covering it.
pub fn run_length(digit: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < digit.len() {
        let zeros = digit[i..].iter().take(255).take_while(|&&p| p == 0).count();
        i += zeros;
        let n = digit[i..].iter().take(255).take_while(|&&p| p != 0).count();
        out.push(zeros as u8);
        out.push(n as u8);
        out.extend_from_slice(&digit[i..i + n]);
        i += n;
    }
    out
}
