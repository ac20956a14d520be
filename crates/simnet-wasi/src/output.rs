//! Everything a guest writes to stdout and stderr, kept in order with the virtual
//! time of each write, each stream bounded in size: what reports, timelines,
//! triggers and tests read.

use std::sync::{Arc, Mutex};

use simnet_core::SimTime;

/// Which standard stream a piece of output came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

impl LogInner {
    fn append(&mut self, at: SimTime, seq: u64, stream: Stream, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if let Some(sink) = &self.sink {
            sink(stream, bytes);
        }
        match self.chunks.last_mut() {
            Some(last) if last.at == at && last.seq == seq && last.stream == stream => {
                last.bytes.extend_from_slice(bytes)
            }
            _ => self.chunks.push(Chunk {
                at,
                seq,
                stream,
                bytes: bytes.to_vec(),
            }),
        }
    }
}

/// One write of a guest to stdout or stderr.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Chunk {
    at: SimTime,
    /// How many trace records the network had when it was written.
    seq: u64,
    stream: Stream,
    bytes: Vec<u8>,
}

/// How far a reader of an [`OutputLog`] got.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct OutputCursor {
    chunk: usize,
    offset: usize,
}

/// One line of output, stamped with the virtual time its first byte was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputLine {
    pub at: SimTime,
    /// How many trace records the network had when its first byte was written: it
    /// comes after those records and before the next, which orders it among network
    /// events of the same instant (cause before effect).
    pub seq: u64,
    pub stream: Stream,
    pub text: String,
}

#[derive(Default)]
struct LogInner {
    chunks: Vec<Chunk>,
    /// Bytes kept, per stream (stdout, stderr).
    bytes: [usize; 2],
    truncated: [bool; 2],
    sink: Option<Sink>,
    /// Texts asked for with [`OutputLog::contains`], each searched for only in what
    /// was written since it was last asked for.
    searches: Vec<Search>,
}

/// A text looked for in the output, and how far the search has read.
struct Search {
    needle: Vec<u8>,
    found: bool,
    cursor: OutputCursor,
    /// Per stream, the last bytes read (one fewer than the needle): a match may
    /// start in them and end in what comes next.
    tail: [Vec<u8>; 2],
}

/// Receives each piece of output as the guest writes it (what is kept, and the
/// notice when a stream reaches its limit).
pub type Sink = Arc<dyn Fn(Stream, &[u8]) + Send + Sync>;

/// Everything a guest wrote to stdout and stderr, in order, each stream bounded in
/// size. Output beyond a stream's limit is dropped, and a notice takes its place.
#[derive(Clone)]
pub struct OutputLog {
    inner: Arc<Mutex<LogInner>>,
    limit: usize,
}

impl OutputLog {
    pub(crate) fn new(limit: usize) -> Self {
        OutputLog {
            inner: Arc::default(),
            limit,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LogInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Pass every piece of output to `sink` as it is written, from now on.
    pub fn set_sink(&self, sink: Sink) {
        self.lock().sink = Some(sink);
    }

    pub(crate) fn push(&self, at: SimTime, seq: u64, stream: Stream, bytes: &[u8]) {
        let mut inner = self.lock();
        let i = stream as usize;
        if inner.truncated[i] {
            return;
        }
        let room = self.limit.saturating_sub(inner.bytes[i]);
        let kept = &bytes[..bytes.len().min(room)];
        inner.bytes[i] += kept.len();
        inner.append(at, seq, stream, kept);
        if bytes.len() > room {
            inner.truncated[i] = true;
            let notice = format!(
                "\n[simnet: {} exceeded its limit of {} bytes; the rest was dropped]\n",
                stream.name(),
                self.limit
            );
            inner.append(at, seq, stream, notice.as_bytes());
        }
    }
    /// Hand `f` the output written since `cursor`, piece by piece in order, and move
    /// `cursor` past it.
    pub(crate) fn read_from(&self, cursor: &mut OutputCursor, mut f: impl FnMut(Stream, &[u8])) {
        let inner = self.lock();
        while let Some(chunk) = inner.chunks.get(cursor.chunk) {
            if let Some(new) = chunk.bytes.get(cursor.offset..)
                && !new.is_empty()
            {
                f(chunk.stream, new);
            }
            // The last piece may still grow (a write at the same instant extends it).
            if cursor.chunk + 1 == inner.chunks.len() {
                cursor.offset = chunk.bytes.len();
                break;
            }
            cursor.chunk += 1;
            cursor.offset = 0;
        }
    }

    /// Whether `text` was written so far, within stdout or within stderr. Each call
    /// reads only what was written since the last call asking for the same text, so
    /// waiting on a chatty guest's output costs its new output, not all of it.
    pub fn contains(&self, text: &str) -> bool {
        let needle = text.as_bytes();
        if needle.is_empty() {
            return true;
        }
        let mut inner = self.lock();
        let i = match inner.searches.iter().position(|s| s.needle == needle) {
            Some(i) => i,
            None => {
                inner.searches.push(Search {
                    needle: needle.to_vec(),
                    found: false,
                    cursor: OutputCursor::default(),
                    tail: [Vec::new(), Vec::new()],
                });
                inner.searches.len() - 1
            }
        };
        let LogInner {
            chunks, searches, ..
        } = &mut *inner;
        let search = &mut searches[i];
        if !search.found {
            search.advance(chunks);
        }
        search.found
    }

    /// All bytes written to `stream`.
    pub fn bytes(&self, stream: Stream) -> Vec<u8> {
        self.lock()
            .chunks
            .iter()
            .filter(|c| c.stream == stream)
            .flat_map(|c| c.bytes.iter().copied())
            .collect()
    }

    /// Stdout as (lossy) UTF-8 text.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.bytes(Stream::Stdout)).into_owned()
    }

    /// Stderr as (lossy) UTF-8 text.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.bytes(Stream::Stderr)).into_owned()
    }

    /// Whether output beyond the size limit was dropped, on either stream.
    pub fn truncated(&self) -> bool {
        self.lock().truncated.contains(&true)
    }

    /// Whether output beyond the size limit was dropped on `stream`.
    pub fn truncated_stream(&self, stream: Stream) -> bool {
        self.lock().truncated[stream as usize]
    }

    /// The limit each stream is kept to, in bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// The output of both streams split into lines, in the order they were started.
    /// A last line without a newline is included.
    pub fn lines(&self) -> Vec<OutputLine> {
        let inner = self.lock();
        let mut done = Vec::new();
        let mut open: [Option<(SimTime, u64, Vec<u8>)>; 2] = [None, None];
        for c in &inner.chunks {
            let slot = &mut open[c.stream as usize];
            for &b in &c.bytes {
                let (_, _, line) = slot.get_or_insert_with(|| (c.at, c.seq, Vec::new()));
                if b == b'\n' {
                    let (at, seq, line) = slot.take().unwrap_or((c.at, c.seq, Vec::new()));
                    done.push(OutputLine {
                        at,
                        seq,
                        stream: c.stream,
                        text: String::from_utf8_lossy(&line).into_owned(),
                    });
                } else {
                    line.push(b);
                }
            }
        }
        for (i, slot) in open.into_iter().enumerate() {
            if let Some((at, seq, line)) = slot {
                let stream = if i == 0 {
                    Stream::Stdout
                } else {
                    Stream::Stderr
                };
                done.push(OutputLine {
                    at,
                    seq,
                    stream,
                    text: String::from_utf8_lossy(&line).into_owned(),
                });
            }
        }
        done.sort_by_key(|l| (l.at, l.seq));
        done
    }
}

impl Search {
    /// Read the output written since the last look, stream by stream.
    fn advance(&mut self, chunks: &[Chunk]) {
        let keep = self.needle.len() - 1;
        while let Some(chunk) = chunks.get(self.cursor.chunk) {
            let new = chunk.bytes.get(self.cursor.offset..).unwrap_or_default();
            let tail = &mut self.tail[chunk.stream as usize];
            tail.extend_from_slice(new);
            if tail.windows(self.needle.len()).any(|w| w == self.needle) {
                self.found = true;
                return;
            }
            let cut = tail.len().saturating_sub(keep);
            tail.drain(..cut);
            // The last piece may still grow (a write at the same instant extends it).
            if self.cursor.chunk + 1 == chunks.len() {
                self.cursor.offset = chunk.bytes.len();
                return;
            }
            self.cursor.chunk += 1;
            self.cursor.offset = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contains_finds_text_across_writes_and_only_within_one_stream() {
        let log = OutputLog::new(1 << 20);
        let at = SimTime::ZERO;
        log.push(at, 0, Stream::Stdout, b"listen");
        assert!(!log.contains("listening on"));
        // Stderr between the halves does not break the stdout match...
        log.push(at, 1, Stream::Stderr, b"ing on");
        assert!(!log.contains("listening on"), "not across streams");
        log.push(at, 2, Stream::Stdout, b"ing on port 7");
        assert!(log.contains("listening on"));
        assert!(log.contains("listening on"), "found stays found");
        assert!(log.contains("ing on"), "stderr's own text");
        assert!(!log.contains("port 8"));
        log.push(SimTime::from_nanos(5), 3, Stream::Stdout, b"8\n");
        assert!(!log.contains("port 8"), "7 then 8 is `port 78`");
        assert!(log.contains("port 78"));
        assert!(log.contains(""));
    }
}
