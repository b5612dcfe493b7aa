//! Checks the messages rrgo sends against the DAP JSON schema (tests only).
//! Implements the part of JSON Schema draft-04 the DAP schema uses: $ref,
//! allOf, oneOf, type, enum, required, properties, items,
//! additionalProperties, minimum, maximum.

use serde_json::Value;

pub struct Schema {
    root: Value,
}

/// The schema from the shared notes (../shared/dap next to the worktree),
/// or `RRGO_DAP_SCHEMA`; None (checks skipped) when neither exists.
pub fn load() -> Option<Schema> {
    let path = std::env::var_os("RRGO_DAP_SCHEMA")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../shared/dap/debugAdapterProtocol.json")
        });
    let text = std::fs::read(&path).ok()?;
    Some(Schema {
        root: serde_json::from_slice(&text).expect("the DAP schema is JSON"),
    })
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

impl Schema {
    /// The definition a message sent by the adapter must satisfy.
    fn definition_for(msg: &Value) -> Option<String> {
        match msg.get("type")?.as_str()? {
            "response" if msg.get("success") == Some(&Value::Bool(false)) => {
                Some("ErrorResponse".into())
            }
            "response" => Some(format!(
                "{}Response",
                capitalised(msg.get("command")?.as_str()?)
            )),
            "event" => Some(format!("{}Event", capitalised(msg.get("event")?.as_str()?))),
            _ => None,
        }
    }

    /// Errors found in `msg` (empty when it is valid).
    pub fn check(&self, msg: &Value) -> Vec<String> {
        let mut errs = Vec::new();
        match Self::definition_for(msg) {
            Some(def) if self.root["definitions"].get(&def).is_some() => {
                let node = self.root["definitions"][&def].clone();
                self.validate(&node, msg, &def, &mut errs);
            }
            other => errs.push(format!("no schema definition for message ({other:?})")),
        }
        errs
    }

    fn validate(&self, node: &Value, v: &Value, path: &str, errs: &mut Vec<String>) {
        if let Some(r) = node.get("$ref").and_then(Value::as_str) {
            let name = r.trim_start_matches("#/definitions/");
            match self.root["definitions"].get(name) {
                Some(def) => self.validate(def, v, path, errs),
                None => errs.push(format!("{path}: unknown $ref {r}")),
            }
        }
        if let Some(all) = node.get("allOf").and_then(Value::as_array) {
            for n in all {
                self.validate(n, v, path, errs);
            }
        }
        if let Some(one) = node.get("oneOf").and_then(Value::as_array) {
            let ok = one.iter().any(|n| {
                let mut e = Vec::new();
                self.validate(n, v, path, &mut e);
                e.is_empty()
            });
            if !ok {
                errs.push(format!("{path}: matches none of oneOf"));
            }
        }
        if let Some(t) = node.get("type") {
            let types: Vec<&str> = match t {
                Value::String(s) => vec![s.as_str()],
                Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            let ok = types.iter().any(|t| match *t {
                "string" => v.is_string(),
                "boolean" => v.is_boolean(),
                "integer" => v.is_i64() || v.is_u64(),
                "number" => v.is_number(),
                "object" => v.is_object(),
                "array" => v.is_array(),
                "null" => v.is_null(),
                _ => false,
            });
            if !ok {
                errs.push(format!("{path}: {v} is not of type {types:?}"));
                return;
            }
        }
        if let Some(e) = node.get("enum").and_then(Value::as_array) {
            if !e.contains(v) {
                errs.push(format!("{path}: {v} is not one of {e:?}"));
            }
        }
        if let Some(n) = v.as_f64() {
            if let Some(min) = node.get("minimum").and_then(Value::as_f64) {
                if n < min {
                    errs.push(format!("{path}: {n} < minimum {min}"));
                }
            }
            if let Some(max) = node.get("maximum").and_then(Value::as_f64) {
                if n > max {
                    errs.push(format!("{path}: {n} > maximum {max}"));
                }
            }
        }
        if let Some(obj) = v.as_object() {
            if let Some(req) = node.get("required").and_then(Value::as_array) {
                for k in req.iter().filter_map(Value::as_str) {
                    if !obj.contains_key(k) {
                        errs.push(format!("{path}: missing required {k:?}"));
                    }
                }
            }
            let props = node.get("properties").and_then(Value::as_object);
            for (k, val) in obj {
                match props.and_then(|p| p.get(k)) {
                    Some(p) => self.validate(p, val, &format!("{path}.{k}"), errs),
                    None => {
                        if let Some(ap) = node.get("additionalProperties").filter(|a| a.is_object())
                        {
                            self.validate(ap, val, &format!("{path}.{k}"), errs);
                        }
                    }
                }
            }
        }
        if let (Some(items), Some(arr)) = (node.get("items"), v.as_array()) {
            for (i, x) in arr.iter().enumerate() {
                self.validate(items, x, &format!("{path}[{i}]"), errs);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn validator_catches_mistakes() {
        let Some(s) = load() else {
            eprintln!("DAP schema not found: skipping");
            return;
        };
        let good = json!({"seq": 1, "type": "event", "event": "stopped",
                          "body": {"reason": "pause", "threadId": 1, "allThreadsStopped": true}});
        assert!(s.check(&good).is_empty(), "{:?}", s.check(&good));
        let bad = json!({"seq": 1, "type": "event", "event": "stopped", "body": {"threadId": "1"}});
        assert_eq!(s.check(&bad).len(), 2, "{:?}", s.check(&bad));
        let bad = json!({"seq": 2, "type": "response", "request_seq": 1, "success": true,
                         "command": "threads", "body": {"threads": [{"id": 1}]}});
        assert!(!s.check(&bad).is_empty());
        let bad = json!({"seq": 0, "type": "response", "request_seq": 1, "success": false,
                         "command": "x", "body": {"error": {"id": 1}}});
        assert_eq!(s.check(&bad).len(), 2, "{:?}", s.check(&bad));
    }
}
