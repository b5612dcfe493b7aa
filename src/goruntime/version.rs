//! Which Go releases rrgo's Go-aware features know, in one place.
//!
//! Recording and replaying need nothing from Go's runtime (they work on any
//! program, Go or not, built by any release). What reads the runtime's
//! structures — goroutine dumps and histories, the signal timeline, the
//! debugger's goroutines and variables — is written and tested against the
//! releases in [`SUPPORTED`]: struct layouts come from DWARF, but the
//! meaning of statuses, the functions it sets breakpoints on and the shapes
//! of maps and labels change between releases. For another release those
//! commands refuse with [`Unsupported`] (the flag `--allow-any-go` tries
//! anyway, as Delve's `--check-go-version=false` does).
//!
//! Release-specific code elsewhere names the releases it handles:
//! `record/syscall6.rs` (Syscall6's names, 1.21+), `govalue/maps.rs` (swiss
//! tables, 1.24+), `goruntime/layout.rs` (fields some releases lack).

use std::fmt;

/// A Go release, major.minor (`go1.27.3` is 1.27).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Release {
    pub major: u32,
    pub minor: u32,
}

impl fmt::Display for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The oldest and newest release the Go-aware features know (the pinned
/// toolchains in scripts/go-versions test both ends).
pub const SUPPORTED: (Release, Release) = (
    Release {
        major: 1,
        minor: 24,
    },
    Release {
        major: 1,
        minor: 27,
    },
);

/// The release of a Go version string as the binary's build info holds it:
/// `go1.27.3`, `go1.25rc1`, `go1.24.1 X:nocoverageredesign`, `devel
/// go1.28-0123abcd …`.
pub fn release(version: &str) -> Option<Release> {
    let at = version.find("go1.")?;
    let digits = |s: &str| -> Option<(u32, usize)> {
        let n = s.bytes().take_while(u8::is_ascii_digit).count();
        Some((s.get(..n)?.parse().ok()?, n))
    };
    let rest = &version[at + 2..];
    let (major, n) = digits(rest)?;
    let (minor, _) = digits(rest.get(n + 1..)?)?;
    Some(Release { major, minor })
}

/// A Go-aware command refused for the program's Go version.
#[derive(Debug)]
pub struct Unsupported {
    /// The version string from the binary, if it has one.
    pub version: Option<String>,
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (lo, hi) = SUPPORTED;
        match &self.version {
            Some(v) => write!(f, "the recorded program was built by {v}")?,
            None => write!(
                f,
                "rrgo cannot tell which Go built the recorded program (no Go build \
                 information: not a Go program, or built before Go 1.18)"
            )?,
        }
        write!(
            f,
            "; rrgo reads the runtime of Go {lo} to {hi} only, so goroutines, histories, \
             the signal timeline and the debugger may be wrong or fail (recording and \
             `replay -a` work with any Go); --allow-any-go tries anyway"
        )
    }
}

impl std::error::Error for Unsupported {}

/// Ok if the Go-aware features know the release that built a program
/// whose build info says `version`, or if `allow_any` says to try anyway.
pub fn check(version: Option<&str>, allow_any: bool) -> Result<(), Unsupported> {
    let known = version
        .and_then(release)
        .is_some_and(|r| SUPPORTED.0 <= r && r <= SUPPORTED.1);
    if known || allow_any {
        return Ok(());
    }
    Err(Unsupported {
        version: version.map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_are_read_from_build_info_versions() {
        let r = |major, minor| Some(Release { major, minor });
        assert_eq!(release("go1.27.3"), r(1, 27));
        assert_eq!(release("go1.25rc1"), r(1, 25));
        assert_eq!(release("go1.24.1 X:nocoverageredesign"), r(1, 24));
        assert_eq!(release("devel go1.28-0123abcd Tue"), r(1, 28));
        assert_eq!(release("go1.9"), r(1, 9));
        assert_eq!(release("gccgo"), None);
        assert_eq!(release("go1."), None);
    }

    #[test]
    fn only_the_supported_releases_pass_without_the_flag() {
        assert!(check(Some("go1.24.11"), false).is_ok());
        assert!(check(Some("go1.27.3"), false).is_ok());
        for v in [Some("go1.22.10"), Some("go1.23.9"), Some("go1.28.0"), None] {
            let e = check(v, false).unwrap_err().to_string();
            assert!(e.contains("Go 1.24 to 1.27"), "{e}");
            assert!(e.contains("--allow-any-go"), "{e}");
            assert!(check(v, true).is_ok());
        }
        assert!(check(Some("go1.22.10"), false)
            .unwrap_err()
            .to_string()
            .starts_with("the recorded program was built by go1.22.10;"));
    }
}
