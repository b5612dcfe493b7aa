//! disassemble, readMemory, writeMemory: the disassembly and memory views.

use serde_json::{json, Value};

use super::json::{get_bool, get_i64, get_str, i32ish, ids, need_i64, put, HResult, ReqError};
use super::paths;
use super::session::{Request, Session};

/// A memory reference as the protocol allows it: hex with `0x`, else decimal.
pub fn parse_address(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// `memoryReference` + `offset` of a request.
fn address_arg(args: &Value, key: &str) -> HResult<u64> {
    let r = get_str(args, key)?.ok_or_else(|| ReqError::invalid(format!("'{key}' is missing")))?;
    let base = parse_address(r).ok_or_else(|| {
        ReqError::invalid(format!(
            "'{key}' must be an address such as 0x4a2f10, not {r:?}"
        ))
    })?;
    let offset = get_i64(args, "offset")?.unwrap_or(0);
    base.checked_add_signed(offset)
        .ok_or_else(|| ReqError::invalid(format!("{r} {offset:+} is not an address")))
}

/// Standard base64 with padding (RFC 4648), as readMemory's `data` wants it.
pub fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * k)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Session {
    pub async fn on_disassemble(&mut self, req: &Request) -> HResult {
        self.require_loaded()?;
        let addr = address_arg(&req.args, "memoryReference")?;
        let offset = get_i64(&req.args, "instructionOffset")?.unwrap_or(0);
        let count = need_i64(&req.args, "instructionCount")?;
        let count = usize::try_from(count)
            .map_err(|_| ReqError::invalid("'instructionCount' must not be negative"))?;
        // Absent counts as asked: Go names are what the view is read for.
        let resolve = get_bool(&req.args, "resolveSymbols")?.unwrap_or(true);
        let list = self
            .engine(move |t| t.disassemble(addr, offset, count, resolve))
            .await
            .map_err(|e| ReqError::new(ids::UNABLE_TO_DISASSEMBLE, "Unable to disassemble", e.0))?;
        // A source location where it changes: clients carry it forward.
        let mut last: Option<(String, u64)> = None;
        let mut out = Vec::with_capacity(list.len());
        for i in list {
            let mut v = json!({
                "address": format!("{:#x}", i.addr),
                "instruction": i.text,
                "instructionBytes": hex(&i.bytes),
            });
            put(&mut v, "symbol", i.symbol);
            if i.invalid {
                v["presentationHint"] = "invalid".into();
            }
            match (i.file, i.line) {
                (Some(file), Some(line)) => {
                    if last.as_ref().is_none_or(|(f, _)| *f != file) {
                        let path = paths::to_client(&self.cfg.substitute_path, &file);
                        v["location"] = json!({"name": paths::basename(&path), "path": path});
                        v["line"] = i32ish(line).into();
                    } else if last.as_ref().is_some_and(|(_, l)| *l != line) {
                        v["line"] = i32ish(line).into();
                    }
                    last = Some((file, line));
                }
                _ => last = None,
            }
            out.push(v);
        }
        self.respond(req, Some(json!({ "instructions": out })));
        Ok(())
    }

    pub async fn on_read_memory(&mut self, req: &Request) -> HResult {
        self.require_loaded()?;
        let addr = address_arg(&req.args, "memoryReference")?;
        let count = need_i64(&req.args, "count")?;
        let count =
            u64::try_from(count).map_err(|_| ReqError::invalid("'count' must not be negative"))?;
        let read = self
            .engine(move |t| t.read_memory(addr, count))
            .await
            .map_err(|e| ReqError::new(ids::UNABLE_TO_READ_MEMORY, "Unable to read memory", e.0))?;
        self.respond(
            req,
            Some(json!({
                "address": format!("{addr:#x}"),
                "data": base64(&read.data),
                "unreadableBytes": read.unreadable,
            })),
        );
        Ok(())
    }

    /// The recording is what happened: memory is not the user's to change.
    pub fn on_write_memory(&mut self, _req: &Request) -> HResult {
        Err(ReqError::new(
            ids::REPLAY_IS_READ_ONLY,
            "Unable to write memory",
            "cannot write memory in a replay: the recording is what happened",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_like_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(&[0xff, 0xfe, 0x00, 0x01]), "//4AAQ==");
    }

    #[test]
    fn addresses() {
        assert_eq!(parse_address("0x4a2f10"), Some(0x4a2f10));
        assert_eq!(parse_address("0X10"), Some(16));
        assert_eq!(parse_address("4096"), Some(4096));
        assert_eq!(parse_address("main.x"), None);
        let a = json!({"memoryReference": "0x1000", "offset": -16});
        assert_eq!(address_arg(&a, "memoryReference").unwrap(), 0xff0);
        let under = json!({"memoryReference": "0x10", "offset": -17});
        assert!(address_arg(&under, "memoryReference").is_err());
    }
}
