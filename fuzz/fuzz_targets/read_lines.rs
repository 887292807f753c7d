//! Fuzzes the chunked line reader against a naive split, for a chunk size
//! and line limit taken from the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    if input.len() < 2 {
        return;
    }
    let chunk = 1 + input[0] as usize % 64;
    let max = 1 + input[1] as usize % 128;
    let data = &input[2..];
    let mut got: Vec<Vec<u8>> = Vec::new();
    let out = telemetron::sources::growing::read_lines(&mut &data[..], 0, data.len() as u64, chunk, max, |l| {
        got.push(l.to_vec())
    })
    .unwrap();
    let end = data.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let mut want = Vec::new();
    let mut oversized = 0;
    for l in
        data[..end].split(|b| *b == b'\n').take(data[..end].iter().filter(|b| **b == b'\n').count())
    {
        let l = l.strip_suffix(b"\r").unwrap_or(l);
        if l.len() > max {
            oversized += 1;
        } else {
            want.push(l.to_vec());
        }
    }
    assert_eq!(got, want);
    assert_eq!(out.oversized, oversized);
    assert_eq!(out.end, end as u64);
});
