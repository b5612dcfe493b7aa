//! setBreakpoints, setFunctionBreakpoints, setExceptionBreakpoints.

use serde_json::{json, Value};

use super::json::{get_array, get_i64, get_object, get_str, ids, put, HResult, ReqError};
use super::memory::parse_address;
use super::paths;
use super::session::{Request, Session};
use crate::debugger::api::{
    BreakpointStatus, FunctionBreakpoint, InstructionBreakpoint, LineBreakpoint,
};

fn fail(d: impl Into<String>) -> ReqError {
    ReqError::new(
        ids::UNABLE_TO_SET_BREAKPOINTS,
        "Unable to set breakpoints",
        d,
    )
}

fn opt_string(v: &Value, key: &str) -> HResult<Option<String>> {
    Ok(get_str(v, key)?.filter(|s| !s.is_empty()).map(String::from))
}

impl Session {
    fn breakpoint_json(
        &self,
        s: Option<&BreakpointStatus>,
        line: Option<u64>,
        client_path: Option<&str>,
    ) -> Value {
        let Some(s) = s else {
            return json!({"verified": false, "message": "the engine did not answer for this breakpoint"});
        };
        let mut v = json!({"id": s.id, "verified": s.verified});
        let path = match &s.file {
            Some(f) => Some(paths::to_client(&self.cfg.substitute_path, f)),
            None => client_path.map(String::from),
        };
        if let Some(p) = path {
            v["source"] = json!({"name": paths::basename(&p), "path": p});
        }
        put(&mut v, "line", s.line.or(line));
        put(&mut v, "message", s.message.clone());
        v
    }

    pub async fn on_set_breakpoints(&mut self, req: &Request) -> HResult {
        self.require_loaded()?;
        let source = get_object(&req.args, "source")?
            .ok_or_else(|| ReqError::invalid("'source' is missing"))?;
        let client_path = get_str(source, "path")?
            .ok_or_else(|| fail("the source has no path (only files on disk are supported)"))?
            .to_string();
        let mut bps = Vec::new();
        if let Some(list) = get_array(&req.args, "breakpoints")? {
            for b in list {
                let line = get_i64(b, "line")?
                    .filter(|l| *l > 0)
                    .ok_or_else(|| ReqError::invalid("each breakpoint needs a positive 'line'"))?;
                bps.push(LineBreakpoint {
                    line: line as u64,
                    condition: opt_string(b, "condition")?,
                    hit_condition: opt_string(b, "hitCondition")?,
                    log_message: opt_string(b, "logMessage")?,
                });
            }
        } else if let Some(lines) = get_array(&req.args, "lines")? {
            // The deprecated form.
            for l in lines {
                let line = l
                    .as_u64()
                    .filter(|l| *l > 0)
                    .ok_or_else(|| ReqError::invalid("'lines' must list positive integers"))?;
                bps.push(LineBreakpoint {
                    line,
                    ..Default::default()
                });
            }
        }
        let file = paths::to_debuggee(&self.cfg.substitute_path, &client_path);
        let requested: Vec<u64> = bps.iter().map(|b| b.line).collect();
        let statuses = self
            .engine(move |t| Ok(t.set_line_breakpoints(&file, &bps)))
            .await
            .map_err(|e| fail(e.0))?;
        let out: Vec<Value> = requested
            .iter()
            .enumerate()
            .map(|(i, line)| self.breakpoint_json(statuses.get(i), Some(*line), Some(&client_path)))
            .collect();
        self.respond(req, Some(json!({ "breakpoints": out })));
        Ok(())
    }

    pub async fn on_set_function_breakpoints(&mut self, req: &Request) -> HResult {
        self.require_loaded()?;
        let mut bps = Vec::new();
        for b in get_array(&req.args, "breakpoints")?
            .map(Vec::as_slice)
            .unwrap_or(&[])
        {
            let name = get_str(b, "name")?
                .ok_or_else(|| ReqError::invalid("each function breakpoint needs a 'name'"))?;
            bps.push(FunctionBreakpoint {
                name: name.trim().to_string(),
                condition: opt_string(b, "condition")?,
                hit_condition: opt_string(b, "hitCondition")?,
            });
        }
        let n = bps.len();
        let statuses = self
            .engine(move |t| Ok(t.set_function_breakpoints(&bps)))
            .await
            .map_err(|e| fail(e.0))?;
        let out: Vec<Value> = (0..n)
            .map(|i| self.breakpoint_json(statuses.get(i), None, None))
            .collect();
        self.respond(req, Some(json!({ "breakpoints": out })));
        Ok(())
    }

    pub async fn on_set_instruction_breakpoints(&mut self, req: &Request) -> HResult {
        self.require_loaded()?;
        // Each entry: the address, or why its reference is no address.
        let mut wanted: Vec<Result<InstructionBreakpoint, String>> = Vec::new();
        for b in get_array(&req.args, "breakpoints")?
            .map(Vec::as_slice)
            .unwrap_or(&[])
        {
            let r = get_str(b, "instructionReference")?.ok_or_else(|| {
                ReqError::invalid("each instruction breakpoint needs an 'instructionReference'")
            })?;
            let offset = get_i64(b, "offset")?.unwrap_or(0);
            wanted.push(
                match parse_address(r).and_then(|a| a.checked_add_signed(offset)) {
                    Some(addr) => Ok(InstructionBreakpoint {
                        addr,
                        condition: opt_string(b, "condition")?,
                        hit_condition: opt_string(b, "hitCondition")?,
                    }),
                    None => Err(format!("{r:?} {offset:+} is not an address")),
                },
            );
        }
        let bps: Vec<InstructionBreakpoint> = wanted
            .iter()
            .filter_map(|w| w.as_ref().ok().cloned())
            .collect();
        let statuses = self
            .engine(move |t| Ok(t.set_instruction_breakpoints(&bps)))
            .await
            .map_err(|e| fail(e.0))?;
        let mut statuses = statuses.iter();
        let out: Vec<Value> = wanted
            .iter()
            .map(|w| match w {
                Ok(bp) => {
                    let mut v = self.breakpoint_json(statuses.next(), None, None);
                    v["instructionReference"] = format!("{:#x}", bp.addr).into();
                    v
                }
                Err(why) => json!({"verified": false, "message": why}),
            })
            .collect();
        self.respond(req, Some(json!({ "breakpoints": out })));
        Ok(())
    }

    pub async fn on_set_exception_breakpoints(&mut self, req: &Request) -> HResult {
        self.require_loaded()?;
        let mut filters: Vec<String> = Vec::new();
        for f in get_array(&req.args, "filters")?
            .map(Vec::as_slice)
            .unwrap_or(&[])
        {
            let f = f
                .as_str()
                .ok_or_else(|| ReqError::invalid("'filters' must list strings"))?;
            filters.push(f.to_string());
        }
        for o in get_array(&req.args, "filterOptions")?
            .map(Vec::as_slice)
            .unwrap_or(&[])
        {
            if let Some(id) = get_str(o, "filterId")? {
                filters.push(id.to_string());
            }
        }
        let panics = filters.iter().any(|f| f == "unrecovered-panic");
        let fatal = filters.iter().any(|f| f == "runtime-fatal-throw");
        self.engine(move |t| {
            t.set_exception_filters(panics, fatal);
            Ok(())
        })
        .await
        .map_err(|e| fail(e.0))?;
        // One entry per filter, in order: an id rrgo does not offer is said
        // so (it was taken silently, and the panic stop went off with it).
        let out: Vec<Value> = filters
            .iter()
            .map(|f| match f.as_str() {
                "unrecovered-panic" | "runtime-fatal-throw" => json!({"verified": true}),
                other => json!({"verified": false, "message": format!(
                    "no exception filter {other:?}: rrgo offers \"unrecovered-panic\" and \"runtime-fatal-throw\""
                )}),
            })
            .collect();
        self.respond(req, Some(json!({ "breakpoints": out })));
        Ok(())
    }
}
