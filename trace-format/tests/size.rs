//! Measures how big a typical syscall event pair is on disk, and keeps it
//! from silently growing. Run with `--nocapture` to see the numbers.

mod common;

use common::*;
use trace_format::chunk::{encode_event, CHUNK_HEADER_LEN};
use trace_format::*;

/// A `read(fd, buf, 64)` as a Go program does it: entry with full
/// registers, exit returning 64 bytes written to the buffer.
fn read_pair(rng: &mut Rng, i: u64, text: bool) -> [(EventKind, RecTid); 2] {
    let mut regs = go_regs(rng);
    let buf = 0xc0_0012_4000 + (i % 64) * 0x40;
    regs.rsi = buf;
    let data: Vec<u8> = if text {
        // Something like a config or log file: ASCII from a small alphabet.
        (0..64)
            .map(|_| b"etaoin shrdlu\n=:0123456789"[rng.below(26) as usize])
            .collect()
    } else {
        rng.bytes(64)
    };
    let tid = RecTid(4242 + (i % 3) as i32);
    [
        (
            EventKind::SyscallEntry {
                nr: 0,
                args: [3, buf, 64, 0, 0, 0],
                regs,
            },
            tid,
        ),
        (
            EventKind::SyscallExit {
                nr: 0,
                result: 64,
                writes: vec![MemWrite {
                    addr: RemoteAddr(buf),
                    data,
                }],
                mode: SyscallMode::Emulated,
                extra: SyscallExtra::None,
            },
            tid,
        ),
    ]
}

fn measure(text: bool) -> (f64, f64) {
    const PAIRS: u64 = 10_000;
    let tmp = tempfile::tempdir().unwrap();
    let (mut w, _dir) = create_writer(tmp.path(), "t", WriterOptions::default());
    let mut rng = Rng::new(99);
    let mut raw = 0usize;
    for i in 0..PAIRS {
        for (kind, tid) in read_pair(&mut rng, i, text) {
            raw += encode_event(tid, &kind).unwrap().len();
            w.append(kind, tid).unwrap();
        }
    }
    let s = w.finish().unwrap();
    assert_eq!(s.bytes_uncompressed, raw as u64);
    let on_disk = s.bytes_compressed + s.chunks as u64 * CHUNK_HEADER_LEN as u64;
    (raw as f64 / PAIRS as f64, on_disk as f64 / PAIRS as f64)
}

#[test]
fn syscall_pair_size() {
    let mut rng = Rng::new(1);
    let [entry, exit] = read_pair(&mut rng, 0, true);
    let entry_len = encode_event(entry.1, &entry.0).unwrap().len();
    let exit_len = encode_event(exit.1, &exit.0).unwrap().len();
    let (text_raw, text_disk) = measure(true);
    let (rand_raw, rand_disk) = measure(false);
    println!("read(64) pair, uncompressed: entry {entry_len} B + exit {exit_len} B");
    println!("  text data:   {text_raw:.1} B/pair uncompressed, {text_disk:.1} B/pair on disk ({:.1} B/event)", text_disk / 2.0);
    println!("  random data: {rand_raw:.1} B/pair uncompressed, {rand_disk:.1} B/pair on disk ({:.1} B/event)", rand_disk / 2.0);
    let worst = EventKind::SyscallEntry {
        nr: 0,
        args: [u64::MAX; 6],
        regs: distinct_regs(0xdead_beef),
    };
    let worst_len = encode_event(RecTid(i32::MAX), &worst).unwrap().len();
    println!("  worst-case entry (every register a full 64-bit value): {worst_len} B");
    // Guard rails: full Regs with varints stay well under 300 bytes, and
    // compression must actually help.
    assert!(
        entry_len < 300 && exit_len < 120,
        "entry {entry_len}, exit {exit_len}"
    );
    assert!(text_disk < text_raw / 2.0, "{text_disk} vs {text_raw}");
    assert!(rand_disk < rand_raw, "{rand_disk} vs {rand_raw}");
}
