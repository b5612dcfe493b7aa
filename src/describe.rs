//! Human-readable one-line descriptions of trace contents (for `dump`, `info`).

use std::fmt::Write;

use trace_format::{DeliveryPoint, Event, EventKind, ExitStatus, SyscallExtra, SyscallMode};

pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

pub fn argv(argv: &[Vec<u8>]) -> String {
    argv.iter()
        .map(|a| {
            let a = String::from_utf8_lossy(a);
            if a.is_empty() || a.contains(|c: char| c.is_whitespace() || "'\"$\\".contains(c)) {
                format!("'{}'", a.replace('\'', "'\\''"))
            } else {
                a.into_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn exit_status(status: &ExitStatus) -> String {
    match status {
        ExitStatus::Code(c) => format!("exit code {c}"),
        ExitStatus::Signal { signo, core_dumped } => format!(
            "killed by signal {signo}{}",
            if *core_dumped { " (core dumped)" } else { "" }
        ),
    }
}

/// UTC date and time of a Unix timestamp in milliseconds (no time-zone database needed).
pub fn unix_ms(ms: u64) -> String {
    utc(ms / 1000, None)
}

/// The same for nanoseconds, to the millisecond ("… 12:34:56.789 UTC").
pub fn unix_ns(ns: u64) -> String {
    utc(ns / 1_000_000_000, Some(ns / 1_000_000 % 1000))
}

fn utc(secs: u64, millis: Option<u64>) -> String {
    let (year, month, day) = civil_date((secs / 86_400) as i64);
    let rem = secs % 86_400;
    let frac = millis.map(|m| format!(".{m:03}")).unwrap_or_default();
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}{frac} UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day): Howard Hinnant's
/// civil-from-days, proleptic Gregorian calendar.
fn civil_date(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

pub fn event(e: &Event) -> String {
    let mut s = format!("#{:<8} tid {:<7} {:<14}", e.time.0, e.tid.0, e.kind.name());
    match &e.kind {
        EventKind::Exec {
            exe_path,
            regs,
            vdso,
            ..
        } => {
            let vdso = match vdso {
                trace_format::VdsoSetup::Hidden => "hidden".to_string(),
                trace_format::VdsoSetup::Patched { base, .. } => format!("patched at {base}"),
            };
            let _ = write!(
                s,
                " {} rip={:#x} vdso {vdso}",
                String::from_utf8_lossy(exe_path),
                regs.rip
            );
        }
        EventKind::SyscallEntry { nr, args, regs } => {
            let _ = write!(
                s,
                " {}({:#x}, {:#x}, {:#x}, {:#x}, {:#x}, {:#x}) rip={:#x}",
                crate::syscall_names::name(*nr),
                args[0],
                args[1],
                args[2],
                args[3],
                args[4],
                args[5],
                regs.rip
            );
        }
        EventKind::SyscallExit {
            nr,
            result,
            writes,
            mode,
            extra,
        } => {
            let bytes: usize = writes.iter().map(|w| w.data.len()).sum();
            let result = match extra {
                SyscallExtra::ResultNotRecorded => "(not recorded)".to_string(),
                _ => result.to_string(),
            };
            let _ = write!(
                s,
                " {} = {}{}{}",
                crate::syscall_names::name(*nr),
                result,
                if writes.is_empty() {
                    String::new()
                } else {
                    format!(" wrote {bytes} bytes in {} ranges", writes.len())
                },
                match mode {
                    SyscallMode::Emulated => "",
                    SyscallMode::Executed => " (re-executed on replay)",
                }
            );
            match extra {
                SyscallExtra::None => {}
                SyscallExtra::MappedFile { file } => {
                    let _ = write!(s, " maps file {}", file.0);
                }
                SyscallExtra::MappedSharedFile { file, dev, ino } => {
                    let _ = write!(s, " maps file {} shared (dev {dev:#x} inode {ino})", file.0);
                }
                SyscallExtra::Sent { digest, stream } => {
                    let _ = write!(s, " sent xxh3 {digest:08x}");
                    if let Some(stream) = stream {
                        let _ = write!(s, " to {stream:?}");
                    }
                }
                SyscallExtra::ResultNotRecorded => {}
                SyscallExtra::Spliced { stream, bytes } => {
                    let _ = write!(s, " spliced {} bytes to {stream:?}", bytes.len());
                }
            }
        }
        EventKind::Signal { signo, point, .. } => {
            let _ = write!(s, " signal {signo}");
            match point {
                DeliveryPoint::AtLastStop => s.push_str(" at last stop"),
                DeliveryPoint::Fault => s.push_str(" (fault)"),
            }
        }
        EventKind::TaskCreate {
            parent,
            child,
            kind,
            clone_flags,
        } => {
            let _ = write!(
                s,
                " {kind:?} {} from {} flags={clone_flags:#x}",
                child.0, parent.0
            );
        }
        EventKind::TaskExit { status } => {
            let _ = write!(s, " status={status:#x}");
        }
        EventKind::Preempt {
            regs, first_visit, ..
        } => {
            let _ = write!(s, " rip={:#x}", regs.rip);
            if *first_visit {
                s.push_str(" (first arrival since the thread's last event)");
            }
        }
        EventKind::ClockReads { entries } => {
            let n = entries.len() / 16;
            let _ = write!(
                s,
                " {n} in-process clock read{}",
                if n == 1 { "" } else { "s" }
            );
            if let Some(last) = entries.chunks_exact(16).last() {
                let sec = i64::from_le_bytes(last[..8].try_into().unwrap_or_default());
                let nsec = i64::from_le_bytes(last[8..].try_into().unwrap_or_default());
                let _ = write!(s, ", last {sec}.{nsec:09}");
            }
        }
        EventKind::BufferedCalls { records } => {
            let recs = crate::tracee::clockpage::call_records(records);
            let _ = write!(
                s,
                " {} in-process syscall{}:",
                recs.len(),
                if recs.len() == 1 { "" } else { "s" }
            );
            for r in recs.iter().take(8) {
                let name = crate::syscall_names::name(r.nr);
                if r.done {
                    let _ = write!(s, " {name}={}", r.result);
                } else {
                    let _ = write!(s, " {name}(traced)");
                }
            }
            if recs.len() > 8 {
                let _ = write!(s, " …");
            }
        }
        EventKind::Pages { pages } => {
            let bytes: usize = pages.iter().map(|p| p.data.len()).sum();
            let _ = write!(s, " {bytes} bytes in {} runs", pages.len());
        }
        EventKind::Rdrand { rip, value, .. } => {
            let _ = write!(s, " at {rip} = {value:#x}");
        }
        EventKind::Rdtsc { rip, value, aux } => {
            let _ = write!(s, " at {rip} = {value}");
            if let Some(aux) = aux {
                let _ = write!(s, " aux={aux}");
            }
        }
        EventKind::FileStored {
            file,
            original_path,
        } => {
            let _ = write!(
                s,
                " file {} = {}",
                file.0,
                String::from_utf8_lossy(original_path)
            );
        }
        EventKind::ProcessExit { status } => {
            let _ = write!(s, " {}", exit_status(status));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates() {
        assert_eq!(super::unix_ms(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(super::unix_ms(1_795_865_163_000), "2026-11-28 11:26:03 UTC");
        assert_eq!(super::unix_ms(951_782_400_000), "2000-02-29 00:00:00 UTC");
    }
}
