//! One direction of a connection: the sender's send buffer and sequence state, and the
//! receiver's receive buffer. Both buffers share one byte queue: a byte stays in it
//! from the moment it is written until it is both acknowledged (the sender no longer
//! needs it for retransmission) and read by the receiving application. The send
//! buffer limit counts unacknowledged bytes, the receive window counts received but
//! unread bytes, exactly as two separate kernel buffers would; sharing them only saves
//! copies.

use bytes::Bytes;

use crate::autotune::{BufferSize, ReceiveTuning, SendTuning};
use crate::bytequeue::ByteQueue;
use crate::config::BufferDefaults;
use crate::time::SimTime;

/// Sequence number of the first data byte (the SYN occupies 0).
pub(crate) const FIRST_DATA_SEQ: u64 = 1;

#[derive(Debug)]
pub(crate) struct Pipe {
    buf: ByteQueue,
    /// Sequence number of `buf[0]`.
    buf_seq: u64,

    // Sender side.
    /// Oldest unacknowledged sequence number.
    pub(crate) snd_una: u64,
    /// Next sequence number to send.
    pub(crate) snd_nxt: u64,
    /// Highest sequence number sent so far (`snd_nxt` goes back on a retransmission timeout).
    pub(crate) snd_max: u64,
    /// Right edge of the window the receiver last advertised.
    pub(crate) wnd_edge: u64,
    /// Send buffer size: bound on written-but-unacknowledged bytes.
    pub(crate) snd_cap: u64,
    /// Autotuning of `snd_cap`, unless the sending application set its size.
    pub(crate) snd_tuning: Option<SendTuning>,
    /// Sequence number the FIN occupies, once the sender has shut down.
    pub(crate) fin_seq: Option<u64>,
    /// Bytes at the end of the queue that a write was granted beyond the send
    /// buffer's room (a WASI `check-write` grants 64 KiB, and wasmtime-wasi hands the
    /// rest to the kernel in the background): they enter the send buffer, and may be
    /// sent, as acknowledgements free room.
    held: u64,

    // Receiver side.
    /// Next data sequence number expected.
    pub(crate) rcv_nxt: u64,
    /// Next sequence number the application reads.
    pub(crate) read_seq: u64,
    pub(crate) fin_received: bool,
    /// Receive buffer size: bound on received-but-unread bytes.
    pub(crate) rcv_cap: u64,
    /// Autotuning of `rcv_cap`, unless the receiving application set its size.
    pub(crate) rcv_tuning: Option<ReceiveTuning>,
    /// Right edge last advertised to the sender.
    pub(crate) adv_edge: u64,
}

impl Pipe {
    pub(crate) fn new(snd_cap: u64, rcv_cap: u64) -> Self {
        Pipe {
            buf: ByteQueue::default(),
            buf_seq: FIRST_DATA_SEQ,
            snd_una: 0,
            snd_nxt: 0,
            snd_max: 0,
            wnd_edge: FIRST_DATA_SEQ,
            snd_cap,
            snd_tuning: None,
            fin_seq: None,
            held: 0,
            rcv_nxt: FIRST_DATA_SEQ,
            read_seq: FIRST_DATA_SEQ,
            fin_received: false,
            rcv_cap,
            rcv_tuning: None,
            adv_edge: FIRST_DATA_SEQ + rcv_cap,
        }
    }

    /// Size the send buffer as the sending application asked: a set size stays, an
    /// unset one starts at the default and is tuned.
    pub(crate) fn size_send_buffer(&mut self, size: BufferSize, defaults: BufferDefaults) {
        self.snd_cap = size.initial(defaults.send);
        self.snd_tuning = (size == BufferSize::Auto).then_some(SendTuning {
            max: defaults.send_max,
        });
    }

    /// Size the receive buffer as the receiving application asked (see
    /// [`Pipe::size_send_buffer`]), before anything was advertised.
    pub(crate) fn size_receive_buffer(
        &mut self,
        size: BufferSize,
        defaults: BufferDefaults,
        now: SimTime,
    ) {
        self.rcv_cap = size.initial(defaults.receive);
        self.rcv_tuning =
            (size == BufferSize::Auto).then(|| ReceiveTuning::new(defaults.receive_max, now));
        self.adv_edge = self.read_seq + self.rcv_cap;
    }

    /// The written bytes `seq..seq + len`, for a capture. Bytes of a segment being
    /// sent are unacknowledged, so still held.
    pub(crate) fn bytes(&self, seq: u64, len: u64) -> Vec<u8> {
        let start = seq.saturating_sub(self.buf_seq) as usize;
        self.buf.copy_range(start, len as usize)
    }

    /// Sequence number after the last byte written.
    pub(crate) fn write_end(&self) -> u64 {
        self.buf_seq + self.buf.len() as u64
    }

    /// Sequence number after the last byte in the send buffer: what may be sent.
    #[inline]
    pub(crate) fn send_end(&self) -> u64 {
        self.write_end() - self.held
    }

    /// Written bytes not yet acknowledged (what the send buffer holds).
    #[inline]
    pub(crate) fn unacked(&self) -> u64 {
        let end = self.send_end();
        end - self.snd_una.clamp(FIRST_DATA_SEQ, end)
    }

    /// Free space in the send buffer; none while granted bytes wait for room.
    #[inline]
    pub(crate) fn send_space(&self) -> u64 {
        if self.held > 0 {
            return 0;
        }
        self.snd_cap.saturating_sub(self.unacked())
    }

    /// Granted bytes still waiting for room in the send buffer.
    pub(crate) fn held(&self) -> u64 {
        self.held
    }

    /// Forget the granted bytes still waiting for room: their writer is gone.
    pub(crate) fn discard_held(&mut self) {
        self.buf.drop_back(self.held as usize);
        self.held = 0;
        let end = self.write_end();
        if let Some(fin) = &mut self.fin_seq {
            *fin = (*fin).min(end);
        }
    }

    /// Move granted bytes into the send buffer as far as its room allows.
    pub(crate) fn admit_held(&mut self) {
        if self.held == 0 {
            return;
        }
        let room = self.snd_cap.saturating_sub(self.unacked());
        self.held -= room.min(self.held);
    }

    /// Append a copy of as much of `data` as the send buffer has room for.
    pub(crate) fn write(&mut self, data: &[u8]) -> usize {
        let n = (self.send_space().min(data.len() as u64)) as usize;
        self.buf.push_copy(&data[..n]);
        n
    }

    /// Append as much of `chunk` as the send buffer has room for, without copying.
    pub(crate) fn write_bytes(&mut self, mut chunk: Bytes) -> usize {
        let n = (self.send_space().min(chunk.len() as u64)) as usize;
        chunk.truncate(n);
        self.append(chunk)
    }

    /// Append as much of `chunk` as the send buffer has room for and hold the rest
    /// until acknowledgements make room (see `held`).
    pub(crate) fn append(&mut self, chunk: Bytes) -> usize {
        let n = chunk.len();
        self.held += n as u64;
        self.buf.push(chunk);
        self.admit_held();
        n
    }

    /// Data in the send buffer not yet sent.
    #[inline]
    pub(crate) fn unsent(&self) -> u64 {
        self.send_end()
            .saturating_sub(self.snd_nxt.max(FIRST_DATA_SEQ))
    }

    /// Received bytes the application has not read yet.
    pub(crate) fn readable(&self) -> u64 {
        self.rcv_nxt - self.read_seq
    }

    /// The right edge of the window to advertise: never left of one already
    /// advertised, even if the buffer shrank since (a receiver must not shrink the
    /// window it offered, RFC 9293).
    pub(crate) fn advertised_edge(&self) -> u64 {
        (self.read_seq + self.rcv_cap).max(self.adv_edge)
    }

    /// The window the receiver offers now: room beyond what it has received.
    #[inline]
    pub(crate) fn receive_window(&self) -> u64 {
        self.advertised_edge().saturating_sub(self.rcv_nxt)
    }

    /// Copy received bytes out to the application.
    pub(crate) fn read(&mut self, out: &mut [u8]) -> usize {
        let n = (self.readable().min(out.len() as u64)) as usize;
        let start = (self.read_seq - self.buf_seq) as usize;
        self.buf.copy_out(start, &mut out[..n]);
        self.read_seq += n as u64;
        self.trim();
        n
    }

    /// Hand up to `max` received bytes to the application, without copying them
    /// when they lie in one large written chunk (then possibly fewer than are
    /// readable).
    pub(crate) fn read_bytes(&mut self, max: usize) -> Bytes {
        let n = (self.readable().min(max as u64)) as usize;
        let start = (self.read_seq - self.buf_seq) as usize;
        let chunk = self.buf.read(start, n);
        self.read_seq += chunk.len() as u64;
        self.trim();
        chunk
    }

    /// Accept in-order bytes `seq..seq+len` (as far as the window allows); returns how
    /// many sequence numbers of the segment are now covered by `rcv_nxt`.
    pub(crate) fn receive(&mut self, seq: u64, len: u64) -> u64 {
        // Never short of an edge already advertised, should the buffer have shrunk.
        let right = self.advertised_edge().min(self.write_end());
        let end = (seq + len).min(right.max(self.rcv_nxt));
        if end > self.rcv_nxt {
            self.rcv_nxt = end;
        }
        self.rcv_nxt.saturating_sub(seq).min(len)
    }

    /// The receiver's acknowledgement number (the FIN counts once received).
    pub(crate) fn ack_number(&self) -> u64 {
        self.rcv_nxt + u64::from(self.fin_received)
    }

    /// Process an acknowledgement; returns whether it acknowledged anything new.
    #[inline(always)]
    pub(crate) fn on_ack(&mut self, ack: u64, window: u64) -> bool {
        let advanced = ack > self.snd_una && ack <= self.snd_max;
        if advanced {
            self.snd_una = ack;
            if self.snd_nxt < ack {
                self.snd_nxt = ack;
            }
            self.trim();
            self.admit_held();
        }
        if ack <= self.snd_max {
            self.wnd_edge = self.wnd_edge.max(ack + window);
        }
        advanced
    }

    /// Everything sent, including the FIN, has been acknowledged.
    pub(crate) fn fin_acked(&self) -> bool {
        self.fin_seq.is_some_and(|f| self.snd_una > f)
    }

    /// Drop bytes that are both acknowledged and read.
    fn trim(&mut self) {
        let keep_from = self
            .read_seq
            .min(self.snd_una.max(FIRST_DATA_SEQ))
            .min(self.write_end());
        if keep_from > self.buf_seq {
            self.buf.drop_front((keep_from - self.buf_seq) as usize);
            self.buf_seq = keep_from;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_flow_through_send_and_receive_accounting() {
        let mut p = Pipe::new(10, 4);
        p.snd_una = FIRST_DATA_SEQ; // SYN acknowledged
        assert_eq!(p.write(b"hello world"), 10);
        assert_eq!(p.send_space(), 0);
        // Receiver accepts what its window allows.
        assert_eq!(p.receive(1, 6), 4);
        assert_eq!(p.advertised_edge(), p.rcv_nxt);
        let mut out = [0u8; 8];
        assert_eq!(p.read(&mut out), 4);
        assert_eq!(&out[..4], b"hell");
        // Acknowledging frees send space; bytes are kept until also read.
        p.snd_max = 11;
        assert!(p.on_ack(5, 4));
        assert_eq!(p.send_space(), 4);
        assert_eq!(p.receive(5, 6), 4);
        assert_eq!(p.read(&mut out), 4);
        assert_eq!(&out[..4], b"o wo");
    }

    #[test]
    fn read_copies_across_the_ring_boundary() {
        let mut p = Pipe::new(8, 8);
        p.snd_una = FIRST_DATA_SEQ;
        let mut out = [0u8; 8];
        let mut expect = 0u8;
        let mut next = 0u8;
        for _ in 0..50 {
            let chunk: Vec<u8> = (0..5)
                .map(|_| {
                    next = next.wrapping_add(1);
                    next
                })
                .collect();
            let n = p.write(&chunk);
            assert_eq!(n, 5);
            let end = p.write_end();
            p.receive(p.rcv_nxt, end - p.rcv_nxt);
            let ack = p.rcv_nxt;
            p.snd_max = end; // everything written was sent
            assert!(p.on_ack(ack, 8));
            let got = p.read(&mut out);
            for b in &out[..got] {
                expect = expect.wrapping_add(1);
                assert_eq!(*b, expect);
            }
        }
    }
}
