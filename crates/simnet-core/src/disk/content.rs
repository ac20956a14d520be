//! A file's bytes as fixed-size pages shared copy-on-write: a copy of a file (its
//! durable version beside its cached one, or an initial image shared by every seed)
//! costs one reference per page, and a write copies only the pages it touches. A
//! write that covers whole pages keeps its own buffer as those pages, copying
//! nothing. A page never written is a hole and reads as zeros.

use std::sync::Arc;

use bytes::Bytes;

/// The page size: the unit of sharing, and the sector size torn writes respect
/// (a multiple of 512).
pub const PAGE: usize = 4096;

/// The unit a write can be torn at: a disk writes whole sectors or none.
pub const SECTOR: u64 = 512;

/// One page: bytes of the content's own, or a page-long part of a buffer a write
/// brought (shared with it, never changed).
#[derive(Clone, Debug, PartialEq, Eq)]
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

/// A file's content: its length and its pages (`None`: a hole). The page list is
/// itself shared until written, so a copy of a file costs one reference.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Content {
    len: u64,
    pages: Arc<Vec<Option<Page>>>,
}

impl Content {
    pub fn from_bytes(bytes: &[u8]) -> Content {
        let mut c = Content::default();
        c.write(0, &Bytes::copy_from_slice(bytes));
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
        self.pages.iter().flatten().count() as u64 * PAGE as u64
    }

    /// Bytes of storage a write of `len` bytes at `offset` would add: the pages it
    /// touches that are holes or beyond the end now.
    pub fn growth(&self, offset: u64, len: u64) -> u64 {
        if len == 0 {
            return 0;
        }
        let first = (offset / PAGE as u64) as usize;
        let last = ((offset + len - 1) / PAGE as u64) as usize;
        let new_pages = (first..=last)
            .filter(|&i| self.pages.get(i).is_none_or(Option::is_none))
            .count();
        new_pages as u64 * PAGE as u64
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
            match self.pages.get(index).and_then(Option::as_ref) {
                Some(page) => out.extend_from_slice(&page.bytes()[within..within + take]),
                None => out.resize(out.len() + take, 0),
            }
            at += take as u64;
        }
        out
    }

    /// Write `data` at `offset`, growing the file as needed (a gap reads as zeros).
    /// Whole pages the write covers become parts of `data` itself.
    pub fn write(&mut self, offset: u64, data: &Bytes) {
        let end = offset + data.len() as u64;
        if end > self.len {
            self.len = end;
        }
        self.ensure_pages();
        let pages = Arc::make_mut(&mut self.pages);
        let mut at = offset;
        let mut from = 0;
        while from < data.len() {
            let (index, within) = split(at);
            let take = (PAGE - within).min(data.len() - from);
            let slot = &mut pages[index];
            if take == PAGE {
                *slot = Some(Page::Borrowed(data.slice(from..from + PAGE)));
            } else {
                let page = slot.get_or_insert_with(|| Page::Owned(Arc::new([0; PAGE])));
                page.make_mut()[within..within + take].copy_from_slice(&data[from..from + take]);
            }
            at += take as u64;
            from += take;
        }
    }

    /// Cut or extend the file to `len` bytes (an extension reads as zeros).
    pub fn set_len(&mut self, len: u64) {
        if len < self.len {
            let (index, within) = split(len);
            let pages = Arc::make_mut(&mut self.pages);
            pages.truncate(index + usize::from(within > 0));
            // The kept part of the last page must read as zeros past the end if
            // the file grows again.
            if within > 0
                && let Some(Some(page)) = pages.get_mut(index)
            {
                page.make_mut()[within..].fill(0);
            }
        }
        self.len = len;
        self.ensure_pages();
    }

    fn ensure_pages(&mut self) {
        let needed = self.len.div_ceil(PAGE as u64) as usize;
        if self.pages.len() < needed {
            Arc::make_mut(&mut self.pages).resize(needed, None);
        }
    }
}

fn split(at: u64) -> (usize, usize) {
    ((at / PAGE as u64) as usize, (at % PAGE as u64) as usize)
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
        assert_eq!(original.pages[0], copy.pages[0]);
        // A write of whole pages keeps its buffer; a later small write copies the
        // page it changes, never the buffer's other pages.
        let buffer = Bytes::from(vec![1u8; 2 * PAGE]);
        let mut c = Content::default();
        c.write(0, &buffer);
        assert!(matches!(&c.pages[0], Some(Page::Borrowed(b)) if b.as_ptr() == buffer.as_ptr()));
        c.write(1, &Bytes::from_static(b"x"));
        assert_eq!(c.read(0, 3), [1, b'x', 1]);
        assert_eq!(buffer[1], 1);
        assert!(matches!(&c.pages[1], Some(Page::Borrowed(_))));
    }
}
