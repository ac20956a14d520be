//! The bytes of one direction of a connection, kept as the chunks they were written
//! in, so that a chunk handed over by the writer (a guest's `write`) reaches the
//! reader without being copied: a read returns a slice of it, and once the queue
//! drops its own reference the reader owns the only one. Copied writes (the native
//! API's) collect in a ring buffer after the chunks instead, which is reused as it
//! drains, as a kernel's socket buffer would be.

use std::collections::VecDeque;

use bytes::Bytes;

/// Chunks shorter than this are copied into the tail rather than kept: a chunk costs
/// a queue entry and an allocation, which tiny writes must not multiply.
const SMALL_CHUNK: usize = 4096;

#[derive(Debug, Default)]
pub(crate) struct ByteQueue {
    /// Frozen chunks, oldest first; none is empty.
    chunks: VecDeque<Bytes>,
    /// Bytes written by copy after the last chunk.
    tail: VecDeque<u8>,
    /// Bytes in `chunks` (the tail not counted).
    chunked: usize,
}

impl ByteQueue {
    pub(crate) fn len(&self) -> usize {
        self.chunked + self.tail.len()
    }

    /// Append a copy of `data`.
    pub(crate) fn push_copy(&mut self, data: &[u8]) {
        self.tail.extend(data);
    }

    /// Append `chunk`, without copying it unless it is small.
    pub(crate) fn push(&mut self, chunk: Bytes) {
        if chunk.len() < SMALL_CHUNK {
            return self.push_copy(&chunk);
        }
        self.freeze_tail();
        self.chunked += chunk.len();
        self.chunks.push_back(chunk);
    }

    /// Make the tail a chunk, so that a chunk can follow it.
    fn freeze_tail(&mut self) {
        if !self.tail.is_empty() {
            let tail = Bytes::from(Vec::from(std::mem::take(&mut self.tail)));
            self.chunked += tail.len();
            self.chunks.push_back(tail);
        }
    }

    /// The pieces of the queue from byte `offset` on, in order.
    fn pieces_from(&self, mut offset: usize) -> impl Iterator<Item = &[u8]> {
        let (a, b) = self.tail.as_slices();
        self.chunks
            .iter()
            .map(|c| &c[..])
            .chain([a, b])
            .filter_map(move |piece| {
                if offset >= piece.len() {
                    offset -= piece.len();
                    None
                } else {
                    let rest = &piece[offset..];
                    offset = 0;
                    Some(rest)
                }
            })
    }

    /// Copy bytes from `offset` on into `out`, as many as there are; returns how many.
    pub(crate) fn copy_out(&self, offset: usize, out: &mut [u8]) -> usize {
        if self.chunks.is_empty() {
            return copy_from_ring(&self.tail, offset, out);
        }
        let mut n = 0;
        for piece in self.pieces_from(offset) {
            if n == out.len() {
                break;
            }
            let take = piece.len().min(out.len() - n);
            out[n..n + take].copy_from_slice(&piece[..take]);
            n += take;
        }
        n
    }

    /// Up to `max` bytes from `offset` on. Within a chunk, a slice of it, no copy
    /// (fewer than `max` when the chunk ends first: chunks are at least
    /// `SMALL_CHUNK` long when written, so short reads come only from what is left
    /// of one); within the copied tail, a copy of up to `max`.
    pub(crate) fn read(&self, offset: usize, max: usize) -> Bytes {
        let mut skip = offset;
        for chunk in &self.chunks {
            if skip < chunk.len() {
                return chunk.slice(skip..chunk.len().min(skip + max));
            }
            skip -= chunk.len();
        }
        Bytes::from(self.copy_range(offset, max))
    }

    /// A copy of up to `max` bytes from `offset` on.
    pub(crate) fn copy_range(&self, offset: usize, max: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(max.min(self.len().saturating_sub(offset)));
        for piece in self.pieces_from(offset) {
            let take = piece.len().min(max - out.len());
            out.extend_from_slice(&piece[..take]);
            if out.len() == max {
                break;
            }
        }
        out
    }

    /// Forget the last `n` bytes.
    pub(crate) fn drop_back(&mut self, mut n: usize) {
        let from_tail = n.min(self.tail.len());
        self.tail.truncate(self.tail.len() - from_tail);
        n -= from_tail;
        while n > 0 {
            let Some(back) = self.chunks.back_mut() else {
                return;
            };
            if n >= back.len() {
                n -= back.len();
                self.chunked -= back.len();
                self.chunks.pop_back();
            } else {
                back.truncate(back.len() - n);
                self.chunked -= n;
                n = 0;
            }
        }
    }

    /// Forget the first `n` bytes.
    pub(crate) fn drop_front(&mut self, mut n: usize) {
        while n > 0 {
            let Some(front) = self.chunks.front_mut() else {
                self.tail.drain(..n.min(self.tail.len()));
                return;
            };
            if n >= front.len() {
                n -= front.len();
                self.chunked -= front.len();
                self.chunks.pop_front();
            } else {
                // Slicing keeps the chunk's allocation shared with any reader.
                *front = front.slice(n..);
                self.chunked -= n;
                n = 0;
            }
        }
    }
}

/// Copy from `ring`, starting at `offset`, into `out`; returns how many bytes.
fn copy_from_ring(ring: &VecDeque<u8>, offset: usize, out: &mut [u8]) -> usize {
    let n = ring.len().saturating_sub(offset).min(out.len());
    let (a, b) = ring.as_slices();
    let out = &mut out[..n];
    if offset >= a.len() {
        let s = offset - a.len();
        out.copy_from_slice(&b[s..s + n]);
    } else {
        let first = n.min(a.len() - offset);
        out[..first].copy_from_slice(&a[offset..offset + first]);
        out[first..].copy_from_slice(&b[..n - first]);
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_and_copies_read_back_in_order() {
        let big = |byte: u8| Bytes::from(vec![byte; SMALL_CHUNK]);
        let mut q = ByteQueue::default();
        q.push_copy(b"ab");
        q.push(big(b'c'));
        q.push_copy(b"gh");
        q.push(Bytes::from_static(b"i"));
        let n = SMALL_CHUNK + 5;
        assert_eq!(q.len(), n);
        let mut out = vec![0u8; n];
        assert_eq!(q.copy_out(0, &mut out), n);
        assert_eq!(&out[..3], b"abc");
        assert_eq!(&out[n - 4..], b"cghi");
        assert_eq!(q.copy_out(1, &mut out[..2]), 2);
        assert_eq!(&out[..2], b"bc");
        // From the tail: a copy of what was asked for, or what there is.
        assert_eq!(&q.read(1, 3)[..], b"b");
        assert_eq!(&q.read(n - 3, 10)[..], b"ghi");
        // Inside the big chunk: a slice of it.
        let inside = q.read(2, 100);
        assert_eq!(&inside[..], &[b'c'; 100][..]);
        q.drop_front(2);
        assert_eq!(q.len(), n - 2);
        assert_eq!(q.read(0, n).len(), SMALL_CHUNK);
        q.push_copy(b"jk");
        q.drop_front(SMALL_CHUNK + 1);
        assert_eq!(&q.read(0, 10)[..], b"hijk");
        q.drop_front(4);
        assert_eq!(q.len(), 0);
        assert!(q.read(0, 4).is_empty());
    }

    #[test]
    fn small_chunks_join_the_tail() {
        let mut q = ByteQueue::default();
        for _ in 0..1000 {
            q.push(Bytes::from_static(b"x"));
        }
        assert_eq!(q.chunks.len(), 0);
        assert_eq!(q.read(0, 4096).len(), 1000);
    }

    #[test]
    fn a_chunk_read_whole_and_dropped_is_the_readers_alone() {
        let mut q = ByteQueue::default();
        q.push(Bytes::from(vec![7u8; 100_000]));
        let read = q.read(0, 1 << 20);
        q.drop_front(100_000);
        // No other reference: the reader may take the allocation without a copy.
        assert!(read.is_unique());
        assert_eq!(Vec::from(read), vec![7u8; 100_000]);
    }
}
