//! Facts about executables read with the `object` crate: the GNU build-id
//! and, for Go binaries, the Go version from the `.go.buildinfo` section.

use std::path::Path;

use object::{Object, ObjectSection, ObjectSymbol};

fn with_file<T>(path: &Path, f: impl FnOnce(&object::File) -> Option<T>) -> Option<T> {
    let data = std::fs::read(path).ok()?;
    let file = object::File::parse(&*data).ok()?;
    f(&file)
}

pub fn build_id(path: &Path) -> Option<Vec<u8>> {
    with_file(path, |f| f.build_id().ok().flatten().map(|b| b.to_vec()))
}

/// "go1.27.3" for a Go binary built by Go 1.18 or newer.
pub fn go_version(path: &Path) -> Option<String> {
    with_file(path, |f| {
        let data = f.section_by_name(".go.buildinfo")?.data().ok()?;
        go_version_from_buildinfo(data)
    })
}

/// Layout (runtime/debug, cmd/go/internal/version): 14-byte magic
/// "\xff Go buildinf:", pointer size, flags; with flag bit 1 set the version
/// follows at offset 32 as a uvarint-length-prefixed string.
fn go_version_from_buildinfo(data: &[u8]) -> Option<String> {
    if data.len() < 33 || &data[..14] != b"\xff Go buildinf:" || data[15] & 2 == 0 {
        return None;
    }
    let mut i = 32;
    let len = usize::try_from(crate::gobin::uvarint(data, &mut i)?).ok()?;
    let s = data.get(i..i.checked_add(len)?)?;
    String::from_utf8(s.to_vec()).ok()
}

/// A data symbol's address and size (e.g. a Go package variable `main.counter`).
pub fn data_symbol(path: &Path, name: &str) -> Option<(u64, u64)> {
    with_file(path, |f| {
        f.symbols()
            .find(|s| s.name() == Ok(name) && s.kind() == object::SymbolKind::Data)
            .map(|s| (s.address(), s.size()))
    })
}
