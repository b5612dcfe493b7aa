//! dataBreakpointInfo, setDataBreakpoints: watchpoints on variables,
//! fields, elements, expressions and addresses.

use serde_json::{json, Value};

use super::json::{get_array, get_bool, get_i64, get_str, ids, put, HResult, ReqError};
use super::session::{Request, Session, VarRef};
use crate::debugger::api::{DataAccess, DataBreakpoint, DataTarget};

fn fail(d: impl Into<String>) -> ReqError {
    ReqError::new(
        ids::UNABLE_TO_SET_BREAKPOINTS,
        "Unable to set data breakpoints",
        d,
    )
}

fn access_name(a: DataAccess) -> &'static str {
    match a {
        DataAccess::Write => "write",
        DataAccess::ReadWrite => "readWrite",
    }
}

impl Session {
    pub async fn on_data_breakpoint_info(&mut self, req: &Request) -> HResult {
        self.require_loaded()?;
        let name = get_str(&req.args, "name")?
            .ok_or_else(|| ReqError::invalid("dataBreakpointInfo needs a 'name'"))?
            .to_string();
        let target = if get_bool(&req.args, "asAddress")?.unwrap_or(false) {
            let addr = parse_address(&name)
                .ok_or_else(|| ReqError::invalid(format!("{name:?} is not an address")))?;
            let size = get_i64(&req.args, "bytes")?.unwrap_or(8).max(0) as u64;
            DataTarget::Address { addr, size }
        } else {
            match get_i64(&req.args, "variablesReference")?.filter(|r| *r > 0) {
                Some(r) => match self.handles.var(r) {
                    Some(VarRef::Scope { goid, frame, kind }) => DataTarget::Scope {
                        goid,
                        frame,
                        kind,
                        name,
                    },
                    Some(VarRef::Children { of, .. }) => DataTarget::Child { of, name },
                    None => {
                        self.respond(
                            req,
                            Some(json!({"dataId": null, "description": format!("unknown variables reference {r}")})),
                        );
                        return Ok(());
                    }
                },
                None => {
                    let frame = get_i64(&req.args, "frameId")?
                        .and_then(|id| self.handles.frame(id).cloned());
                    DataTarget::Expression {
                        expr: name,
                        goid: frame.as_ref().map(|f| f.goid),
                        frame: frame.map(|f| f.index).unwrap_or(0),
                    }
                }
            }
        };
        let body = match self.engine(move |t| t.data_breakpoint_info(target)).await {
            Ok(info) => {
                let mut body = json!({"dataId": info.data_id, "description": info.description});
                if !info.access_types.is_empty() {
                    let types: Vec<&str> =
                        info.access_types.iter().map(|a| access_name(*a)).collect();
                    body["accessTypes"] = json!(types);
                    body["canPersist"] = json!(false);
                }
                body
            }
            Err(e) => json!({"dataId": null, "description": e.0}),
        };
        self.respond(req, Some(body));
        Ok(())
    }

    pub async fn on_set_data_breakpoints(&mut self, req: &Request) -> HResult {
        self.require_loaded()?;
        let mut bps = Vec::new();
        for b in get_array(&req.args, "breakpoints")?
            .map(Vec::as_slice)
            .unwrap_or(&[])
        {
            let data_id = get_str(b, "dataId")?
                .ok_or_else(|| ReqError::invalid("each data breakpoint needs a 'dataId'"))?;
            let access = match get_str(b, "accessType")?.unwrap_or("write") {
                "write" => DataAccess::Write,
                // No CPU watches reads alone: a read stops as a read/write does.
                "read" | "readWrite" => DataAccess::ReadWrite,
                other => return Err(ReqError::invalid(format!("unknown accessType {other:?}"))),
            };
            let text = |k| get_str(b, k).map(|s| s.filter(|s| !s.is_empty()).map(String::from));
            bps.push(DataBreakpoint {
                data_id: data_id.to_string(),
                access,
                condition: text("condition")?,
                hit_condition: text("hitCondition")?,
            });
        }
        let n = bps.len();
        let statuses = self
            .engine(move |t| Ok(t.set_data_breakpoints(&bps)))
            .await
            .map_err(|e| fail(e.0))?;
        let out: Vec<Value> = (0..n)
            .map(|i| match statuses.get(i) {
                Some(s) => {
                    let mut v = json!({"id": s.id, "verified": s.verified});
                    put(&mut v, "message", s.message.clone());
                    v
                }
                None => json!({"verified": false, "message": "the engine did not answer for this data breakpoint"}),
            })
            .collect();
        self.respond(req, Some(json!({ "breakpoints": out })));
        Ok(())
    }
}

/// `0xc000012345` or a decimal address.
fn parse_address(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn addresses_parse_in_hex_and_decimal() {
        assert_eq!(super::parse_address("0xc000012345"), Some(0xc000012345));
        assert_eq!(super::parse_address("4096"), Some(4096));
        assert_eq!(super::parse_address("main.x"), None);
    }
}
