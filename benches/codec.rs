//! Throughput of `Decoder::feed` on a long stream of typical modem output.
//!
//! With `MODEMQTT_CODEC_STREAM=<file>` the generated 10 MiB stream is also written to that
//! file, so that `bench/run` can time a pure-Python reader on the very same bytes.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use modemqtt::at::{Decoder, Frame, RawRule};
use modemqtt::dialect::{self, Family};

const STREAM_SIZE: usize = 10 * 1024 * 1024;
const CHUNK: usize = 4096;

/// xorshift64*: small, deterministic, good enough for test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below((hi - lo + 1) as u64) as usize
    }
}

/// Payload bytes: mostly JSON-like text, sometimes binary with CR/LF/"OK".
fn payload(rng: &mut Rng, len: usize) -> Vec<u8> {
    let mut p = Vec::with_capacity(len);
    if rng.below(4) == 0 {
        while p.len() < len {
            match rng.below(16) {
                0 => p.extend_from_slice(b"\r\nOK\r\n"),
                1 => p.push(b'>'),
                _ => p.push(rng.next() as u8),
            }
        }
    } else {
        const TEXT: &[u8] = b"{\"temp\":21.5,\"hum\":40,\"id\":\"sensor-7\",\"ts\":1700000000} ";
        while p.len() < len {
            let start = rng.range(0, TEXT.len() - 1);
            p.extend_from_slice(&TEXT[start..]);
        }
    }
    p.truncate(len);
    p
}

fn generate(size: usize) -> Vec<u8> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut s = Vec::with_capacity(size + 4096);
    while s.len() < size {
        match rng.below(10) {
            0 | 1 => {
                s.extend_from_slice(b"AT+CSQ\r\r\n+CSQ: 23,0\r\n\r\nOK\r\n");
            }
            2 => {
                s.extend_from_slice(b"AT+CREG?\r\r\n+CREG: 0,1\r\n\r\nOK\r\n");
            }
            3 => {
                let n = rng.range(64, 1024);
                s.extend_from_slice(format!("AT+CMQTTPAYLOAD=0,{n}\r\r\n>").as_bytes());
                s.extend_from_slice(b"\r\nOK\r\n");
                s.extend_from_slice(b"AT+CMQTTPUB=0,1,60\r\r\nOK\r\n\r\n+CMQTTPUB: 0,0\r\n");
            }
            4..=6 => {
                let topic = format!("devices/{}/telemetry", rng.below(1000));
                let n = rng.range(64, 1024);
                let data = payload(&mut rng, n);
                s.extend_from_slice(
                    format!(
                        "\r\n+CMQTTRXSTART: 0,{},{n}\r\n+CMQTTRXTOPIC: 0,{}\r\n{topic}\r\n+CMQTTRXPAYLOAD: 0,{n}\r\n",
                        topic.len(),
                        topic.len()
                    )
                    .as_bytes(),
                );
                s.extend_from_slice(&data);
                s.extend_from_slice(b"\r\n+CMQTTRXEND: 0\r\n");
            }
            7 | 8 => {
                let n = rng.range(64, 1024);
                let data = payload(&mut rng, n);
                s.extend_from_slice(
                    format!(
                        "\r\n+QMTRECV: 0,{},\"devices/{}/cmd\",{n},\"",
                        rng.below(65535),
                        rng.below(1000)
                    )
                    .as_bytes(),
                );
                s.extend_from_slice(&data);
                s.extend_from_slice(b"\"\r\n");
            }
            _ => {
                s.extend_from_slice(b"AT+QMTPUBEX=0,0,0,0,\"t\",30\r\r\n> ");
                s.extend_from_slice(b"\r\nOK\r\n\r\n+QMTPUBEX: 0,0,0\r\n");
            }
        }
    }
    s
}

/// The raw-byte rules of the two families whose URCs the stream mixes.
fn rules() -> Vec<RawRule> {
    [Family::Cmqtt, Family::Qmt]
        .into_iter()
        .flat_map(|f| dialect::spec(f).raw_rules())
        .collect()
}

fn bench_feed(c: &mut Criterion) {
    let stream = generate(STREAM_SIZE);
    // bench/run hands the same bytes to the pure-Python baseline reader.
    if let Some(path) = std::env::var_os("MODEMQTT_CODEC_STREAM") {
        if let Err(e) = std::fs::write(&path, &stream) {
            eprintln!("cannot write the stream to {path:?}: {e}");
        }
    }
    let mut group = c.benchmark_group("decoder");
    group.throughput(Throughput::Bytes(stream.len() as u64));
    group.bench_function("feed_4k_chunks", |b| {
        b.iter(|| {
            let mut decoder = Decoder::with_rules(rules());
            let mut out: Vec<Frame> = Vec::with_capacity(256);
            let mut frames = 0usize;
            for chunk in stream.chunks(CHUNK) {
                decoder.feed(black_box(chunk), &mut out);
                frames += out.len();
                out.clear();
            }
            black_box(frames)
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bench_feed
}
criterion_main!(benches);
