//! `substitutePath`: source paths as the editor sees them (`from`) versus as
//! the recorded binary's DWARF names them (`to`). Rules apply at directory
//! boundaries, the first match wins, in both directions.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The client (editor) side.
    pub from: String,
    /// The debuggee (DWARF) side.
    pub to: String,
}

fn trim(p: &str) -> &str {
    if p.len() > 1 {
        p.trim_end_matches('/')
    } else {
        p
    }
}

/// Rewrites `path` if it lies under `prefix`. An empty prefix matches
/// relative paths (Delve's convention).
fn rewrite(path: &str, prefix: &str, replacement: &str) -> Option<String> {
    let prefix = trim(prefix);
    let replacement = trim(replacement);
    let rest = if prefix.is_empty() {
        if path.starts_with('/') {
            return None;
        }
        path
    } else if path == prefix {
        ""
    } else if prefix == "/" {
        path.strip_prefix('/')?
    } else {
        path.strip_prefix(prefix)?.strip_prefix('/')?
    };
    Some(match (replacement, rest) {
        (r, "") => r.to_string(),
        ("", rest) => rest.to_string(),
        ("/", rest) => format!("/{rest}"),
        (r, rest) => format!("{r}/{rest}"),
    })
}

/// Editor path → the path the engine knows.
pub fn to_debuggee(rules: &[Rule], path: &str) -> String {
    rules
        .iter()
        .find_map(|r| rewrite(path, &r.from, &r.to))
        .unwrap_or_else(|| path.to_string())
}

/// Engine (DWARF) path → the path the editor shows.
pub fn to_client(rules: &[Rule], path: &str) -> String {
    rules
        .iter()
        .find_map(|r| rewrite(path, &r.to, &r.from))
        .unwrap_or_else(|| path.to_string())
}

/// The file name shown as `Source.name`.
pub fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Vec<Rule> {
        vec![
            Rule {
                from: "/home/me/proj/".into(),
                to: "/build/src".into(),
            },
            Rule {
                from: "/home/me/go/pkg".into(),
                to: "/root/go/pkg".into(),
            },
        ]
    }

    #[test]
    fn both_directions() {
        let r = rules();
        assert_eq!(
            to_debuggee(&r, "/home/me/proj/main.go"),
            "/build/src/main.go"
        );
        assert_eq!(to_debuggee(&r, "/home/me/proj/a/b.go"), "/build/src/a/b.go");
        assert_eq!(to_client(&r, "/build/src/a/b.go"), "/home/me/proj/a/b.go");
        assert_eq!(
            to_client(&r, "/root/go/pkg/mod/x@v1/y.go"),
            "/home/me/go/pkg/mod/x@v1/y.go"
        );
        // Only at directory boundaries.
        assert_eq!(
            to_debuggee(&r, "/home/me/project/main.go"),
            "/home/me/project/main.go"
        );
        assert_eq!(to_client(&r, "/build/srcx/main.go"), "/build/srcx/main.go");
        // Unmatched paths pass through.
        assert_eq!(
            to_client(&r, "/usr/lib/go/src/fmt/print.go"),
            "/usr/lib/go/src/fmt/print.go"
        );
        assert_eq!(to_debuggee(&[], "/x/y.go"), "/x/y.go");
    }

    #[test]
    fn first_rule_wins_and_edge_prefixes() {
        let r = vec![
            Rule {
                from: "/a".into(),
                to: "/x".into(),
            },
            Rule {
                from: "/a/b".into(),
                to: "/y".into(),
            },
        ];
        assert_eq!(to_debuggee(&r, "/a/b/c.go"), "/x/b/c.go");
        let rel = vec![Rule {
            from: "".into(),
            to: "/src".into(),
        }];
        assert_eq!(to_debuggee(&rel, "main.go"), "/src/main.go");
        assert_eq!(to_debuggee(&rel, "/abs/main.go"), "/abs/main.go");
        assert_eq!(to_client(&rel, "/src/main.go"), "main.go");
        let root = vec![Rule {
            from: "/".into(),
            to: "/chroot".into(),
        }];
        assert_eq!(to_debuggee(&root, "/x.go"), "/chroot/x.go");
        assert_eq!(to_client(&root, "/chroot/x.go"), "/x.go");
    }

    #[test]
    fn basenames() {
        assert_eq!(basename("/a/b/main.go"), "main.go");
        assert_eq!(basename("main.go"), "main.go");
    }
}
