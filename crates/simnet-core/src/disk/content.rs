//! A file's bytes as fixed-size pages shared copy-on-write: a copy of a file (its
//! durable version beside its cached one, or an initial image shared by every seed)
//! costs one reference per page, and a write copies only the pages it touches. A
//! write that covers whole pages keeps its own buffer as those pages, copying
//! nothing. A page never written is a hole and reads as zeros.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;

/// The page size: the unit of sharing, and the sector size torn writes respect
/// (a multiple of 512).
pub const PAGE: usize = 4096;

/// The unit a write can be torn at: a disk writes whole sectors or none.
pub const SECTOR: u64 = 512;

/// One page: bytes of the content's own, or a page-long part of a buffer a write
/// brought (shared with it, never changed).
#[derive(Clone, Debug)]
enum Page {
    Owned(Arc<[u8; PAGE]>),
    Borrowed(Bytes),
}

impl Page {
    fn bytes(&self) -> &[u8] {
        match self {
            Page::Owned(p) => &p[..],
            Page::Borrowed(b) => b,
        }
    }

    /// The page's bytes to change in place (copied first unless owned alone).
    fn make_mut(&mut self) -> &mut [u8; PAGE] {
        if let Page::Borrowed(b) = self {
            let mut owned = [0u8; PAGE];
            owned.copy_from_slice(b);
            *self = Page::Owned(Arc::new(owned));
        }
        match self {
            Page::Owned(p) => Arc::make_mut(p),
            Page::Borrowed(_) => unreachable!("made owned above"),
        }
    }
}

/// Pages per chunk: the unit in which the page map is stored and shared.
const CHUNK_PAGES: u64 = 64;

/// Up to [`CHUNK_PAGES`] consecutive pages (`None`: a hole), as many as its last
/// page needs: a small file's chunk is small.
type Chunk = Vec<Option<Page>>;

/// The largest size a file can have: ext4's limit with 4 KiB blocks
/// (`s_maxbytes`, 2^32 - 1 blocks). Beyond it writes and `set-size` fail with
/// `file-too-large`, as on Linux.
pub const MAX_FILE_SIZE: u64 = (1 << 44) - PAGE as u64;

/// A file's content: its length and its pages, stored sparsely by chunk (a chunk
/// without pages is absent), so a file's cost follows the bytes written to it, not
/// its length. The chunk map and each chunk are shared until written, so a copy of a
/// file costs one reference, and the first write after a copy copies one reference
/// per chunk and the chunk it changes.
#[derive(Clone, Debug, Default)]
pub struct Content {
    len: u64,
    chunks: Arc<BTreeMap<u64, Arc<Chunk>>>,
    /// Pages stored (not holes).
    pages: u64,
}

impl PartialEq for Content {
    /// Equal when they read the same: same length, same bytes (a hole and a page of
    /// zeros are alike). Costs the pages stored, not the length.
    fn eq(&self, other: &Content) -> bool {
        self.len == other.len
            && self
                .chunks
                .keys()
                .chain(other.chunks.keys())
                .flat_map(|&chunk| chunk * CHUNK_PAGES..(chunk + 1) * CHUNK_PAGES)
                .all(|i| page_bytes(self.page(i)) == page_bytes(other.page(i)))
    }
}

/// A page's bytes, zeros for a hole.
fn page_bytes(page: Option<&Page>) -> &[u8] {
    const ZEROS: [u8; PAGE] = [0; PAGE];
    page.map_or(&ZEROS[..], Page::bytes)
}

impl Eq for Content {}

impl Content {
    pub fn from_bytes(bytes: &[u8]) -> Content {
        Content::from_shared(Bytes::copy_from_slice(bytes))
    }

    /// Content that keeps `bytes` itself as its whole pages (no copy).
    pub fn from_shared(bytes: Bytes) -> Content {
        let mut c = Content::default();
        c.write(0, &bytes);
        c
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes of storage the content occupies: its pages that are not holes.
    pub fn allocated(&self) -> u64 {
        self.pages * PAGE as u64
    }

    /// Bytes of storage a write of `len` bytes at `offset` would add: the pages it
    /// touches that are holes or beyond the end now.
    pub fn growth(&self, offset: u64, len: u64) -> u64 {
        if len == 0 {
            return 0;
        }
        let first = offset / PAGE as u64;
        let last = (offset + len - 1) / PAGE as u64;
        let new_pages = (first..=last).filter(|&i| self.page(i).is_none()).count();
        new_pages as u64 * PAGE as u64
    }

    fn page(&self, index: u64) -> Option<&Page> {
        let chunk = self.chunks.get(&(index / CHUNK_PAGES))?;
        chunk.get((index % CHUNK_PAGES) as usize)?.as_ref()
    }

    /// The slot of page `index`, its chunk made (and unshared) as needed.
    fn slot_mut(&mut self, index: u64) -> &mut Option<Page> {
        let chunks = Arc::make_mut(&mut self.chunks);
        let chunk = Arc::make_mut(chunks.entry(index / CHUNK_PAGES).or_default());
        let at = (index % CHUNK_PAGES) as usize;
        if chunk.len() <= at {
            chunk.resize(at + 1, None);
        }
        &mut chunk[at]
    }

    /// Up to `len` bytes from `offset` (fewer at the end of the file).
    pub fn read(&self, offset: u64, len: u64) -> Vec<u8> {
        if offset >= self.len {
            return Vec::new();
        }
        let end = self.len.min(offset.saturating_add(len));
        let mut out = Vec::with_capacity((end - offset) as usize);
        let mut at = offset;
        while at < end {
            let (index, within) = split(at);
            let take = (PAGE - within).min((end - at) as usize);
            match self.page(index) {
                Some(page) => out.extend_from_slice(&page.bytes()[within..within + take]),
                None => out.resize(out.len() + take, 0),
            }
            at += take as u64;
        }
        out
    }

    /// Write `data` at `offset`, growing the file as needed (a gap reads as zeros).
    /// Whole pages the write covers become parts of `data` itself. The caller keeps
    /// the end within [`MAX_FILE_SIZE`].
    pub fn write(&mut self, offset: u64, data: &Bytes) {
        let end = offset + data.len() as u64;
        if end > self.len {
            self.len = end;
        }
        let mut at = offset;
        let mut from = 0;
        while from < data.len() {
            let (index, within) = split(at);
            let take = (PAGE - within).min(data.len() - from);
            let slot = self.slot_mut(index);
            let added = slot.is_none();
            if take == PAGE {
                *slot = Some(Page::Borrowed(data.slice(from..from + PAGE)));
            } else {
                let page = slot.get_or_insert_with(|| Page::Owned(Arc::new([0; PAGE])));
                page.make_mut()[within..within + take].copy_from_slice(&data[from..from + take]);
            }
            self.pages += u64::from(added);
            at += take as u64;
            from += take;
        }
    }

    /// Cut or extend the file to `len` bytes (an extension reads as zeros).
    pub fn set_len(&mut self, len: u64) {
        if len < self.len {
            self.drop_pages_from(len.div_ceil(PAGE as u64));
            // The kept part of the last page must read as zeros past the end if
            // the file grows again.
            let (index, within) = split(len);
            if within > 0
                && self.page(index).is_some()
                && let Some(page) = self.slot_mut(index)
            {
                page.make_mut()[within..].fill(0);
            }
        }
        self.len = len;
    }

    /// Drop the pages from index `first` on.
    fn drop_pages_from(&mut self, first: u64) {
        let chunks = Arc::make_mut(&mut self.chunks);
        let whole = first.div_ceil(CHUNK_PAGES);
        for (_, chunk) in chunks.split_off(&whole) {
            self.pages -= chunk.iter().flatten().count() as u64;
        }
        if !first.is_multiple_of(CHUNK_PAGES)
            && let Some(chunk) = chunks.get_mut(&(first / CHUNK_PAGES))
        {
            let chunk = Arc::make_mut(chunk);
            let cut = ((first % CHUNK_PAGES) as usize).min(chunk.len());
            self.pages -= chunk.drain(cut..).flatten().count() as u64;
            if chunk.iter().all(Option::is_none) {
                chunks.remove(&(first / CHUNK_PAGES));
            }
        }
    }
}

fn split(at: u64) -> (u64, usize) {
    (at / PAGE as u64, (at % PAGE as u64) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_reads_holes_and_truncation() {
        let mut c = Content::default();
        c.write(10_000, &Bytes::from_static(b"xyz"));
        assert_eq!(c.len(), 10_003);
        assert_eq!(c.read(0, 4), vec![0; 4]);
        assert_eq!(c.read(9_999, 10), b"\0xyz");
        // Only the page written is stored.
        assert_eq!(c.allocated(), PAGE as u64);
        c.set_len(10_001);
        c.set_len(10_003);
        assert_eq!(c.read(10_000, 3), b"x\0\0");
        c.set_len(0);
        assert!(c.is_empty() && c.allocated() == 0);
    }

    #[test]
    fn copies_share_pages_until_written() {
        let original = Content::from_bytes(&vec![7; 3 * PAGE]);
        let mut copy = original.clone();
        copy.write(PAGE as u64, &Bytes::from_static(b"changed"));
        assert_eq!(original.read(PAGE as u64, 7), vec![7; 7]);
        assert_eq!(copy.read(PAGE as u64, 7), b"changed");
        assert!(same_page(original.page(0), copy.page(0)));
        // A write of whole pages keeps its buffer; a later small write copies the
        // page it changes, never the buffer's other pages.
        let buffer = Bytes::from(vec![1u8; 2 * PAGE]);
        let mut c = Content::default();
        c.write(0, &buffer);
        assert!(matches!(c.page(0), Some(Page::Borrowed(b)) if b.as_ptr() == buffer.as_ptr()));
        c.write(1, &Bytes::from_static(b"x"));
        assert_eq!(c.read(0, 3), [1, b'x', 1]);
        assert_eq!(buffer[1], 1);
        assert!(matches!(c.page(1), Some(Page::Borrowed(_))));
    }

    /// Whether two pages are the very same storage.
    fn same_page(a: Option<&Page>, b: Option<&Page>) -> bool {
        match (a, b) {
            (Some(Page::Owned(a)), Some(Page::Owned(b))) => Arc::ptr_eq(a, b),
            (Some(Page::Borrowed(a)), Some(Page::Borrowed(b))) => a.as_ptr() == b.as_ptr(),
            _ => false,
        }
    }

    #[test]
    fn a_sparse_file_costs_what_was_written() {
        let mut c = Content::default();
        c.write(1 << 40, &Bytes::from_static(b"far"));
        assert_eq!(c.len(), (1 << 40) + 3);
        assert_eq!(c.allocated(), PAGE as u64);
        assert_eq!(c.read((1 << 40) - 2, 5), b"\0\0far");
        c.set_len(MAX_FILE_SIZE);
        assert_eq!(c.allocated(), PAGE as u64);
        c.set_len(1 << 30);
        assert_eq!(c.allocated(), 0);
        // Truncation inside a chunk keeps the pages before the cut.
        let mut d = Content::from_bytes(&vec![9; 100 * PAGE]);
        d.set_len(70 * PAGE as u64 + 1);
        assert_eq!(d.allocated(), 71 * PAGE as u64);
        assert_eq!(d.read(70 * PAGE as u64, 2), [9]);
        d.set_len(70 * PAGE as u64 + 2);
        assert_eq!(d.read(70 * PAGE as u64, 2), [9, 0]);
        // Equality reads the bytes: a hole equals a page of zeros.
        let mut holes = Content::default();
        holes.set_len(2 * PAGE as u64);
        assert_eq!(holes, Content::from_bytes(&[0; 2 * PAGE]));
        assert_ne!(holes, Content::from_bytes(&[0; 2 * PAGE + 1]));
        assert_ne!(c, Content::default());
    }
}
