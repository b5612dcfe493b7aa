//! Turns a syscall's `Out` descriptions into concrete tracee ranges.
//!
//! Some lengths are only known at entry (a socket address buffer's size is
//! overwritten by the kernel with the address's size), so recording reads
//! those at the entry stop (`EntryLens`) and the ranges at the exit stop.

use std::io;

use trace_format::RemoteAddr;

use super::{Hook, Out, Spec};
use crate::tracee::mem::ProcMem;

/// Caps what one syscall may make rrgo copy, so a bogus length cannot
/// exhaust memory (the kernel would have failed such a call anyway).
const MAX_RANGE: u64 = 1 << 30;

/// Input lengths captured at syscall entry, one per `Out` (None where unused).
#[derive(Debug, Clone, Default)]
pub struct EntryLens(pub Vec<Option<u64>>);

pub fn entry_lens(spec: &Spec, args: &[u64; 6], mem: &ProcMem) -> EntryLens {
    EntryLens(
        spec.outputs
            .iter()
            .map(|out| match *out {
                Out::SockAddr { len, .. } if args[len as usize] != 0 => {
                    let mut b = [0u8; 4];
                    mem.read_exact(RemoteAddr(args[len as usize]), &mut b)
                        .ok()
                        .map(|_| u32::from_le_bytes(b) as u64)
                }
                _ => None,
            })
            .collect(),
    )
}

/// The ranges the kernel wrote for this call, in order.
pub fn ranges(
    spec: &Spec,
    args: &[u64; 6],
    result: i64,
    entry: &EntryLens,
    mem: &ProcMem,
) -> io::Result<Vec<(RemoteAddr, u64)>> {
    let mut out = ranges_of(spec.outputs, args, result, entry, mem)?;
    if result >= 0 && spec.hook == Hook::Ioctl {
        for (addr, len) in super::ioctl::outputs(args[1], args[2], mem) {
            push(&mut out, addr, len);
        }
    }
    Ok(out)
}

/// The ranges of program memory the call sent (its `sends` rows), in order.
pub fn sent_ranges(
    spec: &Spec,
    args: &[u64; 6],
    result: i64,
    mem: &ProcMem,
) -> io::Result<Vec<(RemoteAddr, u64)>> {
    ranges_of(spec.sends, args, result, &EntryLens::default(), mem)
}

fn ranges_of(
    outs: &[Out],
    args: &[u64; 6],
    result: i64,
    entry: &EntryLens,
    mem: &ProcMem,
) -> io::Result<Vec<(RemoteAddr, u64)>> {
    let mut out = Vec::new();
    let a = |i: u8| args[i as usize];
    if result == -(libc::EOVERFLOW as i64) {
        for o in outs {
            if let Out::FileHandle { handle, .. } = *o {
                push(&mut out, a(handle), 4);
            }
        }
    }
    if result < 0 {
        return Ok(out);
    }
    let res = result as u64;
    for (i, o) in outs.iter().enumerate() {
        match *o {
            Out::ResultLen(p) => push(&mut out, a(p), res),
            Out::Fixed(p, size) => push(&mut out, a(p), size as u64),
            Out::ArgLen(p, q) => push(&mut out, a(p), a(q)),
            Out::ResultCount(p, size) => push(&mut out, a(p), res.saturating_mul(size as u64)),
            Out::ArgCount(p, q, size) => push(&mut out, a(p), a(q).saturating_mul(size as u64)),
            Out::FdSet(p, n) => push(&mut out, a(p), a(n).div_ceil(64) * 8),
            Out::PageVec(p, len) => push(&mut out, a(p), a(len).div_ceil(4096)),
            Out::ByCommandCapped {
                cmd,
                ptr,
                len,
                cmds,
            } => {
                if cmds.contains(&a(cmd)) {
                    push(&mut out, a(ptr), res.min(a(len)));
                }
            }
            Out::ByCommand { cmd, ptr, sizes } => {
                if let Some(&(_, size)) = sizes.iter().find(|(c, _)| *c == a(cmd)) {
                    push(&mut out, a(ptr), size as u64);
                }
            }
            Out::SockAddr { addr, len } => {
                if a(len) != 0 {
                    let cap = entry.0.get(i).copied().flatten().unwrap_or(0);
                    let actual = mem.read_prefix(RemoteAddr(a(len)), 4);
                    let actual = if actual.len() == 4 {
                        u32::from_le_bytes([actual[0], actual[1], actual[2], actual[3]]) as u64
                    } else {
                        0
                    };
                    push(&mut out, a(addr), actual.min(cap));
                    push(&mut out, a(len), 4);
                }
            }
            Out::XattrValue(p) => {
                let value = u64::from_le_bytes(
                    mem.read(RemoteAddr(a(p)), 8)?
                        .try_into()
                        .unwrap_or_default(),
                );
                push(&mut out, value, res);
            }
            Out::FileHandle {
                handle,
                mount_id,
                flags,
            } => {
                /// MAX_HANDLE_SZ: no file system's handle is larger.
                const MAX_HANDLE: u64 = 128;
                /// AT_HANDLE_MNT_ID_UNIQUE (Linux 6.12): a u64 mount id.
                const UNIQUE_ID: u64 = 1;
                let size = u32::from_le_bytes(read4(mem, a(handle))?) as u64;
                push(&mut out, a(handle), 8 + size.min(MAX_HANDLE));
                let id = if a(flags) & UNIQUE_ID != 0 { 8 } else { 4 };
                push(&mut out, a(mount_id), id);
            }
            Out::IovResult(p, q) => iov_ranges(mem, a(p), a(q), res, &mut out)?,
            Out::MsgHdr(p) => msghdr_ranges(mem, a(p), res, &mut out)?,
            Out::MmsgLens(p) => {
                for k in 0..res.min(1024) {
                    push(&mut out, a(p) + k * 64 + 56, 4);
                }
            }
            Out::MmsgHdr(p) => {
                for k in 0..res.min(1024) {
                    let hdr = a(p) + k * 64;
                    let len = u32::from_le_bytes(read4(mem, hdr + 56)?) as u64;
                    msghdr_ranges(mem, hdr, len, &mut out)?;
                    push(&mut out, hdr + 56, 4);
                }
            }
        }
    }
    Ok(out)
}

/// The most a call still in the kernel may write: for a result-sized
/// output, the whole buffer (its size is the argument after the pointer in
/// every such row: read, recvfrom, epoll_wait, getdents64, …).
pub fn in_flight_ranges(
    spec: &Spec,
    args: &[u64; 6],
    entry: &EntryLens,
    mem: &ProcMem,
) -> Vec<(RemoteAddr, u64)> {
    let mut out = Vec::new();
    let a = |i: u8| args.get(i as usize).copied().unwrap_or(0);
    for o in spec.outputs {
        match *o {
            Out::ResultLen(p) => push(&mut out, a(p), a(p + 1)),
            Out::ResultCount(p, size) => push(&mut out, a(p), a(p + 1).saturating_mul(size as u64)),
            _ => {
                let bound = MAX_RANGE as i64;
                out.extend(
                    ranges_of(std::slice::from_ref(o), args, bound, entry, mem).unwrap_or_default(),
                );
            }
        }
    }
    if spec.hook == Hook::Ioctl {
        for (addr, len) in super::ioctl::outputs(args[1], args[2], mem) {
            push(&mut out, addr, len);
        }
    }
    out
}

fn push(out: &mut Vec<(RemoteAddr, u64)>, addr: u64, len: u64) {
    if addr != 0 && len != 0 {
        out.push((RemoteAddr(addr), len.min(MAX_RANGE)));
    }
}

fn read4(mem: &ProcMem, addr: u64) -> io::Result<[u8; 4]> {
    let mut b = [0u8; 4];
    mem.read_exact(RemoteAddr(addr), &mut b)?;
    Ok(b)
}

fn iov_ranges(
    mem: &ProcMem,
    iov: u64,
    count: u64,
    mut bytes: u64,
    out: &mut Vec<(RemoteAddr, u64)>,
) -> io::Result<()> {
    for k in 0..count.min(1024) {
        if bytes == 0 {
            break;
        }
        let base = mem.read_u64(RemoteAddr(iov + k * 16))?;
        let len = mem.read_u64(RemoteAddr(iov + k * 16 + 8))?;
        let n = len.min(bytes);
        push(out, base, n);
        bytes -= n;
    }
    Ok(())
}

/// struct msghdr: name@0 namelen@8 iov@16 iovlen@24 control@32 controllen@40 flags@48.
fn msghdr_ranges(
    mem: &ProcMem,
    hdr: u64,
    bytes: u64,
    out: &mut Vec<(RemoteAddr, u64)>,
) -> io::Result<()> {
    let name = mem.read_u64(RemoteAddr(hdr))?;
    let namelen = u32::from_le_bytes(read4(mem, hdr + 8)?) as u64;
    let iov = mem.read_u64(RemoteAddr(hdr + 16))?;
    let iovlen = mem.read_u64(RemoteAddr(hdr + 24))?;
    let control = mem.read_u64(RemoteAddr(hdr + 32))?;
    let controllen = mem.read_u64(RemoteAddr(hdr + 40))?;
    push(out, name, namelen.min(128));
    iov_ranges(mem, iov, iovlen, bytes, out)?;
    push(out, control, controllen.min(1 << 16));
    push(out, hdr, 56);
    Ok(())
}

/// The digest of what a sending call sent (`Spec::sends`), computed the same
/// way at record and replay: the low 32 bits of the xxh3-64 of the bytes in
/// order. None for calls that send nothing or failed; memory that cannot be
/// read (the call then failed too) contributes nothing.
pub fn sent_digest(spec: &Spec, args: &[u64; 6], result: i64, mem: &ProcMem) -> Option<u32> {
    if spec.sends.is_empty() || result < 0 {
        return None;
    }
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for (addr, len) in sent_ranges(spec, args, result, mem).unwrap_or_default() {
        h.update(&mem.read_prefix(addr, len as usize));
    }
    Some(h.digest() as u32)
}
