//! What a panic or fatal error says, read at the runtime function that
//! handles it (`runtime.fatalpanic`, `runtime.throw`, `runtime.fatal`), at
//! its entry, where Go's register ABI still holds the arguments.

use trace_format::{RecTid, RemoteAddr};

use super::api::*;
use super::engine::Engine;
use crate::tracee::mem::ProcMem;

impl Engine {
    pub(super) fn exception_text(&mut self, tid: RecTid, kind: ExceptionKind) -> String {
        let Ok(regs) = self.tl.session().regs(tid) else {
            return String::new();
        };
        let Ok(mem) = self.mem() else {
            return String::new();
        };
        match kind {
            // throw(s string) / fatal(s string): s in RAX (ptr), RBX (len).
            ExceptionKind::FatalError => read_string(mem, regs.rax, regs.rbx),
            // fatalpanic(msgs *_panic): RAX.
            ExceptionKind::Panic => self.panic_text(mem, regs.rax).unwrap_or_default(),
        }
    }

    fn panic_text(&self, mem: &ProcMem, panic: u64) -> Option<String> {
        let arg = self.bin.field_offset("runtime._panic", "arg")?;
        let typ = mem.read_u64(RemoteAddr(panic + arg)).ok()?;
        let data = mem.read_u64(RemoteAddr(panic + arg + 8)).ok()?;
        let name = self.info.runtime_type_name(mem, typ)?;
        Some(match name.as_str() {
            "string" | "runtime.plainError" => {
                let (p, n) = (
                    mem.read_u64(RemoteAddr(data)).ok()?,
                    mem.read_u64(RemoteAddr(data + 8)).ok()?,
                );
                read_string(mem, p, n)
            }
            "runtime.boundsError" => format!("runtime error: {}", self.bounds_error(mem, data)?),
            "*errors.errorString" | "*fmt.wrapError" | "*fmt.wrapErrors" => {
                let (p, n) = (
                    mem.read_u64(RemoteAddr(data)).ok()?,
                    mem.read_u64(RemoteAddr(data + 8)).ok()?,
                );
                read_string(mem, p, n)
            }
            "runtime.errorString" => {
                let (p, n) = (
                    mem.read_u64(RemoteAddr(data)).ok()?,
                    mem.read_u64(RemoteAddr(data + 8)).ok()?,
                );
                format!("runtime error: {}", read_string(mem, p, n))
            }
            "int" | "int64" => format!("{}", mem.read_u64(RemoteAddr(data)).ok()? as i64),
            other => format!("({other}) {data:#x}"),
        })
    }

    /// `runtime.boundsError` as its Error method prints it.
    fn bounds_error(&self, mem: &ProcMem, data: u64) -> Option<String> {
        let off = |f: &str| self.bin.field_offset("runtime.boundsError", f);
        let x = mem.read_u64(RemoteAddr(data + off("x")?)).ok()? as i64;
        let y = mem.read_u64(RemoteAddr(data + off("y")?)).ok()? as i64;
        let code = mem.read(RemoteAddr(data + off("code")?), 1).ok()?[0];
        let fmt = match code {
            0 => "index out of range [%x] with length %y",
            1 => "slice bounds out of range [:%x] with length %y",
            2 => "slice bounds out of range [:%x] with capacity %y",
            3 => "slice bounds out of range [%x:%y]",
            4 => "slice bounds out of range [::%x] with length %y",
            5 => "slice bounds out of range [::%x] with capacity %y",
            6 => "slice bounds out of range [:%x:%y]",
            7 => "slice bounds out of range [%x:%y:]",
            8 => "cannot convert slice with length %x to array or pointer to array with length %y",
            _ => "bounds error [%x] [%y]",
        };
        Some(
            fmt.replace("%x", &x.to_string())
                .replace("%y", &y.to_string()),
        )
    }

    pub(super) fn exception_details(&mut self, goid: Goid) -> EResult<ExceptionDetails> {
        let (kind, text) = match &self.last_reason {
            Some(StopReason::Exception { kind, text }) => (*kind, text.clone()),
            _ => {
                return Err(EngineError(
                    "the program is not stopped at a panic or fatal error".into(),
                ))
            }
        };
        let (frames, _) = self.stack_frames(goid, 0, 50)?;
        let mut stack = format!("goroutine {goid}:\n");
        for f in frames {
            stack.push_str(&format!("{}\n\t{}:{}\n", f.function, f.file, f.line));
        }
        let id = match kind {
            ExceptionKind::Panic => "panic",
            ExceptionKind::FatalError => "fatal error",
        };
        Ok(ExceptionDetails {
            id: id.into(),
            description: text,
            type_name: None,
            stack,
        })
    }
}

fn read_string(mem: &ProcMem, ptr: u64, len: u64) -> String {
    String::from_utf8_lossy(&mem.read_prefix(RemoteAddr(ptr), len.min(4096) as usize)).into_owned()
}
