//! Names of the files inside a trace directory.

/// The header file.
pub const HEADER_FILE: &str = "header";
/// The chunked event stream.
pub const EVENTS_FILE: &str = "events";
/// The chunk index, written last; marks a complete recording.
pub const INDEX_FILE: &str = "index";
/// List of stored files (id → copy).
pub const MANIFEST_FILE: &str = "manifest";
/// Directory holding copies of executables and libraries.
pub const FILES_DIR: &str = "files";
