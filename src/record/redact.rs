//! `rrgo record --redact-env NAME`: named environment variables' values
//! never reach the trace.
//!
//! The program gets the real values. The trace gets, wherever a value
//! appears, a placeholder of the same length (`placeholder`): in the
//! header's environment, in every exec's initial stack (whose layout replay
//! reproduces, so lengths must not change), and in every byte the trace
//! takes from the program's memory afterwards — `Pages` at preemptions, the
//! bytes syscalls wrote, rrgo's call buffer — since Go copies the
//! environment into its heap at start-up. Replay then runs the program with
//! the placeholders, exactly as recorded for a program that does not use
//! the values; the digests of sent bytes are taken over the same
//! substitution, so a program that merely prints or forwards a value
//! replays showing the placeholder, and one that computes with it diverges.
//!
//! What is searched: the value itself when it is at least [`MIN_BARE`]
//! bytes long (shorter byte strings occur by chance), and `NAME=value`
//! always. Not found: values the program derives (encodes, splits, hashes),
//! a value split across two syscalls' buffers or across rrgo's call-buffer
//! records, registers at a preemption, file paths, and copies in the parent's
//! memory of a value it puts into a redacted variable for a child (learnt
//! only at the child's exec).

use std::collections::BTreeSet;

use memchr::memmem;
use trace_format::{EventKind, MemWrite, RemoteAddr};

use crate::tracee::mem::ProcMem;

/// Values shorter than this are searched for only as `NAME=value`.
pub const MIN_BARE: usize = 8;
/// `<redacted:` + 16 hex digits + `>`: values at least this long keep their
/// xxh3 in the placeholder (shorter ones could be guessed from it).
const HASHED_LEN: usize = 27;

/// Which variables to redact: exact names, or prefixes (`AWS_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Exact(Vec<u8>),
    Prefix(Vec<u8>),
}

impl Pattern {
    fn matches(&self, name: &[u8]) -> bool {
        match self {
            Pattern::Exact(n) => name == n.as_slice(),
            Pattern::Prefix(p) => name.starts_with(p),
        }
    }
}

/// One byte string to hide and what replaces it (same length).
struct Needle {
    finder: memmem::Finder<'static>,
    replacement: Vec<u8>,
}

#[derive(Default)]
pub struct Redactor {
    patterns: Vec<Pattern>,
    /// Longest first, so a value inside another is not hidden piecemeal.
    needles: Vec<Needle>,
    known: BTreeSet<Vec<u8>>,
    longest: usize,
    /// Names whose values were hidden, for the user.
    names: BTreeSet<String>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the values.
        f.debug_struct("Redactor")
            .field("patterns", &self.patterns)
            .field("names", &self.names)
            .finish()
    }
}

/// Checks a `--redact-env` argument: a variable name, optionally ending in
/// `*` (a prefix).
pub fn parse_pattern(arg: &str) -> Result<String, String> {
    let name = arg.strip_suffix('*').unwrap_or(arg);
    if arg.is_empty() || name.contains(['=', '*', '\0']) {
        return Err(format!(
            "{arg:?} is not an environment variable name (a trailing `*` matches any ending, e.g. AWS_*)"
        ));
    }
    Ok(arg.to_string())
}

/// What the trace holds instead of `value`: as many bytes, `<redacted:` +
/// the value's xxh3 in hex + `>` padded with `*` when that fits (27 bytes
/// or more), else only `*`s.
pub fn placeholder(value: &[u8]) -> Vec<u8> {
    if value.len() < HASHED_LEN {
        return vec![b'*'; value.len()];
    }
    let mut p = format!("<redacted:{:016x}>", xxhash_rust::xxh3::xxh3_64(value)).into_bytes();
    p.resize(value.len(), b'*');
    p
}

/// Whether `value` has the shape of a placeholder.
fn is_placeholder(value: &[u8]) -> bool {
    if value.is_empty() {
        return false;
    }
    let rest = match value.strip_prefix(b"<redacted:") {
        Some(r) if r.len() >= 17 && r[..16].iter().all(u8::is_ascii_hexdigit) && r[16] == b'>' => {
            &r[17..]
        }
        _ => value,
    };
    rest.iter().all(|&b| b == b'*')
}

/// The variables of a recorded environment whose values are placeholders
/// (a value that really was `***` is listed too; harmless where this is used).
pub fn redacted_names(env: &[Vec<u8>]) -> Vec<String> {
    env.iter()
        .filter_map(|kv| {
            let eq = kv.iter().position(|&b| b == b'=')?;
            is_placeholder(&kv[eq + 1..]).then(|| String::from_utf8_lossy(&kv[..eq]).into_owned())
        })
        .collect()
}

impl Redactor {
    pub fn new(patterns: &[String]) -> Redactor {
        Redactor {
            patterns: patterns
                .iter()
                .map(|p| match p.strip_suffix('*') {
                    Some(prefix) => Pattern::Prefix(prefix.as_bytes().to_vec()),
                    None => Pattern::Exact(p.as_bytes().to_vec()),
                })
                .collect(),
            ..Default::default()
        }
    }

    /// Whether anything is to be redacted (else every call is a no-op).
    pub fn is_active(&self) -> bool {
        !self.patterns.is_empty()
    }

    /// The names whose values were hidden so far.
    pub fn names(&self) -> Vec<String> {
        self.names.iter().cloned().collect()
    }

    /// Patterns that matched no variable so far.
    pub fn unmatched(&self) -> Vec<String> {
        self.patterns
            .iter()
            .filter(|p| !self.names.iter().any(|n| p.matches(n.as_bytes())))
            .map(|p| match p {
                Pattern::Exact(n) => String::from_utf8_lossy(n).into_owned(),
                Pattern::Prefix(n) => format!("{}*", String::from_utf8_lossy(n)),
            })
            .collect()
    }

    /// The environment as the header stores it. All values are learnt
    /// before any entry is searched, so a value inside another variable
    /// (`DB_URL=…:SECRET@…`) is hidden there too.
    pub fn environment(&mut self, env: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let mut out = env.to_vec();
        for kv in out.iter_mut() {
            self.env_string(kv);
        }
        for kv in out.iter_mut() {
            self.scrub(kv);
        }
        out
    }

    /// Other byte strings of the header (the command line).
    pub fn strings(&self, strings: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let mut out = strings.to_vec();
        for s in out.iter_mut() {
            self.scrub(s);
        }
        out
    }

    /// Hides the value of one `NAME=value` string if NAME matches, learning
    /// the value (a child's environment may hold values the first exec's did not).
    fn env_string(&mut self, kv: &mut [u8]) {
        let Some(eq) = kv.iter().position(|&b| b == b'=') else {
            return;
        };
        let (name, value) = kv.split_at_mut(eq);
        let value = &mut value[1..];
        if !self.patterns.iter().any(|p| p.matches(name)) {
            return;
        }
        self.names
            .insert(String::from_utf8_lossy(name).into_owned());
        if value.is_empty() {
            return;
        }
        let p = placeholder(value);
        if value.len() >= MIN_BARE {
            self.learn(value.to_vec(), p.clone());
        } else {
            let name: &[u8] = name;
            let pair = |v: &[u8]| [name, b"=", v].concat();
            self.learn(pair(value), pair(&p));
        }
        value.copy_from_slice(&p);
    }

    /// Adds a byte string to hide (a bare value, or a `NAME=value` pair)
    /// and what replaces it (as long).
    fn learn(&mut self, needle: Vec<u8>, replacement: Vec<u8>) {
        if !self.known.insert(needle.clone()) {
            return;
        }
        self.longest = self.longest.max(needle.len());
        self.needles.push(Needle {
            finder: memmem::Finder::new(&needle).into_owned(),
            replacement,
        });
        self.needles
            .sort_by_key(|n| std::cmp::Reverse(n.finder.needle().len()));
    }

    /// Replaces every occurrence of a learnt byte string in `data`.
    pub fn scrub(&self, data: &mut [u8]) {
        for n in &self.needles {
            let at: Vec<usize> = n.finder.find_iter(data).collect();
            for i in at {
                data[i..i + n.replacement.len()].copy_from_slice(&n.replacement);
            }
        }
    }

    /// Like `scrub`, also hiding the part of an occurrence that straddles
    /// an edge of `data`; `before` and `after` are the bytes around it in
    /// memory (a page next to a written one holds the rest of the value).
    fn scrub_in_context(&self, data: &mut [u8], before: &[u8], after: &[u8]) {
        let m = self.longest.saturating_sub(1);
        let len = data.len();
        if len <= 2 * m {
            // Small: an occurrence may cover it and both sides.
            let mut all = [before, &data[..], after].concat();
            self.scrub(&mut all);
            data.copy_from_slice(&all[before.len()..before.len() + len]);
            return;
        }
        self.scrub(data);
        let mut head = before.to_vec();
        head.extend_from_slice(&data[..m]);
        self.scrub(&mut head);
        data[..m].copy_from_slice(&head[before.len()..]);
        let mut tail = data[len - m..].to_vec();
        tail.extend_from_slice(after);
        self.scrub(&mut tail);
        data[len - m..].copy_from_slice(&tail[..m]);
    }

    fn scrub_write(&self, w: &mut MemWrite, mem: Option<&ProcMem>) {
        let m = self.longest.saturating_sub(1);
        let (before, after) = match mem {
            Some(mem) if m > 0 => {
                let start = w.addr.0.saturating_sub(m as u64);
                let before = mem.read_prefix(RemoteAddr(start), (w.addr.0 - start) as usize);
                let end = w.addr.0 + w.data.len() as u64;
                (before, mem.read_prefix(RemoteAddr(end), m))
            }
            _ => (Vec::new(), Vec::new()),
        };
        // A short read before the write (an unmapped page) says nothing
        // about the bytes just before it: use none.
        let before = if before.len() == m {
            before
        } else {
            Vec::new()
        };
        self.scrub_in_context(&mut w.data, &before, &after);
    }

    /// Hides values in an event's bytes taken from the program's memory.
    /// `mem` is the event's process, for the bytes around written ranges.
    pub fn event(&mut self, kind: &mut EventKind, mem: Option<&ProcMem>) {
        match kind {
            EventKind::Exec {
                initial_stack,
                regs,
                ..
            } => {
                self.initial_stack(initial_stack, regs.rsp);
                self.scrub(initial_stack);
            }
            EventKind::SyscallExit { writes, .. } | EventKind::Pages { pages: writes } => {
                for w in writes {
                    self.scrub_write(w, mem);
                }
            }
            EventKind::BufferedCalls { records } => {
                for range in crate::tracee::clockpage::call_record_outputs(records) {
                    self.scrub(&mut records[range]);
                }
            }
            _ => {}
        }
    }

    /// The environment strings of an initial stack (`rsp`: argc, argv[],
    /// NULL, envp[], NULL, …; the pointers point into the stack above).
    fn initial_stack(&mut self, stack: &mut [u8], rsp: u64) {
        let word = |s: &[u8], i: usize| -> Option<u64> {
            let b = s.get(i * 8..i * 8 + 8)?;
            Some(u64::from_le_bytes(b.try_into().ok()?))
        };
        let Some(argc) = word(stack, 0).and_then(|a| usize::try_from(a).ok()) else {
            return;
        };
        let mut i = argc.saturating_add(2);
        while let Some(ptr) = word(stack, i).filter(|&p| p != 0) {
            i += 1;
            let Some(start) = ptr
                .checked_sub(rsp)
                .and_then(|o| usize::try_from(o).ok())
                .filter(|&o| o < stack.len())
            else {
                continue;
            };
            let end = stack[start..]
                .iter()
                .position(|&b| b == 0)
                .map_or(stack.len(), |n| start + n);
            self.env_string(&mut stack[start..end]);
        }
    }

    /// The digest of what a call sent (`syscalls::sent_digest`), over the
    /// bytes as replay will send them: with the values replaced.
    pub fn sent_digest(
        &self,
        spec: &crate::syscalls::Spec,
        args: &[u64; 6],
        result: i64,
        mem: &ProcMem,
    ) -> Option<u32> {
        if spec.sends.is_empty() || result < 0 {
            return None;
        }
        let mut sent = Vec::new();
        for (addr, len) in crate::syscalls::sent_ranges(spec, args, result, mem).unwrap_or_default()
        {
            sent.extend(mem.read_prefix(addr, len as usize));
        }
        self.scrub(&mut sent);
        Some(xxhash_rust::xxh3::xxh3_64(&sent) as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redactor(patterns: &[&str], env: &[&str]) -> (Redactor, Vec<Vec<u8>>) {
        let mut r = Redactor::new(&patterns.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let env: Vec<Vec<u8>> = env.iter().map(|s| s.as_bytes().to_vec()).collect();
        let out = r.environment(&env);
        (r, out)
    }

    #[test]
    fn values_become_placeholders_of_the_same_length() {
        let long = "A".repeat(40);
        let (r, env) = redactor(
            &["TOKEN", "AWS_*"],
            &[
                &format!("TOKEN={long}"),
                "AWS_PIN=1234",
                "AWS_KEY=abcdefgh12",
                "OTHER=x",
                &format!("URL=https://u:{long}@h"),
            ],
        );
        let hashed = format!(
            "<redacted:{:016x}>",
            xxhash_rust::xxh3::xxh3_64(long.as_bytes())
        );
        assert_eq!(
            String::from_utf8_lossy(&env[0]),
            format!("TOKEN={hashed}{}", "*".repeat(40 - 27))
        );
        assert_eq!(env[1], b"AWS_PIN=****");
        assert_eq!(env[2], b"AWS_KEY=**********");
        assert_eq!(env[3], b"OTHER=x");
        assert!(!String::from_utf8_lossy(&env[4]).contains(&long));
        assert_eq!(env[4].len(), format!("URL=https://u:{long}@h").len());
        assert_eq!(r.names(), vec!["AWS_KEY", "AWS_PIN", "TOKEN"]);
        assert_eq!(redacted_names(&env), vec!["TOKEN", "AWS_PIN", "AWS_KEY"]);

        // A short value is found only with its name.
        let mut mem = b"xx AWS_PIN=1234 1234 abcdefgh12".to_vec();
        r.scrub(&mut mem);
        assert_eq!(&mem, b"xx AWS_PIN=**** 1234 **********");
    }

    #[test]
    fn occurrences_across_an_edge_are_hidden_on_both_sides() {
        let (r, _) = redactor(&["S"], &["S=secretvalue42"]);
        let mut data = b"value42 and more".to_vec();
        r.scrub_in_context(&mut data, b"xxxxxsecret", b"");
        assert_eq!(&data, b"******* and more");
        let mut data = b"lots of bytes then, more and more, secr".to_vec();
        r.scrub_in_context(&mut data, b"", b"etvalue42");
        assert_eq!(&data, b"lots of bytes then, more and more, ****");
        // A few bytes in the middle of a value.
        let mut data = b"etva".to_vec();
        r.scrub_in_context(&mut data, b"secr", b"lue42");
        assert_eq!(&data, b"****");
    }

    #[test]
    fn environment_strings_of_an_initial_stack() {
        let (mut r, _) = redactor(&["CHILD_*"], &[]);
        // argc=1, argv[0], NULL, envp[0], envp[1], NULL, then strings.
        let rsp = 0x1000u64;
        let strings = b"prog\0CHILD_A=hushhush\0KEEP=1\0";
        let base = rsp + 6 * 8;
        let mut stack = Vec::new();
        for w in [1, base, 0, base + 5, base + 22, 0] {
            stack.extend_from_slice(&u64::to_le_bytes(w));
        }
        stack.extend_from_slice(strings);
        r.initial_stack(&mut stack, rsp);
        assert_eq!(&stack[48..], b"prog\0CHILD_A=********\0KEEP=1\0");
        // Learnt: the value is now hidden elsewhere too.
        let mut later = b"<hushhush>".to_vec();
        r.scrub(&mut later);
        assert_eq!(&later, b"<********>");
    }

    #[test]
    fn patterns_are_checked() {
        assert!(parse_pattern("AWS_*").is_ok());
        assert!(parse_pattern("TOKEN").is_ok());
        assert!(parse_pattern("").is_err());
        assert!(parse_pattern("A=B").is_err());
        assert!(parse_pattern("A*B").is_err());
    }
}
