//! `TraceWriter`: appends events from the recorder's thread, compresses and
//! writes them on a background thread.
//!
//! The calling side only encodes each event (a few hundred nanoseconds) and
//! collects the bytes into a batch, which goes to a bounded channel once it
//! is big or old enough (a send per event cost a thread wake-up per event).
//! The caller sends an old batch itself when idle (`batch_deadline`,
//! `flush_batch`). The background thread owns the open chunk, so it can
//! close it on a timer even when the recorder sends nothing: that is what
//! bounds data loss on SIGKILL to about `batch_max_age + chunk_max_age`.

use crate::chunk::{build_chunk, encode_event, events_preamble, CHUNK_HEADER_LEN};
use crate::codec::MAX_CHUNK_UNCOMPRESSED;
use crate::error::TraceError;
use crate::event::EventKind;
use crate::files::FileStore;
use crate::header::{encode_header_file, Header, StoredFile};
use crate::ids::{EventTime, RecTid};
use crate::index::{Index, IndexEntry};
use crate::layout::{EVENTS_FILE, HEADER_FILE, INDEX_FILE};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Tuning knobs of a [`TraceWriter`]. The defaults suit recording; tests use
/// small values to get many chunks quickly.
#[derive(Debug, Clone)]
pub struct WriterOptions {
    /// Close a chunk once its uncompressed payload reaches this many bytes
    /// (clamped to 1..=[`crate::MAX_CHUNK_UNCOMPRESSED`]). Default 1 MiB.
    pub chunk_bytes: usize,
    /// Close a chunk this long after its first event arrived, even if no
    /// more events come. Default 1 s.
    pub chunk_max_age: Duration,
    /// zstd level. Default 3 (fast; events compress well anyway).
    pub compression_level: i32,
    /// Batches that may wait for the background thread before `append`
    /// blocks (back-pressure instead of unbounded memory). Default 256.
    pub queue_len: usize,
    /// Send a batch once it holds this many encoded bytes (0: send every
    /// event at once). Default 64 KiB.
    pub batch_bytes: usize,
    /// Send a batch at the latest this long after its first event (checked
    /// on `append`; an idle caller uses `batch_deadline`). Default 50 ms.
    pub batch_max_age: Duration,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            chunk_bytes: 1 << 20,
            chunk_max_age: Duration::from_secs(1),
            compression_level: 3,
            queue_len: 256,
            batch_bytes: 64 << 10,
            batch_max_age: Duration::from_millis(50),
        }
    }
}

/// What `finish` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TraceSummary {
    /// Events written.
    pub events: u64,
    /// Chunks written.
    pub chunks: u32,
    /// Sum of the chunks' uncompressed payload sizes.
    pub bytes_uncompressed: u64,
    /// Sum of the chunks' compressed payload sizes (chunk headers excluded).
    pub bytes_compressed: u64,
}

/// What the background thread hands back when it is done.
struct Finished {
    index: Index,
    summary: TraceSummary,
}

/// Writes one trace directory. See the crate docs for the life cycle.
///
/// Dropping a writer without [`TraceWriter::finish`] writes out buffered
/// events but no `index`, so readers report the trace as truncated.
pub struct TraceWriter {
    dir: PathBuf,
    files: FileStore,
    next_time: u64,
    tx: Option<SyncSender<Vec<Vec<u8>>>>,
    thread: Option<JoinHandle<Result<Finished, TraceError>>>,
    /// Set once a background failure was reported, so later calls fail fast.
    failed: Option<String>,
    /// Encoded events not yet handed to the background thread.
    batch: Vec<Vec<u8>>,
    batch_len: usize,
    batch_since: Option<Instant>,
    batch_bytes: usize,
    batch_max_age: Duration,
}

impl std::fmt::Debug for TraceWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceWriter")
            .field("dir", &self.dir)
            .field("next_time", &self.next_time)
            .finish()
    }
}

impl TraceWriter {
    /// Creates a trace in `dir` with a header known in advance and default
    /// options. `dir` must not exist or be empty.
    pub fn create(dir: &Path, header: &Header) -> Result<TraceWriter, TraceError> {
        Self::create_with(dir, WriterOptions::default(), |_| {
            Ok::<_, TraceError>(header.clone())
        })
    }

    /// Creates a trace in `dir` (which must not exist or be empty), calls
    /// `make_header` with the trace's [`FileStore`] so the executable can be
    /// copied in and its [`StoredFile`] put into the header, then writes the
    /// header and starts the background writer.
    ///
    /// If `make_header` or writing fails and this call created `dir`, the
    /// directory is removed again.
    pub fn create_with<E: From<TraceError>>(
        dir: &Path,
        options: WriterOptions,
        make_header: impl FnOnce(&mut FileStore) -> Result<Header, E>,
    ) -> Result<TraceWriter, E> {
        let mut prepared = Self::prepare(dir)?;
        match make_header(&mut prepared.files) {
            Ok(header) => prepared.start(&header, options).map_err(E::from),
            Err(e) => {
                prepared.abandon();
                Err(e)
            }
        }
    }

    /// The first half of [`TraceWriter::create_with`]: creates `dir` (which
    /// must not exist or be empty) with its [`FileStore`], so files can be
    /// stored while the header is not known yet (the recorder copies the
    /// executable while the program starts).
    pub fn prepare(dir: &Path) -> Result<PreparedTrace, TraceError> {
        let created = prepare_dir(dir)?;
        Ok(PreparedTrace {
            files: FileStore::new(dir),
            dir: dir.to_path_buf(),
            created,
        })
    }

    fn start(
        dir: &Path,
        files: FileStore,
        header: &Header,
        options: WriterOptions,
    ) -> Result<TraceWriter, TraceError> {
        // Not synced (nor is anything later, see `finish`): a killed
        // recorder is the contract, and the page cache keeps what was
        // written.
        let bytes = encode_header_file(header)?;
        write_renamed(&dir.join(HEADER_FILE), &bytes)?;

        let events_path = dir.join(EVENTS_FILE);
        let events = crate::private::write_new(&events_path, &events_preamble())
            .map_err(|e| TraceError::io(&events_path, e))?;

        let options = WriterOptions {
            chunk_bytes: options.chunk_bytes.clamp(1, MAX_CHUNK_UNCOMPRESSED),
            queue_len: options.queue_len.max(1),
            ..options
        };
        let (tx, rx) = sync_channel(options.queue_len);
        let (batch_bytes, batch_max_age) = (options.batch_bytes, options.batch_max_age);
        let thread = std::thread::Builder::new()
            .name("rrgo-trace-writer".into())
            .spawn(move || ChunkSink::new(events, events_path, options).run(rx))
            .map_err(|e| TraceError::io(dir, e))?;
        Ok(TraceWriter::with_thread(
            dir,
            files,
            tx,
            thread,
            batch_bytes,
            batch_max_age,
        ))
    }

    fn with_thread(
        dir: &Path,
        files: FileStore,
        tx: SyncSender<Vec<Vec<u8>>>,
        thread: JoinHandle<Result<Finished, TraceError>>,
        batch_bytes: usize,
        batch_max_age: Duration,
    ) -> TraceWriter {
        TraceWriter {
            dir: dir.to_path_buf(),
            files,
            next_time: 0,
            tx: Some(tx),
            thread: Some(thread),
            failed: None,
            batch: Vec::new(),
            batch_len: 0,
            batch_since: None,
            batch_bytes,
            batch_max_age,
        }
    }

    /// The trace directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The time the next appended event will get (= events appended so far).
    pub fn next_time(&self) -> EventTime {
        EventTime(self.next_time)
    }

    /// Copies a file into the trace (deduplicated by content); see
    /// [`FileStore::store`]. Synchronous: it runs on the caller's thread.
    pub fn store_file(
        &mut self,
        src: &Path,
        build_id: Option<Vec<u8>>,
    ) -> Result<StoredFile, TraceError> {
        self.files.store(src, build_id)
    }

    /// [`FileStore::store_from`] through the writer.
    pub fn store_file_from(
        &mut self,
        src: &Path,
        from: &Path,
        build_id: Option<Vec<u8>>,
    ) -> Result<StoredFile, TraceError> {
        self.files.store_from(src, from, build_id)
    }

    /// Appends an event and returns its time. Encoding happens here;
    /// compression and I/O on the background thread. An error from the
    /// background thread is returned by the next `append` (or `finish`).
    pub fn append(&mut self, kind: EventKind, tid: RecTid) -> Result<EventTime, TraceError> {
        if let Some(msg) = &self.failed {
            return Err(TraceError::WriterFailed(msg.clone()));
        }
        let bytes = encode_event(tid, &kind)?;
        if bytes.len() > MAX_CHUNK_UNCOMPRESSED {
            return Err(TraceError::EventTooLarge {
                size: bytes.len(),
                max: MAX_CHUNK_UNCOMPRESSED,
            });
        }
        self.batch_len += bytes.len();
        self.batch.push(bytes);
        let now = Instant::now();
        let since = *self.batch_since.get_or_insert(now);
        if self.batch_len >= self.batch_bytes || now >= since + self.batch_max_age {
            self.flush_batch()?;
        }
        let time = EventTime(self.next_time);
        self.next_time += 1;
        Ok(time)
    }

    /// When the events held back in the current batch should be handed to
    /// the background thread (`None`: nothing is held back). A caller that
    /// is about to wait calls `flush_batch` once this has passed.
    pub fn batch_deadline(&self) -> Option<Instant> {
        self.batch_since.map(|t| t + self.batch_max_age)
    }

    /// Hands the events held back so far to the background thread.
    pub fn flush_batch(&mut self) -> Result<(), TraceError> {
        if let Some(msg) = &self.failed {
            return Err(TraceError::WriterFailed(msg.clone()));
        }
        self.batch_since = None;
        self.batch_len = 0;
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.batch);
        let sent = match &self.tx {
            Some(tx) => tx.send(batch).is_ok(),
            None => false,
        };
        if !sent {
            // The receiver only goes away when the thread has stopped.
            return Err(self.collect_failure());
        }
        Ok(())
    }

    /// Writes out all events, waits for the background thread, then writes
    /// `index`. Nothing is synced: a reader checks the index against the
    /// chunk headers it points to (a power loss that kept the index but not
    /// the events leaves a trace read as truncated, never a wrong one), and
    /// the four syncs this took cost 2–3 ms of a 40 ms recording here —
    /// seconds on a disk under load.
    pub fn finish(mut self) -> Result<TraceSummary, TraceError> {
        self.flush_batch()?;
        self.tx = None;
        let finished = match self.thread.take().map(|t| t.join()) {
            Some(Ok(Ok(f))) => f,
            Some(Ok(Err(e))) => return Err(e),
            Some(Err(_)) => return Err(TraceError::WriterFailed("writer thread panicked".into())),
            None => return Err(TraceError::WriterFailed("writer already stopped".into())),
        };
        write_renamed(&self.dir.join(INDEX_FILE), &finished.index.encode())?;
        Ok(finished.summary)
    }

    /// Joins the stopped background thread and turns its outcome into the
    /// error to report now; later calls get `WriterFailed`.
    fn collect_failure(&mut self) -> TraceError {
        self.tx = None;
        let err = match self.thread.take().map(|t| t.join()) {
            Some(Ok(Err(e))) => e,
            Some(Ok(Ok(_))) => {
                TraceError::WriterFailed("writer thread stopped unexpectedly".into())
            }
            Some(Err(_)) => TraceError::WriterFailed("writer thread panicked".into()),
            None => TraceError::WriterFailed("writer already stopped".into()),
        };
        self.failed = Some(err.to_string());
        err
    }
}

impl Drop for TraceWriter {
    fn drop(&mut self) {
        // Closing the channel makes the thread write what it holds and stop;
        // its result (and any panic) is deliberately ignored here.
        let _ = self.flush_batch();
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Creates `dir` or checks that it is empty; either way it ends up 0700
/// (the trace is private, see `private`). Returns whether it was created.
fn prepare_dir(dir: &Path) -> Result<bool, TraceError> {
    match fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(TraceError::AlreadyExists {
                    path: dir.to_path_buf(),
                });
            }
            crate::private::restrict_dir(dir).map_err(|e| TraceError::io(dir, e))?;
            Ok(false)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                fs::create_dir_all(parent).map_err(|e| TraceError::io(parent, e))?;
            }
            crate::private::create_dir(dir).map_err(|e| TraceError::io(dir, e))?;
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => Err(TraceError::AlreadyExists {
            path: dir.to_path_buf(),
        }),
        Err(e) => Err(TraceError::io(dir, e)),
    }
}

/// A trace directory made by [`TraceWriter::prepare`], with no header yet.
#[derive(Debug)]
pub struct PreparedTrace {
    dir: PathBuf,
    created: bool,
    /// Where the executable and libraries are copied in.
    pub files: FileStore,
}

impl PreparedTrace {
    /// Writes `header` and starts the writer; on an error, as `abandon`.
    pub fn start(self, header: &Header, options: WriterOptions) -> Result<TraceWriter, TraceError> {
        let (dir, created) = (self.dir.clone(), self.created);
        TraceWriter::start(&dir, self.files, header, options).inspect_err(|_| {
            if created {
                let _ = fs::remove_dir_all(&dir);
            }
        })
    }

    /// Gives up: removes the directory if `prepare` created it.
    pub fn abandon(self) {
        if self.created {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// Writes `bytes` to `path` through a temporary file renamed into place, so
/// `path` is either absent or complete. Mode 0600.
fn write_renamed(path: &Path, bytes: &[u8]) -> Result<(), TraceError> {
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    let mut f = crate::private::open_file(
        OpenOptions::new().write(true).create(true).truncate(true),
        &tmp,
    )
    .map_err(|e| TraceError::io(&tmp, e))?;
    f.write_all(bytes).map_err(|e| TraceError::io(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| TraceError::io(path, e))
}

/// The background thread's state: the open chunk and the file.
struct ChunkSink {
    file: File,
    path: PathBuf,
    options: WriterOptions,
    buf: Vec<u8>,
    count: u32,
    opened_at: Option<Instant>,
    next_first: u64,
    offset: u64,
    entries: Vec<IndexEntry>,
    summary: TraceSummary,
}

impl ChunkSink {
    fn new(file: File, path: PathBuf, options: WriterOptions) -> ChunkSink {
        ChunkSink {
            file,
            path,
            buf: Vec::with_capacity(options.chunk_bytes.min(4 << 20)),
            options,
            count: 0,
            opened_at: None,
            next_first: 0,
            offset: crate::chunk::EVENTS_PREAMBLE_LEN,
            entries: Vec::new(),
            summary: TraceSummary::default(),
        }
    }

    fn run(mut self, rx: Receiver<Vec<Vec<u8>>>) -> Result<Finished, TraceError> {
        loop {
            let msg = match self.opened_at {
                None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                Some(t0) => {
                    let deadline = t0 + self.options.chunk_max_age;
                    match deadline.checked_duration_since(Instant::now()) {
                        Some(left) if !left.is_zero() => rx.recv_timeout(left),
                        _ => Err(RecvTimeoutError::Timeout),
                    }
                }
            };
            match msg {
                Ok(batch) => {
                    for ev in batch {
                        self.add(ev)?;
                    }
                }
                Err(RecvTimeoutError::Timeout) => self.close_chunk()?,
                Err(RecvTimeoutError::Disconnected) => {
                    self.close_chunk()?;
                    break;
                }
            }
        }
        let index = Index {
            entries: self.entries,
            total_events: self.summary.events,
            events_len: self.offset,
        };
        Ok(Finished {
            index,
            summary: self.summary,
        })
    }

    fn add(&mut self, ev: Vec<u8>) -> Result<(), TraceError> {
        if self.buf.len() + ev.len() > MAX_CHUNK_UNCOMPRESSED {
            self.close_chunk()?;
        }
        if self.count == 0 {
            self.opened_at = Some(Instant::now());
        }
        self.buf.extend_from_slice(&ev);
        self.count += 1;
        if self.buf.len() >= self.options.chunk_bytes || self.count == u32::MAX {
            self.close_chunk()?;
        }
        Ok(())
    }

    fn close_chunk(&mut self) -> Result<(), TraceError> {
        if self.count == 0 {
            return Ok(());
        }
        let io = |e| TraceError::io(&self.path, e);
        let (header, bytes) = build_chunk(
            self.next_first,
            self.count,
            &self.buf,
            self.options.compression_level,
        )
        .map_err(io)?;
        // One write per chunk: a crash leaves at worst a partial last chunk,
        // which readers detect and drop.
        self.file.write_all(&bytes).map_err(io)?;
        self.entries.push(IndexEntry {
            first_event: self.next_first,
            offset: self.offset,
            event_count: self.count,
        });
        self.offset += header.disk_len();
        debug_assert_eq!(
            bytes.len(),
            CHUNK_HEADER_LEN + header.compressed_len as usize
        );
        self.next_first += self.count as u64;
        self.summary.events += self.count as u64;
        self.summary.chunks += 1;
        self.summary.bytes_uncompressed += header.uncompressed_len as u64;
        self.summary.bytes_compressed += header.compressed_len as u64;
        self.buf.clear();
        // A single huge event must not keep its buffer alive for the rest
        // of the recording.
        if self.buf.capacity() > 2 * self.options.chunk_bytes.max(1 << 20) {
            self.buf = Vec::with_capacity(self.options.chunk_bytes.min(4 << 20));
        }
        self.count = 0;
        self.opened_at = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer whose events file is /dev/full: every chunk write fails
    /// with ENOSPC, as on a full disk.
    fn writer_on_dev_full(dir: &Path) -> TraceWriter {
        let file = OpenOptions::new().write(true).open("/dev/full").unwrap();
        let options = WriterOptions {
            chunk_bytes: 1,
            queue_len: 1,
            batch_bytes: 0,
            ..WriterOptions::default()
        };
        let (tx, rx) = sync_channel(options.queue_len);
        let sink = ChunkSink::new(file, PathBuf::from("/dev/full"), options);
        let thread = std::thread::spawn(move || sink.run(rx));
        TraceWriter::with_thread(dir, FileStore::new(dir), tx, thread, 0, Duration::ZERO)
    }

    #[test]
    fn background_write_errors_surface_on_append_then_stick() {
        let tmp = tempfile::tempdir().unwrap();
        let mut w = writer_on_dev_full(tmp.path());
        let kind = EventKind::TaskExit { status: 0 };
        let mut first_err = None;
        for _ in 0..1000 {
            match w.append(kind.clone(), RecTid(1)) {
                Ok(_) => std::thread::sleep(Duration::from_millis(1)),
                Err(e) => {
                    first_err = Some(e);
                    break;
                }
            }
        }
        let err = first_err.expect("write error never surfaced");
        assert!(
            matches!(&err, TraceError::Io { path, .. } if path == Path::new("/dev/full")),
            "{err}"
        );
        let again = w.append(kind, RecTid(1)).unwrap_err();
        assert!(
            matches!(&again, TraceError::WriterFailed(m) if m.contains("/dev/full")),
            "{again}"
        );
        assert!(matches!(w.finish(), Err(TraceError::WriterFailed(_))));
    }

    #[test]
    fn background_write_errors_surface_on_finish() {
        let tmp = tempfile::tempdir().unwrap();
        let mut w = writer_on_dev_full(tmp.path());
        w.append(EventKind::TaskExit { status: 0 }, RecTid(1))
            .unwrap();
        assert!(matches!(w.finish(), Err(TraceError::Io { .. })));
    }
}
