//! Digit transforms done once at build time to save flash: pooling (the training digits
//! of boards whose training net takes downsampled digits) and run-length coding (the test
//! digits demo-int8 decodes).

/// Mean of each `p`×`p` block, rounded to nearest.
pub fn pool(digit: &[u8], rows: usize, cols: usize, p: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(rows / p * cols / p);
    for r in (0..rows).step_by(p) {
        for c in (0..cols).step_by(p) {
            let sum: usize = (0..p)
                .flat_map(|i| (0..p).map(move |j| (i, j)))
                .map(|(i, j)| usize::from(digit[(r + i) * cols + c + j]))
                .sum();
            out.push(((sum + p * p / 2) / (p * p)) as u8);
        }
    }
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
