#![allow(clippy::unwrap_used, missing_docs)]
use base64::Engine as _;
use std::time::Instant;
fn hex_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if b.len() % 2 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(b.len() / 2);
    let v = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    for p in b.chunks_exact(2) {
        out.push(v(p[0])? << 4 | v(p[1])?);
    }
    Some(out)
}
#[test]
fn scratch() {
    for n in [8usize, 40, 150] {
        let data: Vec<u8> = (0..n).map(|i| (i * 37 % 256) as u8).collect();
        let b = base64::engine::general_purpose::STANDARD.encode(&data);
        let h: String = data.iter().map(|x| format!("{x:02x}")).collect();
        let iters = 200_000;
        let t = Instant::now();
        for _ in 0..iters {
            std::hint::black_box(base64::engine::general_purpose::STANDARD.decode(std::hint::black_box(&b)).unwrap());
        }
        let tb = t.elapsed().as_nanos() as f64 / iters as f64;
        let t = Instant::now();
        for _ in 0..iters {
            std::hint::black_box(hex_decode(std::hint::black_box(&h)).unwrap());
        }
        let th = t.elapsed().as_nanos() as f64 / iters as f64;
        let t = Instant::now();
        for _ in 0..iters {
            std::hint::black_box(std::hint::black_box(&data).to_vec());
        }
        let tc = t.elapsed().as_nanos() as f64 / iters as f64;
        println!("{n} bytes: base64 {tb:.0} ns, hex {th:.0} ns, copy {tc:.0} ns");
    }
}
