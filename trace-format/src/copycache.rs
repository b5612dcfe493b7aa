//! Copies shared by the traces of one trace root: hard links instead of a
//! fresh copy of the same executable or library at every recording.
//!
//! Why: copying and hashing the program and its libraries was the largest
//! fixed cost of a recording — 4–7 ms of the `context` package's 41 ms
//! (5.6 MB executable, 2.2 MB of libraries), partly while the program
//! waited. A recording of a file the cache knows links the copy another
//! trace made (a few µs) and takes its hash from the cache.
//!
//! An entry is the copy itself, `<key>` (one more link of a trace's
//! `files/` copy), and `<key>.meta`: its xxh3, size, inode and mtime. The
//! key names the source as it was: device, inode, size, mtime and ctime.
//! Trust rests on those, so a source whose ctime is less than
//! [`SETTLED`] old has no key (a file rewritten in place within one
//! timestamp tick would keep them: git's "racily clean" problem), and an
//! entry is used only while its own inode, size and mtime are the ones
//! noted (a write through any trace's link changes its mtime). Never
//! fatal: any failure is a miss, and the caller copies as before.
//! Entries no trace links any more (link count 1) are removed whenever an
//! entry is added.

use std::fs::{self, Metadata};
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// How old a source's last change must be for its key to be trusted.
pub const SETTLED: Duration = Duration::from_secs(2);
const META_MAGIC: &str = "rrgo-copy 1";

/// The cache directory of a trace root (`<root>/.copies`).
#[derive(Debug, Clone)]
pub struct CopyCache {
    dir: PathBuf,
    /// How old a source's last change must be (`SETTLED`; tests: less).
    settled: Duration,
}

/// A source file's identity as the cache names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key(String);

impl Key {
    /// The key of a source with these metadata; None for anything but a
    /// regular file changed at least `settled` ago.
    fn of(meta: &Metadata, settled: Duration) -> Option<Key> {
        if !meta.is_file() {
            return None;
        }
        let changed = SystemTime::UNIX_EPOCH
            + Duration::new(meta.ctime().try_into().ok()?, meta.ctime_nsec() as u32);
        if SystemTime::now().duration_since(changed).ok()? < settled {
            return None;
        }
        Some(Key(format!(
            "{:x}-{:x}-{:x}-{}.{:09}-{}.{:09}",
            meta.dev(),
            meta.ino(),
            meta.size(),
            meta.mtime(),
            meta.mtime_nsec(),
            meta.ctime(),
            meta.ctime_nsec()
        )))
    }
}

/// What an entry's `.meta` holds.
struct Noted {
    hash: u64,
    size: u64,
    ino: u64,
    mtime_ns: i128,
}

fn mtime_ns(m: &Metadata) -> i128 {
    i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec())
}

impl CopyCache {
    /// The cache in `dir` (created when the first entry is added).
    pub fn new(dir: PathBuf) -> CopyCache {
        CopyCache {
            dir,
            settled: SETTLED,
        }
    }

    /// The key of a source file with these metadata, if it can be trusted.
    pub fn key(&self, meta: &Metadata) -> Option<Key> {
        Key::of(meta, self.settled)
    }

    /// Links the copy cached under `key` at `dest` (which must not exist);
    /// its (xxh3, size), or None (a miss: nothing left at `dest`).
    pub fn link(&self, key: &Key, dest: &Path) -> Option<(u64, u64)> {
        let entry = self.dir.join(&key.0);
        let noted = self.noted(key)?;
        let valid = |m: &Metadata| {
            m.is_file()
                && m.ino() == noted.ino
                && m.size() == noted.size
                && mtime_ns(m) == noted.mtime_ns
        };
        if !valid(&fs::symlink_metadata(&entry).ok()?) {
            return None;
        }
        fs::hard_link(&entry, dest).ok()?;
        // The entry may have been replaced between the check and the link.
        if fs::symlink_metadata(dest).is_ok_and(|m| valid(&m)) {
            Some((noted.hash, noted.size))
        } else {
            let _ = fs::remove_file(dest);
            None
        }
    }

    fn noted(&self, key: &Key) -> Option<Noted> {
        let mut text = String::new();
        fs::File::open(self.dir.join(format!("{}.meta", key.0)))
            .ok()?
            .take(256)
            .read_to_string(&mut text)
            .ok()?;
        let mut lines = text.lines();
        if lines.next()? != META_MAGIC {
            return None;
        }
        let mut f = lines.next()?.split(' ');
        let noted = Noted {
            hash: u64::from_str_radix(f.next()?, 16).ok()?,
            size: f.next()?.parse().ok()?,
            ino: f.next()?.parse().ok()?,
            mtime_ns: f.next()?.parse().ok()?,
        };
        Some(noted)
    }

    /// Adds `copy` (a trace's stored copy, of content hash `hash`) under
    /// `key`, and removes entries no trace links any more. Best effort.
    pub fn insert(&self, key: &Key, copy: &Path, hash: u64) {
        if crate::private::create_dir(&self.dir)
            .is_err_and(|e| e.kind() != std::io::ErrorKind::AlreadyExists)
        {
            return;
        }
        self.prune();
        let Ok(m) = fs::symlink_metadata(copy) else {
            return;
        };
        let unique = format!(".incoming-{}-{}", std::process::id(), key.0);
        let (tmp, tmp_meta) = (
            self.dir.join(&unique),
            self.dir.join(format!("{unique}.meta")),
        );
        let meta = format!(
            "{META_MAGIC}\n{hash:016x} {} {} {}\n",
            m.size(),
            m.ino(),
            mtime_ns(&m)
        );
        let written = fs::hard_link(copy, &tmp).is_ok()
            && crate::private::open_file(
                fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true),
                &tmp_meta,
            )
            .and_then(|mut f| f.write_all(meta.as_bytes()))
            .is_ok()
            && fs::rename(&tmp, self.dir.join(&key.0)).is_ok()
            && fs::rename(&tmp_meta, self.dir.join(format!("{}.meta", key.0))).is_ok();
        if !written {
            let _ = fs::remove_file(&tmp);
            let _ = fs::remove_file(&tmp_meta);
        }
    }

    /// Removes entries whose copy only the cache links (every trace that
    /// used it is gone), and notes without a copy.
    fn prune(&self) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            let path = e.path();
            if let Some(rest) = name.strip_prefix(".incoming-") {
                // Left by a recorder killed while adding it.
                let pid = rest.split('-').next().unwrap_or("");
                if !Path::new("/proc").join(pid).exists() {
                    let _ = fs::remove_file(&path);
                }
                continue;
            }
            match name.strip_suffix(".meta") {
                Some(copy) => {
                    if fs::symlink_metadata(self.dir.join(copy)).is_err() {
                        let _ = fs::remove_file(&path);
                    }
                }
                None => {
                    if fs::symlink_metadata(&path).is_ok_and(|m| m.nlink() <= 1) {
                        let _ = fs::remove_file(&path);
                        let _ = fs::remove_file(self.dir.join(format!("{name}.meta")));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(root: &Path) -> CopyCache {
        CopyCache {
            dir: root.join(".copies"),
            settled: Duration::ZERO,
        }
    }

    #[test]
    fn a_file_changed_just_now_has_no_key() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("prog");
        fs::write(&src, b"code").unwrap();
        let c = CopyCache::new(tmp.path().join(".copies"));
        assert!(c.key(&fs::metadata(&src).unwrap()).is_none());
        assert!(
            c.key(&fs::metadata(tmp.path()).unwrap()).is_none(),
            "not a regular file"
        );
        assert!(cache(tmp.path())
            .key(&fs::metadata(&src).unwrap())
            .is_some());
    }

    #[test]
    fn an_entry_is_linked_until_a_copy_of_it_is_written_or_no_trace_links_it() {
        let tmp = tempfile::tempdir().unwrap();
        let c = cache(tmp.path());
        let src = tmp.path().join("prog");
        fs::write(&src, b"code").unwrap();
        let key = c.key(&fs::metadata(&src).unwrap()).unwrap();
        let copy = tmp.path().join("copy-a");
        fs::copy(&src, &copy).unwrap();
        assert!(
            c.link(&key, &tmp.path().join("miss")).is_none(),
            "empty cache"
        );
        c.insert(&key, &copy, 42);
        let b = tmp.path().join("copy-b");
        assert_eq!(c.link(&key, &b), Some((42, 4)));
        assert_eq!(
            fs::metadata(&b).unwrap().ino(),
            fs::metadata(&copy).unwrap().ino()
        );
        // A write through one trace's link: the entry is no longer used.
        std::thread::sleep(Duration::from_millis(10));
        fs::write(&b, b"CODE").unwrap();
        let d = tmp.path().join("copy-d");
        assert_eq!(c.link(&key, &d), None);
        assert!(!d.exists(), "a miss leaves nothing behind");
        // Once only the cache links a copy, the next insert removes it.
        let other = tmp.path().join("other");
        fs::write(&other, b"more").unwrap();
        let key2 = c.key(&fs::metadata(&other).unwrap()).unwrap();
        fs::remove_file(&copy).unwrap();
        fs::remove_file(&b).unwrap();
        c.insert(&key2, &other, 7);
        let names: Vec<_> = fs::read_dir(&c.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(!names.iter().any(|n| n.starts_with(&key.0)), "{names:?}");
        assert!(names.iter().any(|n| n.starts_with(&key2.0)), "{names:?}");
    }
}
