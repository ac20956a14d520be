//! The bytes of one direction of a connection, kept as the chunks they were written
//! in, so that a chunk handed over by the writer (a guest's `write`) reaches the
//! reader without being copied: a read returns a slice of it, and once the queue
//! drops its own reference the reader owns the only one. Copied writes (the native
//! API's) collect in a ring buffer after the chunks instead, which is reused as it
//! drains, as a kernel's socket buffer would be.

use std::collections::VecDeque;

use bytes::Bytes;

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

    /// Append `chunk` without copying it.
    pub(crate) fn push(&mut self, chunk: Bytes) {
        if chunk.is_empty() {
            return;
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

    /// Up to `max` bytes from `offset` on: from one chunk, without copying them, or a
    /// copy of bytes that were copied in.
    pub(crate) fn slice(&self, offset: usize, max: usize) -> Bytes {
        let mut skip = offset;
        for chunk in &self.chunks {
            if skip < chunk.len() {
                let end = chunk.len().min(skip + max);
                return chunk.slice(skip..end);
            }
            skip -= chunk.len();
        }
        let n = self.tail.len().saturating_sub(skip).min(max);
        let mut out = vec![0; n];
        self.copy_out(offset, &mut out);
        Bytes::from(out)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_and_copies_read_back_in_order() {
        let mut q = ByteQueue::default();
        q.push_copy(b"ab");
        q.push(Bytes::from_static(b"cdef"));
        q.push_copy(b"gh");
        q.push_copy(b"i");
        assert_eq!(q.len(), 9);
        let mut out = [0u8; 9];
        assert_eq!(q.copy_out(0, &mut out), 9);
        assert_eq!(&out, b"abcdefghi");
        assert_eq!(q.copy_out(3, &mut out[..4]), 4);
        assert_eq!(&out[..4], b"defg");
        assert_eq!(&q.slice(1, 10)[..], b"b");
        assert_eq!(&q.slice(3, 2)[..], b"de");
        // Copied bytes are read as a copy.
        assert_eq!(&q.slice(6, 10)[..], b"ghi");
        q.drop_front(3);
        assert_eq!(q.len(), 6);
        assert_eq!(&q.slice(0, 10)[..], b"def");
        q.push_copy(b"jk");
        q.drop_front(5);
        assert_eq!(q.copy_out(0, &mut out), 3);
        assert_eq!(&out[..3], b"ijk");
        q.drop_front(3);
        assert_eq!(q.len(), 0);
        assert!(q.slice(0, 4).is_empty());
    }

    #[test]
    fn a_chunk_read_whole_and_dropped_is_the_readers_alone() {
        let mut q = ByteQueue::default();
        q.push(Bytes::from(vec![7u8; 1000]));
        let read = q.slice(0, 4096);
        q.drop_front(1000);
        // No other reference: the reader may take the allocation without a copy.
        assert!(read.is_unique());
        assert_eq!(Vec::from(read), vec![7u8; 1000]);
    }
}
