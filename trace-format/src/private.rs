//! A trace is private to its owner: it holds the program's environment and
//! every byte the program read, 0600 files included. Directories are created
//! 0700 and files 0600 whatever the umask: the mode is given at creation and
//! then set again explicitly (fchmod), because the umask can only take bits
//! away — 000 would leave a wider mode asked for elsewhere, 0277 would leave
//! rrgo unable to write its own files.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Mode of every directory rrgo creates for a trace.
pub const DIR_MODE: u32 = 0o700;
/// Mode of every file rrgo writes into a trace.
pub const FILE_MODE: u32 = 0o600;

/// Opens `path` with `opts` (which must create it), mode 0600 however the
/// umask is set.
pub fn open_file(opts: &mut OpenOptions, path: &Path) -> io::Result<File> {
    let f = opts.mode(FILE_MODE).open(path)?;
    f.set_permissions(fs::Permissions::from_mode(FILE_MODE))?;
    Ok(f)
}

/// Creates a new file `path` (it must not exist) and writes `bytes`: mode 0600.
pub fn write_new(path: &Path, bytes: &[u8]) -> io::Result<File> {
    let mut f = open_file(OpenOptions::new().write(true).create_new(true), path)?;
    f.write_all(bytes)?;
    Ok(f)
}

/// Creates the directory `dir` (its parent must exist), mode 0700. An
/// existing directory is an `AlreadyExists` error and is left alone.
pub fn create_dir(dir: &Path) -> io::Result<()> {
    DirBuilder::new().mode(DIR_MODE).create(dir)?;
    restrict_dir(dir)
}

/// Sets `dir`'s mode to 0700.
pub fn restrict_dir(dir: &Path) -> io::Result<()> {
    fs::set_permissions(dir, fs::Permissions::from_mode(DIR_MODE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_are_exact() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("d");
        create_dir(&d).unwrap();
        let f = d.join("f");
        write_new(&f, b"x").unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(&d), DIR_MODE);
        assert_eq!(mode(&f), FILE_MODE);
        assert!(write_new(&f, b"y").is_err(), "an existing file is kept");
    }
}
