//! Patching the vDSO's functions so that every value they return is
//! recorded: `clock_gettime` jumps to rrgo's clock page (see `clockpage`),
//! the other clock functions make ordinary (recorded) syscalls, and
//! `getrandom` and anything unknown fail with ENOSYS so callers fall back
//! to the syscall. The ELF structure is left alone, so the Go runtime and
//! glibc still find every symbol.

use std::io;

use object::{Object, ObjectSegment, ObjectSymbol, SymbolKind};
use trace_format::RemoteAddr;

use super::clockpage;
use super::maps::read_maps;
use super::mem::ProcMem;

/// The vDSO of a process as mapped at `base`.
pub fn read(mem: &ProcMem, base: u64) -> io::Result<Vec<u8>> {
    let region = read_maps(mem.pid())?
        .into_iter()
        .find(|r| r.start == base)
        .ok_or_else(|| io::Error::other(format!("no mapping at the vDSO address {base:#x}")))?;
    let mut image = vec![0u8; (region.end - region.start) as usize];
    mem.read_exact(RemoteAddr(base), &mut image)?;
    Ok(image)
}

/// The patched copy of `image`, or why it cannot be patched (a function
/// too small for its stub, or not an ELF rrgo can read).
pub fn patched(image: &[u8]) -> Result<Vec<u8>, String> {
    let file = object::File::parse(image).map_err(|e| format!("unreadable vDSO: {e}"))?;
    let load = file
        .segments()
        .next()
        .map(|s| s.address())
        .ok_or("vDSO without a loadable segment")?;
    let mut out = image.to_vec();
    let mut patched_clock = false;
    for sym in file.dynamic_symbols() {
        if sym.kind() != SymbolKind::Text || !sym.is_definition() {
            continue;
        }
        let name = sym.name().unwrap_or("");
        let short = name.strip_prefix("__vdso_").unwrap_or(name);
        let code = stub(short);
        patched_clock |= short == "clock_gettime";
        let off = sym.address().wrapping_sub(load) as usize;
        if (sym.size() as usize) < code.len() || off + code.len() > out.len() {
            return Err(format!(
                "vDSO function {name} ({} bytes) is too small for rrgo's stub",
                sym.size()
            ));
        }
        out[off..off + code.len()].copy_from_slice(&code);
    }
    if !patched_clock {
        return Err("the vDSO has no clock_gettime".into());
    }
    Ok(out)
}

/// The replacement code of one vDSO function.
fn stub(name: &str) -> Vec<u8> {
    let syscall = |nr: u32| {
        // mov eax, nr; syscall; ret
        let mut c = vec![0xb8];
        c.extend_from_slice(&nr.to_le_bytes());
        c.extend_from_slice(&[0x0f, 0x05, 0xc3]);
        c
    };
    match name {
        "clock_gettime" => {
            // movabs rax, CODE; jmp rax
            let mut c = vec![0x48, 0xb8];
            c.extend_from_slice(&clockpage::CODE.to_le_bytes());
            c.extend_from_slice(&[0xff, 0xe0]);
            c
        }
        "gettimeofday" => syscall(libc::SYS_gettimeofday as u32),
        "time" => syscall(libc::SYS_time as u32),
        "clock_getres" => syscall(libc::SYS_clock_getres as u32),
        "getcpu" => syscall(libc::SYS_getcpu as u32),
        // mov rax, -ENOSYS; ret (getrandom, sgx_enter_enclave, future ones)
        _ => vec![0x48, 0xc7, 0xc0, 0xda, 0xff, 0xff, 0xff, 0xc3],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// rrgo's own vDSO, read from /proc/self.
    fn own_vdso() -> Option<Vec<u8>> {
        let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
        let line = maps.lines().find(|l| l.ends_with("[vdso]"))?;
        let (a, b) = line.split_whitespace().next()?.split_once('-')?;
        let (a, b) = (
            u64::from_str_radix(a, 16).ok()?,
            u64::from_str_radix(b, 16).ok()?,
        );
        // SAFETY: reading our own mapped, readable vDSO.
        Some(unsafe { std::slice::from_raw_parts(a as *const u8, (b - a) as usize) }.to_vec())
    }

    #[test]
    fn this_kernels_vdso_is_patched_at_every_function() {
        let Some(image) = own_vdso() else {
            return;
        };
        let out = patched(&image).expect("patchable");
        assert_eq!(out.len(), image.len());
        let file = object::File::parse(&*out).unwrap();
        let load = file.segments().next().unwrap().address();
        let mut seen = 0;
        for sym in file.dynamic_symbols() {
            if sym.kind() != SymbolKind::Text {
                continue;
            }
            let name = sym.name().unwrap();
            let short = name.strip_prefix("__vdso_").unwrap_or(name);
            let off = (sym.address() - load) as usize;
            let code = stub(short);
            assert_eq!(&out[off..off + code.len()], &code[..], "{name}");
            seen += 1;
        }
        assert!(seen >= 4, "only {seen} functions");
    }
}
