//! /proc/PID/maps and /proc/PID/pagemap: which memory exists and which
//! pages are actually present.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

pub const PAGE: u64 = 4096;

#[derive(Debug, Clone)]
pub struct Region {
    pub start: u64,
    pub end: u64,
    pub perms: [u8; 4],
    /// Offset in the mapped file.
    pub offset: u64,
    /// The mapped file's inode (0 for anonymous memory).
    pub inode: u64,
    pub path: String,
}

impl Region {
    pub fn writable(&self) -> bool {
        self.perms[1] == b'w'
    }
}

/// Where the image of the lowest executable file mapping (the program,
/// right after exec) starts: its file's lowest mapping. A position-
/// independent executable's text follows a read-only segment of its own
/// file, so the pages below its text are taken.
pub fn lowest_image_start(maps: &[Region]) -> Option<u64> {
    let text = maps
        .iter()
        .filter(|r| r.perms[2] == b'x' && r.path.starts_with('/'))
        .min_by_key(|r| r.start)?;
    maps.iter()
        .filter(|r| r.path == text.path)
        .map(|r| r.start)
        .min()
}

pub fn read_maps(pid: i32) -> io::Result<Vec<Region>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/maps"))?;
    let mut out = Vec::new();
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        let (Some(range), Some(perms)) = (fields.next(), fields.next()) else {
            continue;
        };
        let offset = fields
            .next()
            .and_then(|o| u64::from_str_radix(o, 16).ok())
            .unwrap_or(0);
        let _dev = fields.next();
        let inode = fields.next().and_then(|i| i.parse().ok()).unwrap_or(0);
        let path = fields.collect::<Vec<_>>().join(" ");
        let Some((s, e)) = range.split_once('-') else {
            continue;
        };
        let (Ok(start), Ok(end)) = (u64::from_str_radix(s, 16), u64::from_str_radix(e, 16)) else {
            continue;
        };
        let p = perms.as_bytes();
        if p.len() < 4 {
            continue;
        }
        out.push(Region {
            start,
            end,
            perms: [p[0], p[1], p[2], p[3]],
            offset,
            inode,
            path,
        });
    }
    Ok(out)
}

/// Reads presence bits for the pages of [start, end): true where the page
/// is in memory or swapped (i.e. may hold non-zero data).
pub struct Pagemap {
    file: File,
}

impl Pagemap {
    pub fn open(pid: i32) -> io::Result<Pagemap> {
        Ok(Pagemap {
            file: File::open(format!("/proc/{pid}/pagemap"))?,
        })
    }

    pub fn present(&self, start: u64, end: u64) -> io::Result<Vec<bool>> {
        let pages = ((end - start) / PAGE) as usize;
        let mut raw = vec![0u8; pages * 8];
        let mut done = 0;
        while done < raw.len() {
            let n = self
                .file
                .read_at(&mut raw[done..], (start / PAGE) * 8 + done as u64)?;
            if n == 0 {
                break;
            }
            done += n;
        }
        Ok(raw
            .chunks_exact(8)
            .map(|c| {
                let v = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
                v & (3 << 62) != 0
            })
            .collect())
    }
}
