//! Building DAP messages and reading request arguments leniently: unknown
//! keys are ignored, `null` counts as absent, a known key of the wrong type
//! is an error the client sees.

use serde_json::{json, Map, Value};

/// Error ids (`ErrorResponse.body.error.id`), Delve's where it has one.
pub mod ids {
    pub const UNABLE_TO_SET_BREAKPOINTS: i64 = 2002;
    pub const UNABLE_TO_PRODUCE_STACK_TRACE: i64 = 2004;
    pub const UNABLE_TO_LIST_LOCALS: i64 = 2005;
    pub const UNABLE_TO_LIST_ARGS: i64 = 2006;
    pub const UNABLE_TO_LIST_GLOBALS: i64 = 2007;
    pub const UNABLE_TO_LOOKUP_VARIABLE: i64 = 2008;
    pub const UNABLE_TO_EVALUATE_EXPRESSION: i64 = 2009;
    pub const UNABLE_TO_GET_EXCEPTION_INFO: i64 = 2011;
    pub const UNABLE_TO_DISASSEMBLE: i64 = 2013;
    pub const FAILED_TO_LAUNCH: i64 = 3000;
    pub const FAILED_TO_ATTACH: i64 = 3001;
    pub const FAILED_TO_INITIALIZE: i64 = 3002;
    /// rrgo's own: another client is being served.
    pub const SERVER_BUSY: i64 = 3100;
    /// rrgo's own: readMemory failed.
    pub const UNABLE_TO_READ_MEMORY: i64 = 3101;
    /// rrgo's own: a request that would change the recorded program.
    pub const REPLAY_IS_READ_ONLY: i64 = 3102;
    pub const NOT_LOADED: i64 = 4000;
    pub const INVALID_REQUEST: i64 = 4001;
    pub const UNSUPPORTED_COMMAND: i64 = 9999;
}

/// A request that failed: sent as an `ErrorResponse` whose message is
/// `summary` and whose `body.error.format` is `summary: detail`.
#[derive(Debug, Clone)]
pub struct ReqError {
    pub id: i64,
    pub summary: String,
    pub detail: String,
    pub show_user: bool,
}

impl ReqError {
    pub fn new(id: i64, summary: impl Into<String>, detail: impl Into<String>) -> ReqError {
        ReqError {
            id,
            summary: summary.into(),
            detail: detail.into(),
            show_user: true,
        }
    }

    pub fn invalid(detail: impl Into<String>) -> ReqError {
        ReqError::new(ids::INVALID_REQUEST, "Invalid request", detail)
    }

    pub fn unsupported(command: &str) -> ReqError {
        ReqError::new(
            ids::UNSUPPORTED_COMMAND,
            "Unsupported command",
            format!("'{command}' is not supported by rrgo"),
        )
    }

    pub fn shown(mut self, show: bool) -> ReqError {
        self.show_user = show;
        self
    }
}

pub type HResult<T = ()> = Result<T, ReqError>;

pub fn response(request_seq: i64, command: &str, body: Option<Value>) -> Value {
    let mut m = Map::new();
    m.insert("type".into(), "response".into());
    m.insert("request_seq".into(), request_seq.into());
    m.insert("success".into(), true.into());
    m.insert("command".into(), command.into());
    if let Some(b) = body {
        m.insert("body".into(), b);
    }
    Value::Object(m)
}

pub fn error_response(request_seq: i64, command: &str, e: &ReqError) -> Value {
    let format = if e.detail.is_empty() {
        e.summary.clone()
    } else {
        format!("{}: {}", e.summary, e.detail)
    };
    json!({
        "type": "response",
        "request_seq": request_seq,
        "success": false,
        "command": command,
        "message": e.summary,
        "body": {"error": {"id": e.id, "format": format, "showUser": e.show_user}},
    })
}

pub fn event(name: &str, body: Option<Value>) -> Value {
    let mut m = Map::new();
    m.insert("type".into(), "event".into());
    m.insert("event".into(), name.into());
    if let Some(b) = body {
        m.insert("body".into(), b);
    }
    Value::Object(m)
}

/// Inserts `key: value` into a JSON object when `value` is Some.
pub fn put<T: Into<Value>>(obj: &mut Value, key: &str, value: Option<T>) {
    if let (Some(v), Some(m)) = (value, obj.as_object_mut()) {
        m.insert(key.into(), v.into());
    }
}

fn field<'a>(args: &'a Value, key: &str) -> Option<&'a Value> {
    args.get(key).filter(|v| !v.is_null())
}

fn wrong(key: &str, what: &str) -> ReqError {
    ReqError::invalid(format!("'{key}' must be {what}"))
}

pub fn get_i64(args: &Value, key: &str) -> HResult<Option<i64>> {
    match field(args, key) {
        None => Ok(None),
        Some(v) => v
            .as_i64()
            .or_else(|| {
                v.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                    .map(|f| f as i64)
            })
            .map(Some)
            .ok_or_else(|| wrong(key, "an integer")),
    }
}

pub fn need_i64(args: &Value, key: &str) -> HResult<i64> {
    get_i64(args, key)?.ok_or_else(|| ReqError::invalid(format!("'{key}' is missing")))
}

pub fn get_str<'a>(args: &'a Value, key: &str) -> HResult<Option<&'a str>> {
    match field(args, key) {
        None => Ok(None),
        Some(v) => v.as_str().map(Some).ok_or_else(|| wrong(key, "a string")),
    }
}

pub fn get_bool(args: &Value, key: &str) -> HResult<Option<bool>> {
    match field(args, key) {
        None => Ok(None),
        Some(v) => v
            .as_bool()
            .map(Some)
            .ok_or_else(|| wrong(key, "true or false")),
    }
}

pub fn get_array<'a>(args: &'a Value, key: &str) -> HResult<Option<&'a Vec<Value>>> {
    match field(args, key) {
        None => Ok(None),
        Some(v) => v.as_array().map(Some).ok_or_else(|| wrong(key, "an array")),
    }
}

pub fn get_object<'a>(args: &'a Value, key: &str) -> HResult<Option<&'a Value>> {
    match field(args, key) {
        None => Ok(None),
        Some(v) if v.is_object() => Ok(Some(v)),
        Some(_) => Err(wrong(key, "an object")),
    }
}

/// An integer clamped into DAP's int32 fields.
pub fn i32ish(n: u64) -> i64 {
    n.min(i32::MAX as u64) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_args() {
        let a = json!({"n": 3, "f": 4.0, "s": "x", "b": true, "z": null, "bad": "3"});
        assert_eq!(get_i64(&a, "n").unwrap(), Some(3));
        assert_eq!(get_i64(&a, "f").unwrap(), Some(4));
        assert_eq!(get_i64(&a, "z").unwrap(), None);
        assert_eq!(get_i64(&a, "missing").unwrap(), None);
        assert!(get_i64(&a, "bad").is_err());
        assert!(need_i64(&a, "missing").is_err());
        assert_eq!(get_str(&a, "s").unwrap(), Some("x"));
        assert!(get_str(&a, "n").is_err());
        assert_eq!(get_bool(&a, "b").unwrap(), Some(true));
        assert!(get_array(&a, "s").is_err());
        assert_eq!(get_i64(&Value::Null, "n").unwrap(), None);
    }

    #[test]
    fn error_body() {
        let e = ReqError::new(2009, "Unable to evaluate expression", "no x").shown(false);
        let v = error_response(7, "evaluate", &e);
        assert_eq!(v["success"], false);
        assert_eq!(v["message"], "Unable to evaluate expression");
        assert_eq!(
            v["body"]["error"]["format"],
            "Unable to evaluate expression: no x"
        );
        assert_eq!(v["body"]["error"]["showUser"], false);
    }
}
