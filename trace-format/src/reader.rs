//! `TraceReader`: opens a trace directory, finds its chunks (from `index`
//! or by scanning), and iterates events from any point.

use crate::chunk::{
    decode_event, decompress_payload, events_preamble, ChunkHeader, CHUNK_HEADER_LEN, EVENTS_MAGIC,
    EVENTS_PREAMBLE_LEN,
};
use crate::codec::{MAX_HEADER_BODY, MAX_RRGO_VERSION_LEN};
use crate::error::TraceError;
use crate::event::Event;
use crate::files::{is_valid_stored_name, parse_manifest};
use crate::header::{decode_header_file, Header, StoredFile};
use crate::ids::{EventTime, FileId, RecTid};
use crate::index::{Index, INDEX_ENTRY_LEN, INDEX_FIXED_LEN};
use crate::layout::{EVENTS_FILE, FILES_DIR, HEADER_FILE, INDEX_FILE, MANIFEST_FILE};
use crate::FORMAT_VERSION;
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Largest `manifest` file read (entries are a few hundred bytes each).
const MAX_MANIFEST_FILE: u64 = 64 << 20;

/// One chunk of the `events` file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkInfo {
    /// Time of its first event.
    pub first_event: EventTime,
    /// Number of events.
    pub event_count: u32,
    /// Byte offset of the chunk header in `events`.
    pub offset: u64,
    /// Size of the zstd payload.
    pub compressed_len: u32,
    /// Size of the decompressed payload.
    pub uncompressed_len: u32,
    /// xxh3 of the zstd payload, checked when the chunk is decoded.
    pub payload_xxh3: u64,
}

impl ChunkInfo {
    fn from_header(h: &ChunkHeader, offset: u64) -> ChunkInfo {
        ChunkInfo {
            first_event: EventTime(h.first_event),
            event_count: h.event_count,
            offset,
            compressed_len: h.compressed_len,
            uncompressed_len: h.uncompressed_len,
            payload_xxh3: h.payload_xxh3,
        }
    }

    fn header(&self) -> ChunkHeader {
        ChunkHeader {
            first_event: self.first_event.0,
            event_count: self.event_count,
            uncompressed_len: self.uncompressed_len,
            compressed_len: self.compressed_len,
            payload_xxh3: self.payload_xxh3,
        }
    }

    /// Time just past the chunk's last event.
    pub fn end_event(&self) -> EventTime {
        EventTime(self.first_event.0 + self.event_count as u64)
    }
}

/// Whether the recording finished cleanly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completeness {
    /// `finish()` ran: a valid `index` matches the `events` file.
    Complete,
    /// Only a prefix of the recording can be read (recorder killed, disk
    /// full, damaged files). `reason` is a sentence for the user.
    Truncated {
        /// Events in the complete chunks found.
        events_readable: u64,
        /// What was found and why reading stops there.
        reason: String,
    },
}

/// A trace opened for reading. Cheap to share by reference: iterators read
/// the `events` file with positioned reads and do not disturb each other.
#[derive(Debug)]
pub struct TraceReader {
    dir: PathBuf,
    header: Header,
    events_path: PathBuf,
    events: Option<File>,
    chunks: Vec<ChunkInfo>,
    event_count: u64,
    completeness: Completeness,
    stored_files: Vec<StoredFile>,
    manifest_problem: Option<String>,
}

impl TraceReader {
    /// Opens the trace in `dir`. A truncated or partly damaged `events`
    /// file is not an error: the readable prefix is used and
    /// [`TraceReader::completeness`] says what happened.
    pub fn open(dir: &Path) -> Result<TraceReader, TraceError> {
        match fs::metadata(dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(TraceError::NotATrace {
                    path: dir.to_path_buf(),
                })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(TraceError::NotFound {
                    path: dir.to_path_buf(),
                })
            }
            Err(e) => return Err(TraceError::io(dir, e)),
        }
        let header_path = dir.join(HEADER_FILE);
        let header_cap = (26 + MAX_RRGO_VERSION_LEN + MAX_HEADER_BODY) as u64;
        let header_bytes = match read_capped(&header_path, header_cap) {
            Ok(b) => b,
            Err(ReadCapped::Missing) => {
                return Err(TraceError::NotATrace {
                    path: dir.to_path_buf(),
                })
            }
            Err(ReadCapped::TooBig(len)) => {
                // Still give the version check a chance: a future format
                // might allow bigger headers.
                let mut head = Vec::new();
                if let Ok((f, _)) = open_regular(&header_path) {
                    let _ = f
                        .take(16 + MAX_RRGO_VERSION_LEN as u64)
                        .read_to_end(&mut head);
                }
                return Err(match decode_header_file(&head, &header_path, dir) {
                    Err(
                        e @ (TraceError::NotATrace { .. } | TraceError::VersionMismatch { .. }),
                    ) => e,
                    _ => TraceError::corrupt(
                        &header_path,
                        0,
                        format!("file is {len} bytes, more than a header can be"),
                    ),
                });
            }
            Err(ReadCapped::NotRegular(kind)) => {
                return Err(TraceError::corrupt(&header_path, 0, not_regular_what(kind)))
            }
            Err(ReadCapped::Io(e)) => return Err(TraceError::io(&header_path, e)),
        };
        let header = decode_header_file(&header_bytes, &header_path, dir)?;

        let events_path = dir.join(EVENTS_FILE);
        let mut reader = TraceReader {
            dir: dir.to_path_buf(),
            header,
            events_path,
            events: None,
            chunks: Vec::new(),
            event_count: 0,
            completeness: Completeness::Complete,
            stored_files: Vec::new(),
            manifest_problem: None,
        };
        reader.load_manifest();
        reader.load_events()?;
        Ok(reader)
    }

    fn load_manifest(&mut self) {
        let path = self.dir.join(MANIFEST_FILE);
        match read_capped(&path, MAX_MANIFEST_FILE) {
            Ok(bytes) => match parse_manifest(&bytes, &path) {
                Ok((files, problem)) => {
                    self.stored_files = files;
                    self.manifest_problem = problem;
                }
                Err(e) => self.manifest_problem = Some(e.to_string()),
            },
            Err(ReadCapped::Missing) => {}
            Err(ReadCapped::TooBig(len)) => {
                self.manifest_problem = Some(format!("manifest is {len} bytes, too big to be real"))
            }
            Err(ReadCapped::NotRegular(kind)) => {
                self.manifest_problem = Some(format!("manifest is {}", not_regular_what(kind)))
            }
            Err(ReadCapped::Io(e)) => {
                self.manifest_problem = Some(format!("cannot read {}: {e}", path.display()))
            }
        }
    }

    fn load_events(&mut self) -> Result<(), TraceError> {
        let path = self.events_path.clone();
        let (file, len) = match open_regular(&path) {
            Ok(f) => f,
            Err(OpenError::Missing) => {
                self.set_truncated("the events file is missing (recording stopped right after it started); 0 events in 0 complete chunks".into());
                return Ok(());
            }
            Err(OpenError::NotRegular(kind)) => {
                return Err(TraceError::corrupt(&path, 0, not_regular_what(kind)))
            }
            Err(OpenError::Io(e)) => return Err(TraceError::io(&path, e)),
        };
        let mut pre = [0u8; EVENTS_PREAMBLE_LEN as usize];
        let got = read_at_most(&file, &mut pre, 0).map_err(|e| TraceError::io(&path, e))?;
        if got < pre.len() {
            // The writer creates the file and then writes the preamble; a
            // kill in between leaves a prefix of it.
            if pre[..got] != events_preamble()[..got] {
                return Err(TraceError::corrupt(&path, 0, "bad magic number"));
            }
            self.events = Some(file);
            self.set_truncated(format!("the events file ends inside its preamble ({got} bytes); 0 events in 0 complete chunks"));
            return Ok(());
        }
        if pre[..8] != EVENTS_MAGIC {
            return Err(TraceError::corrupt(&path, 0, "bad magic number"));
        }
        let mut v = [0u8; 4];
        v.copy_from_slice(&pre[8..12]);
        let found = u32::from_le_bytes(v);
        if found != FORMAT_VERSION {
            return Err(TraceError::VersionMismatch {
                found,
                supported: FORMAT_VERSION,
                recorded_by: self.header.rrgo_version.clone(),
            });
        }

        let index_problem = match self.try_index(&file, len) {
            Ok(Some(chunks)) => {
                self.event_count = chunks.last().map(|c| c.end_event().0).unwrap_or(0);
                self.chunks = chunks;
                self.completeness = Completeness::Complete;
                self.events = Some(file);
                return Ok(());
            }
            Ok(None) => "recording did not finish (no index)".to_string(),
            Err(why) => format!("the index is damaged ({why})"),
        };
        let (chunks, stop) = scan_chunks(&file, len).map_err(|e| TraceError::io(&path, e))?;
        self.event_count = chunks.last().map(|c| c.end_event().0).unwrap_or(0);
        let mut reason = format!(
            "{index_problem}; {} events in {} complete chunks",
            self.event_count,
            chunks.len()
        );
        if let Some((at, why)) = stop {
            reason.push_str(&format!(
                ", {} trailing bytes ignored ({why} at byte {at})",
                len - at
            ));
        }
        self.chunks = chunks;
        self.events = Some(file);
        self.set_truncated(reason);
        Ok(())
    }

    fn set_truncated(&mut self, reason: String) {
        self.completeness = Completeness::Truncated {
            events_readable: self.event_count,
            reason,
        };
    }

    /// Reads `index` and checks it against the chunk headers it points to.
    /// `Ok(None)`: no index. `Err`: why it cannot be trusted.
    fn try_index(&self, file: &File, events_len: u64) -> Result<Option<Vec<ChunkInfo>>, String> {
        let path = self.dir.join(INDEX_FILE);
        // A valid index has one entry per chunk, and chunks are at least a
        // header long, which bounds how much of the file is worth reading.
        let cap = INDEX_FIXED_LEN as u64
            + INDEX_ENTRY_LEN as u64 * (events_len / CHUNK_HEADER_LEN as u64 + 1);
        let bytes = match read_capped(&path, cap) {
            Ok(b) => b,
            Err(ReadCapped::Missing) => return Ok(None),
            Err(ReadCapped::TooBig(len)) => {
                return Err(format!("{len} bytes, too big for the events file"))
            }
            Err(ReadCapped::NotRegular(kind)) => return Err(not_regular_what(kind)),
            Err(ReadCapped::Io(e)) => return Err(e.to_string()),
        };
        let index = Index::decode(&bytes)?;
        if index.events_len != events_len {
            return Err(format!(
                "it describes {} bytes of events, the file has {events_len}",
                index.events_len
            ));
        }
        let mut chunks = Vec::with_capacity(index.entries.len());
        let mut offset = EVENTS_PREAMBLE_LEN;
        let mut next_first = 0u64;
        for e in &index.entries {
            if e.offset != offset || e.first_event != next_first {
                return Err(format!(
                    "entry for byte {} does not follow the previous chunk",
                    e.offset
                ));
            }
            let h = read_chunk_header(file, offset, events_len)
                .map_err(|why| format!("chunk at byte {offset}: {why}"))?;
            if h.first_event != e.first_event || h.event_count != e.event_count {
                return Err(format!("chunk at byte {offset} does not match its entry"));
            }
            chunks.push(ChunkInfo::from_header(&h, offset));
            offset += h.disk_len();
            next_first += h.event_count as u64;
        }
        if offset != events_len {
            return Err(format!(
                "chunks end at byte {offset}, the events file at {events_len}"
            ));
        }
        Ok(Some(chunks))
    }

    /// The trace directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The recording's header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Whether the recording finished, and if not how much can be read.
    pub fn completeness(&self) -> Completeness {
        self.completeness.clone()
    }

    /// Events that can be read (those in complete chunks).
    pub fn event_count(&self) -> u64 {
        self.event_count
    }

    /// The readable chunks, in order.
    pub fn chunks(&self) -> &[ChunkInfo] {
        &self.chunks
    }

    /// Iterates over all events.
    pub fn events(&self) -> Events<'_> {
        self.events_from(EventTime(0))
    }

    /// Iterates over events from time `n` on, decoding only from the chunk
    /// that holds `n`. Empty if `n` is past the end. A damaged chunk yields
    /// one `Err` and ends the iteration.
    pub fn events_from(&self, n: EventTime) -> Events<'_> {
        let chunk_idx = self.chunks.partition_point(|c| c.end_event() <= n);
        Events {
            reader: self,
            chunk_idx,
            target: n.0,
            buf: Vec::new(),
            pos: 0,
            left_in_chunk: 0,
            next_time: 0,
            cur_offset: 0,
            cur_events: (0, 0),
            done: n.0 >= self.event_count,
        }
    }

    /// The event at time `n`.
    pub fn event(&self, n: EventTime) -> Result<Event, TraceError> {
        match self.events_from(n).next() {
            Some(r) => r,
            None => Err(TraceError::EventOutOfRange {
                time: n,
                count: self.event_count,
            }),
        }
    }

    /// Files listed in `manifest`, in id order.
    pub fn stored_files(&self) -> &[StoredFile] {
        &self.stored_files
    }

    /// Looks up a stored file by id (the executable from the header, or a
    /// `manifest` entry).
    pub fn stored_file(&self, id: FileId) -> Result<&StoredFile, TraceError> {
        if let Some(f) = self.stored_files.get(id.0 as usize) {
            return Ok(f);
        }
        if self.header.exe.id == id {
            return Ok(&self.header.exe);
        }
        let mut what = format!(
            "file id {id} is not in the manifest ({} entries)",
            self.stored_files.len()
        );
        if let Some(p) = &self.manifest_problem {
            what.push_str(&format!("; manifest problem: {p}"));
        }
        Err(TraceError::corrupt(&self.dir.join(MANIFEST_FILE), 0, what))
    }

    /// Why `manifest` could not be read completely, if it could not.
    pub fn manifest_problem(&self) -> Option<&str> {
        self.manifest_problem.as_deref()
    }

    /// Where the copy of `f` is. Names that could escape `files/` (only
    /// possible for hand-made `StoredFile`s; the reader rejects them on
    /// input) are flattened.
    pub fn stored_file_path(&self, f: &StoredFile) -> PathBuf {
        let dir = self.dir.join(FILES_DIR);
        if is_valid_stored_name(&f.stored_name) {
            dir.join(&f.stored_name)
        } else {
            dir.join(f.stored_name.replace(['/', '\0'], "_").replace("..", "__"))
        }
    }

    /// Re-hashes the copy of `f` and checks size and xxh3. A copy that is
    /// missing, not a regular file (a FIFO or a link to `/dev/zero` would
    /// block or never end) or of another size than recorded is `Corrupt`
    /// before a byte of it is read; reading stops at the recorded size.
    pub fn verify_stored_file(&self, f: &StoredFile) -> Result<(), TraceError> {
        let path = self.stored_file_path(f);
        let (file, len) = open_regular(&path).map_err(|e| match e {
            OpenError::Missing => {
                TraceError::corrupt(&path, 0, "the stored copy is missing from files/")
            }
            OpenError::NotRegular(kind) => TraceError::corrupt(&path, 0, not_regular_what(kind)),
            OpenError::Io(e) => TraceError::io(&path, e),
        })?;
        if len != f.size {
            return Err(TraceError::corrupt(
                &path,
                0,
                format!(
                    "the stored copy is {len} bytes, the recording stored {}",
                    f.size
                ),
            ));
        }
        // One byte more than recorded, to see a file that grew meanwhile.
        let mut file = file.take(f.size.saturating_add(1));
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        let mut buf = vec![0u8; 256 << 10];
        let mut size = 0u64;
        loop {
            match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    hasher.update(&buf[..n]);
                    size += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(TraceError::io(&path, e)),
            }
        }
        if size != f.size || hasher.digest() != f.xxh3 {
            return Err(TraceError::corrupt(
                &path,
                0,
                "stored file does not match its recorded size and hash",
            ));
        }
        Ok(())
    }

    fn load_chunk(&self, c: &ChunkInfo) -> Result<Vec<u8>, TraceError> {
        let file = self
            .events
            .as_ref()
            .ok_or_else(|| TraceError::corrupt(&self.events_path, 0, "no events file"))?;
        // compressed_len was capped and checked to lie inside the file when
        // the chunk list was built, so this allocation is bounded.
        let mut compressed = vec![0u8; c.compressed_len as usize];
        let payload_at = c.offset + CHUNK_HEADER_LEN as u64;
        file.read_exact_at(&mut compressed, payload_at)
            .map_err(|e| {
                if e.kind() == io::ErrorKind::UnexpectedEof {
                    TraceError::corrupt(
                        &self.events_path,
                        payload_at,
                        "chunk payload is cut short (file shrank?)",
                    )
                } else {
                    TraceError::io(&self.events_path, e)
                }
            })?;
        decompress_payload(&c.header(), &compressed, &self.events_path, c.offset)
    }
}

/// Iterator over events; see [`TraceReader::events_from`]. Holds at most
/// one decompressed chunk.
#[derive(Debug)]
pub struct Events<'a> {
    reader: &'a TraceReader,
    chunk_idx: usize,
    target: u64,
    buf: Vec<u8>,
    pos: usize,
    left_in_chunk: u32,
    next_time: u64,
    cur_offset: u64,
    /// The loaded chunk's events, first and one past the last.
    cur_events: (u64, u64),
    done: bool,
}

impl Events<'_> {
    fn fail(&mut self, e: TraceError) -> Option<Result<Event, TraceError>> {
        self.done = true;
        self.buf = Vec::new();
        Some(Err(e))
    }
}

impl Iterator for Events<'_> {
    type Item = Result<Event, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done {
                return None;
            }
            if self.left_in_chunk == 0 {
                let Some(c) = self.reader.chunks.get(self.chunk_idx).copied() else {
                    self.done = true;
                    self.buf = Vec::new();
                    return None;
                };
                // Drop the previous chunk before loading the next one.
                self.buf = Vec::new();
                self.buf = match self.reader.load_chunk(&c) {
                    Ok(b) => b,
                    Err(e) => return self.fail(e),
                };
                self.chunk_idx += 1;
                self.pos = 0;
                self.left_in_chunk = c.event_count;
                self.next_time = c.first_event.0;
                self.cur_offset = c.offset;
                self.cur_events = (c.first_event.0, c.end_event().0);
            }
            let rest = self.buf.get(self.pos..).unwrap_or_default();
            let (tid, kind, used): (RecTid, _, usize) = match decode_event(rest) {
                Ok(v) => v,
                Err(e) => {
                    let what = format!(
                        "event {} (byte {} of the decompressed chunk): {e}",
                        self.next_time, self.pos
                    );
                    return self.fail(TraceError::corrupt(
                        &self.reader.events_path,
                        self.cur_offset,
                        what,
                    ));
                }
            };
            self.pos += used;
            self.left_in_chunk -= 1;
            if self.left_in_chunk == 0 && self.pos != self.buf.len() {
                // Checked before the chunk's last event is returned, so a
                // reader that stops there (replay loads one chunk at a
                // time) rejects the chunk as one that reads on does.
                let what = format!(
                    "chunk of events {}-{}: {} bytes left after the chunk's last event",
                    self.cur_events.0,
                    self.cur_events.1 - 1,
                    self.buf.len() - self.pos
                );
                return self.fail(TraceError::corrupt(
                    &self.reader.events_path,
                    self.cur_offset,
                    what,
                ));
            }
            let time = self.next_time;
            self.next_time += 1;
            if time >= self.target {
                return Some(Ok(Event {
                    time: EventTime(time),
                    tid,
                    kind,
                }));
            }
        }
    }
}

/// Where and why a scan stopped before the end of `events`.
type ScanStop = Option<(u64, String)>;

/// Walks chunk headers from the start of `events`. Returns the chunks of
/// the valid prefix and, if it does not reach the end of the file, where
/// and why it stopped.
fn scan_chunks(file: &File, len: u64) -> io::Result<(Vec<ChunkInfo>, ScanStop)> {
    let mut chunks = Vec::new();
    let mut offset = EVENTS_PREAMBLE_LEN;
    let mut next_first = 0u64;
    while offset < len {
        let h = match read_chunk_header(file, offset, len) {
            Ok(h) => h,
            Err(ChunkHeaderError::Io(e)) => return Err(e),
            Err(ChunkHeaderError::Bad(why)) => return Ok((chunks, Some((offset, why)))),
        };
        if h.first_event != next_first {
            let why = format!(
                "chunk starts at event {}, expected {next_first}",
                h.first_event
            );
            return Ok((chunks, Some((offset, why))));
        }
        chunks.push(ChunkInfo::from_header(&h, offset));
        offset += h.disk_len();
        next_first += h.event_count as u64;
    }
    Ok((chunks, None))
}

enum ChunkHeaderError {
    Io(io::Error),
    Bad(String),
}

impl std::fmt::Display for ChunkHeaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChunkHeaderError::Io(e) => write!(f, "{e}"),
            ChunkHeaderError::Bad(s) => f.write_str(s),
        }
    }
}

/// Reads and validates the chunk header at `offset`, including that the
/// whole chunk lies inside the file.
fn read_chunk_header(file: &File, offset: u64, len: u64) -> Result<ChunkHeader, ChunkHeaderError> {
    let mut b = [0u8; CHUNK_HEADER_LEN];
    let got = read_at_most(file, &mut b, offset).map_err(ChunkHeaderError::Io)?;
    if got < CHUNK_HEADER_LEN {
        return Err(ChunkHeaderError::Bad("partial chunk header".into()));
    }
    let h = ChunkHeader::decode(&b).map_err(ChunkHeaderError::Bad)?;
    if offset.saturating_add(h.disk_len()) > len {
        return Err(ChunkHeaderError::Bad("chunk is cut short".into()));
    }
    Ok(h)
}

/// Fills as much of `buf` as the file has from `offset`; returns the count.
fn read_at_most(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Why a file of the trace could not be opened.
enum OpenError {
    Missing,
    /// What it is instead of a regular file ("a FIFO", …).
    NotRegular(&'static str),
    Io(io::Error),
}

/// What a file of the trace is if it is not a regular file.
fn not_regular(t: fs::FileType) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    Some(if t.is_file() {
        return None;
    } else if t.is_symlink() {
        "a symbolic link"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    })
}

fn not_regular_what(kind: &str) -> String {
    format!("{kind}, not a regular file (a trace holds only regular files)")
}

/// Opens a file of the trace for reading, with its length. Only a regular
/// file: a FIFO blocks the open or the read forever, a device (`/dev/zero`)
/// never ends, and a symbolic link may name either or a file outside the
/// trace. The type is checked before opening (opening some devices does
/// something) and again on the open file; `O_NOFOLLOW | O_NONBLOCK` keep a
/// file swapped in between from being followed or blocking the open.
fn open_regular(path: &Path) -> Result<(File, u64), OpenError> {
    use std::os::unix::fs::OpenOptionsExt;
    let io_err = |e: io::Error| match e.kind() {
        io::ErrorKind::NotFound => OpenError::Missing,
        _ if e.raw_os_error() == Some(libc::ELOOP) => OpenError::NotRegular("a symbolic link"),
        _ => OpenError::Io(e),
    };
    let m = fs::symlink_metadata(path).map_err(io_err)?;
    if let Some(kind) = not_regular(m.file_type()) {
        return Err(OpenError::NotRegular(kind));
    }
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(io_err)?;
    let m = file.metadata().map_err(OpenError::Io)?;
    if let Some(kind) = not_regular(m.file_type()) {
        return Err(OpenError::NotRegular(kind));
    }
    Ok((file, m.len()))
}

enum ReadCapped {
    Missing,
    TooBig(u64),
    NotRegular(&'static str),
    Io(io::Error),
}

/// Reads a whole file if it is at most `cap` bytes, checking the size first
/// so a huge file is never loaded.
fn read_capped(path: &Path, cap: u64) -> Result<Vec<u8>, ReadCapped> {
    let (file, len) = open_regular(path).map_err(|e| match e {
        OpenError::Missing => ReadCapped::Missing,
        OpenError::NotRegular(kind) => ReadCapped::NotRegular(kind),
        OpenError::Io(e) => ReadCapped::Io(e),
    })?;
    if len > cap {
        return Err(ReadCapped::TooBig(len));
    }
    let mut out = Vec::with_capacity(len as usize);
    // take() guards against the file growing after the size check.
    file.take(cap + 1)
        .read_to_end(&mut out)
        .map_err(ReadCapped::Io)?;
    if out.len() as u64 > cap {
        return Err(ReadCapped::TooBig(out.len() as u64));
    }
    Ok(out)
}
