//! [`Batching`]: the stream between tokio-postgres and its socket that sends a batch of
//! requests under one `Sync` and answers each request as if it had had its own.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, ready};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The text of the statement whose execution opens a batch.
pub(crate) const OPEN: &str = "BEGIN READ ONLY";
/// The text of the statement whose execution closes a batch.
pub(crate) const CLOSE: &str = "ROLLBACK";

/// The names of the statements whose requests open and close a batch on one
/// connection ([`super::Batches`]). tokio-postgres keeps a statement's name to itself,
/// so the stream learns them from the first `Parse` of [`OPEN`] and of [`CLOSE`], which
/// [`super::Batches::prepare`] sends before the connection serves anyone.
#[derive(Debug, Default)]
pub(crate) struct Bounds {
    open: OnceLock<Box<[u8]>>,
    close: OnceLock<Box<[u8]>>,
    /// Batches written, counted for the whole pool.
    sent: Arc<AtomicU64>,
}

impl Bounds {
    /// Bounds that count the batches written in `sent`.
    pub(crate) fn counting(sent: Arc<AtomicU64>) -> Self {
        Bounds {
            sent,
            ..Bounds::default()
        }
    }

    /// True once both names are known.
    pub(crate) fn is_set(&self) -> bool {
        self.open.get().is_some() && self.close.get().is_some()
    }

    /// Learns a name from a `Parse` (its body) of one of the two texts.
    fn learn(&self, parse: &[u8]) {
        if self.is_set() {
            return;
        }
        let Some((name, rest)) = cstr(parse) else {
            return;
        };
        let Some((text, _)) = cstr(rest) else {
            return;
        };
        if name.is_empty() {
            return;
        }
        if text == OPEN.as_bytes() {
            let _ = self.open.set(name.into());
        } else if text == CLOSE.as_bytes() {
            let _ = self.close.set(name.into());
        }
    }
}

/// Past this many bytes queued for the socket, a write waits for the socket first.
const QUEUED_AT_MOST: usize = 256 * 1024;

/// A request of the batch being written.
#[derive(Debug, Default)]
struct Writing {
    /// Requests of the batch whose `Sync` was held back.
    held: u32,
    /// `Execute` messages in the request being written.
    executes: u32,
    /// True when the request being written executes the closing statement.
    closing: bool,
}

/// The requests one `ReadyForQuery` to come answers.
#[derive(Debug)]
struct Answer {
    /// How many requests (more than one for a batch).
    requests: u32,
    /// Requests already answered (each but the last with a `ReadyForQuery` made here).
    answered: u32,
}

impl Answer {
    /// An answer to `requests` requests, none answered yet.
    fn to(requests: u32) -> Self {
        Answer {
            requests,
            answered: 0,
        }
    }
}

/// A stream that holds back the `Sync` of every request of a batch but the last, and
/// splits the one answer PostgreSQL gives into an answer per request.
///
/// A batch is a run of requests, each one `Execute` ending in `Sync`, from one that
/// executes the opening statement of [`Bounds`] to one that executes its closing
/// statement. PostgreSQL answers each `Execute` with `CommandComplete` (or
/// `EmptyQueryResponse`, `PortalSuspended`) or with `ErrorResponse`, after which it
/// skips everything up to the `Sync`; the stream gives tokio-postgres a `ReadyForQuery`
/// after each request's end, and for every request skipped after an error, an error of
/// its own (`25P02`, as PostgreSQL answers a statement sent into a failed transaction).
/// Everything else passes through untouched.
pub(crate) struct Batching<S> {
    io: S,
    bounds: Arc<Bounds>,
    /// Bytes from tokio-postgres not yet a whole message.
    written: BytesMut,
    /// Whole messages for the socket.
    queued: BytesMut,
    /// The start-up message has been written.
    started: bool,
    /// The next message begins a request.
    request_start: bool,
    /// The batch being written.
    writing: Option<Writing>,
    /// What each `ReadyForQuery` to come answers, oldest first.
    answers: VecDeque<Answer>,
    /// Bytes from the socket not yet judged.
    received: BytesMut,
    /// Bytes for tokio-postgres.
    ready: BytesMut,
    /// The type of the message whose body is being passed on, and its bytes left.
    reading: Option<(u8, usize)>,
    /// An encryption request went out, its one-byte answer not yet back.
    negotiating: bool,
    /// A start-up this stream does not judge (encryption began, or an unknown
    /// protocol): from then on it passes everything through.
    transparent: bool,
}

impl<S> Batching<S> {
    /// `io` with batches bounded by `bounds`.
    pub(crate) fn new(io: S, bounds: Arc<Bounds>) -> Self {
        Batching {
            io,
            bounds,
            written: BytesMut::new(),
            queued: BytesMut::new(),
            started: false,
            request_start: true,
            writing: None,
            answers: VecDeque::new(),
            received: BytesMut::new(),
            ready: BytesMut::new(),
            reading: None,
            negotiating: false,
            transparent: false,
        }
    }

    /// The stream underneath.
    pub(crate) fn get_ref(&self) -> &S {
        &self.io
    }
}

fn broken(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("batching out of step with the protocol: {what}"),
    )
}

/// `Sync`.
#[cfg(test)]
const SYNC: [u8; 5] = [b'S', 0, 0, 0, 4];

/// The protocol version a start-up message names (3.0).
const PROTOCOL_3: u32 = 196_608;

/// The code of `SSLRequest`: answered with one byte, `S` (TLS follows, and the stream
/// turns transparent: a stream above the TLS judges instead) or `N` (the start-up
/// follows in the clear). Any other code leaves the stream transparent at once.
const SSL_REQUEST: u32 = 80_877_103;

/// The big-endian number in four bytes (a message's length, a start-up's code).
fn be_u32(bytes: &[u8]) -> u32 {
    bytes
        .iter()
        .take(4)
        .fold(0, |n, &b| (n << 8) | u32::from(b))
}

/// Reads a NUL-terminated string at the start of `bytes`: it and what follows.
fn cstr(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = bytes.iter().position(|&b| b == 0)?;
    Some((&bytes[..end], &bytes[end + 1..]))
}

impl<S> Batching<S> {
    /// Moves whole messages from `written` to `queued`, holding back a batch's `Sync`s.
    fn judge_written(&mut self) -> io::Result<()> {
        loop {
            if self.transparent {
                let all = self.written.split();
                self.queued.unsplit(all);
                return Ok(());
            }
            if !self.started {
                // Length-prefixed, no type byte.
                if self.written.len() < 8 {
                    return Ok(());
                }
                let len = be_u32(&self.written[0..4]) as usize;
                let code = be_u32(&self.written[4..8]);
                if code != PROTOCOL_3 && code != SSL_REQUEST {
                    self.transparent = true;
                    continue;
                }
                if self.written.len() < len {
                    return Ok(());
                }
                let message = self.written.split_to(len);
                self.queued.unsplit(message);
                if code == SSL_REQUEST {
                    self.negotiating = true;
                    continue;
                }
                self.started = true;
                self.answers.push_back(Answer::to(1));
                continue;
            }
            if self.written.len() < 5 {
                return Ok(());
            }
            let kind = self.written[0];
            let len = be_u32(&self.written[1..5]) as usize;
            if len < 4 {
                return Err(broken("a message shorter than its header"));
            }
            if self.written.len() < len + 1 {
                return Ok(());
            }
            let message = self.written.split_to(len + 1);
            let starts = std::mem::replace(&mut self.request_start, false);
            match kind {
                b'P' => self.bounds.learn(&message[5..]),
                b'B' => self.judge_bind(&message[5..], starts)?,
                b'E' => {
                    if let Some(writing) = &mut self.writing {
                        writing.executes += 1;
                    }
                }
                b'Q' | b'F' => {
                    if self.writing.is_some() {
                        return Err(broken("a query inside a batch"));
                    }
                    self.answers.push_back(Answer::to(1));
                    self.request_start = true;
                }
                b'S' => {
                    self.request_start = true;
                    if let Some(writing) = &mut self.writing {
                        if writing.executes != 1 {
                            return Err(broken("a request of a batch without one Execute"));
                        }
                        writing.held += 1;
                        writing.executes = 0;
                        if !writing.closing {
                            // Held back: the batch goes on.
                            continue;
                        }
                        let requests = writing.held;
                        self.writing = None;
                        self.bounds.sent.fetch_add(1, Ordering::Relaxed);
                        self.answers.push_back(Answer::to(requests));
                    } else {
                        self.answers.push_back(Answer::to(1));
                    }
                }
                _ => {}
            }
            self.queued.unsplit(message);
        }
    }

    /// A `Bind` (its body): one that starts a request executing the opening statement
    /// opens a batch; one executing the closing statement inside a batch closes it.
    fn judge_bind(&mut self, body: &[u8], starts: bool) -> io::Result<()> {
        let (Some(open), Some(close)) = (self.bounds.open.get(), self.bounds.close.get()) else {
            return Ok(());
        };
        let statement = cstr(body)
            .and_then(|(_portal, rest)| cstr(rest))
            .map(|(statement, _)| statement)
            .ok_or_else(|| broken("a Bind without its names"))?;
        match &mut self.writing {
            None if starts && statement == &**open => {
                self.writing = Some(Writing::default());
            }
            Some(writing) if statement == &**close => writing.closing = true,
            _ => {}
        }
        Ok(())
    }

    /// Judges the bytes in `received`, moving them (with the answers made here) to
    /// `ready`.
    fn judge_received(&mut self) -> io::Result<()> {
        if self.negotiating && !self.received.is_empty() {
            self.negotiating = false;
            if self.received[0] == b'N' {
                let answer = self.received.split_to(1);
                self.ready.unsplit(answer);
            } else {
                self.transparent = true;
            }
        }
        if self.transparent {
            let all = self.received.split();
            self.ready.unsplit(all);
            return Ok(());
        }
        let mut judged = 0;
        loop {
            if let Some((kind, left)) = self.reading {
                let take = left.min(self.received.len() - judged);
                judged += take;
                if take < left {
                    self.reading = Some((kind, left - take));
                    break;
                }
                self.reading = None;
                let made = self.after(kind)?;
                if !made.is_empty() {
                    let passed = self.received.split_to(judged);
                    self.ready.unsplit(passed);
                    self.ready.extend_from_slice(&made);
                    judged = 0;
                }
                continue;
            }
            let rest = &self.received[judged..];
            if rest.len() < 5 {
                break;
            }
            let len = be_u32(&rest[1..5]) as usize;
            if len < 4 {
                return Err(broken("a message shorter than its header"));
            }
            self.reading = Some((rest[0], len - 4));
            judged += 5;
        }
        let passed = self.received.split_to(judged);
        self.ready.unsplit(passed);
        Ok(())
    }

    /// What to give tokio-postgres after a whole message of `kind` from the server.
    fn after(&mut self, kind: u8) -> io::Result<Vec<u8>> {
        let mut made = Vec::new();
        match kind {
            b'Z' => {
                let answer = self
                    .answers
                    .pop_front()
                    .ok_or_else(|| broken("an answer nothing asked for"))?;
                if answer.answered + 1 != answer.requests {
                    return Err(broken("a batch answered before its last request"));
                }
            }
            b'C' | b'I' | b's' => {
                if let Some(answer) = self.answers.front_mut()
                    && answer.answered + 1 < answer.requests
                {
                    answer.answered += 1;
                    made.extend_from_slice(&ready_for_query(b'T'));
                }
            }
            b'E' => {
                if let Some(answer) = self.answers.front_mut()
                    && answer.answered + 1 < answer.requests
                {
                    // PostgreSQL skips the rest of the batch: each request left gets
                    // an error, each but the last its end here (the last one's is
                    // PostgreSQL's own).
                    made.extend_from_slice(&ready_for_query(b'E'));
                    answer.answered += 1;
                    while answer.answered + 1 < answer.requests {
                        made.extend_from_slice(&skipped());
                        made.extend_from_slice(&ready_for_query(b'E'));
                        answer.answered += 1;
                    }
                    made.extend_from_slice(&skipped());
                }
            }
            _ => {}
        }
        Ok(made)
    }

    /// Writes `queued` to the socket.
    fn poll_queued(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>
    where
        S: AsyncWrite + Unpin,
    {
        while !self.queued.is_empty() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.queued))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.queued.advance(n);
        }
        Poll::Ready(Ok(()))
    }
}

/// `ReadyForQuery` with transaction status `status`.
fn ready_for_query(status: u8) -> [u8; 6] {
    [b'Z', 0, 0, 0, 5, status]
}

/// What a request skipped after an earlier one of its batch failed is answered with.
fn skipped() -> Vec<u8> {
    let fields: [(u8, &str); 4] = [
        (b'S', "ERROR"),
        (b'V', "ERROR"),
        (b'C', "25P02"),
        (
            b'M',
            "not run: an earlier statement of its batch failed, and the transaction with it",
        ),
    ];
    let mut body = Vec::new();
    for (code, text) in fields {
        body.push(code);
        body.extend_from_slice(text.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut message = Vec::with_capacity(body.len() + 5);
    message.push(b'E');
    let len = u32::try_from(body.len() + 4).unwrap_or(u32::MAX);
    message.extend_from_slice(&len.to_be_bytes());
    message.extend_from_slice(&body);
    message
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Batching<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.queued.len() >= QUEUED_AT_MOST {
            ready!(this.poll_queued(cx))?;
        }
        this.written.extend_from_slice(buf);
        this.judge_written()?;
        // Sent now if the socket takes it; otherwise on the flush that follows.
        if let Poll::Ready(Err(e)) = this.poll_queued(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_queued(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_queued(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Batching<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.ready.is_empty() {
                let n = this.ready.len().min(buf.remaining());
                buf.put_slice(&this.ready[..n]);
                this.ready.advance(n);
                return Poll::Ready(Ok(()));
            }
            this.received.reserve(8192);
            let n = ready!(tokio_util::io::poll_read_buf(
                Pin::new(&mut this.io),
                cx,
                &mut this.received
            ))?;
            if n == 0 {
                // The end of the stream (what was left of a message is dropped with
                // the connection).
                return Poll::Ready(Ok(()));
            }
            this.judge_received()?;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn message(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![kind];
        m.extend_from_slice(&u32::try_from(body.len() + 4).unwrap().to_be_bytes());
        m.extend_from_slice(body);
        m
    }

    fn bind(statement: &str) -> Vec<u8> {
        let mut body = b"\0".to_vec();
        body.extend_from_slice(statement.as_bytes());
        body.extend_from_slice(b"\0\0\0\0\0\0\0");
        message(b'B', &body)
    }

    fn request(statement: &str) -> Vec<u8> {
        [bind(statement), message(b'E', b"\0\0\0\0\0"), SYNC.to_vec()].concat()
    }

    /// A batch as a read sends it: open, check, statement, close.
    fn four_requests() -> Vec<u8> {
        ["open", "check", "other", "close"].map(request).concat()
    }

    /// What PostgreSQL answers `open` then `close` with, after a start-up.
    fn open_close_answer() -> Vec<u8> {
        [
            message(b'Z', b"I"),
            message(b'2', b""),
            message(b'C', b"BEGIN\0"),
            message(b'2', b""),
            message(b'C', b"ROLLBACK\0"),
            message(b'Z', b"I"),
        ]
        .concat()
    }

    fn startup() -> Vec<u8> {
        let mut body = PROTOCOL_3.to_be_bytes().to_vec();
        body.extend_from_slice(b"user\0postgres\0\0");
        let mut m = u32::try_from(body.len() + 4)
            .unwrap()
            .to_be_bytes()
            .to_vec();
        m.extend_from_slice(&body);
        m
    }

    fn stream() -> Batching<tokio::io::DuplexStream> {
        let (a, _b) = tokio::io::duplex(64);
        let bounds = Arc::new(Bounds::default());
        let mut s = Batching::new(a, bounds);
        write(&mut s, &startup());
        write(
            &mut s,
            &[
                message(b'P', b"open\0BEGIN READ ONLY\0\0\0"),
                message(b'P', b"close\0ROLLBACK\0\0\0"),
                SYNC.to_vec(),
            ]
            .concat(),
        );
        assert!(s.bounds.is_set());
        let answer = [
            message(b'Z', b"I"),
            message(b'1', b""),
            message(b'1', b""),
            message(b'Z', b"I"),
        ]
        .concat();
        read(&mut s, &answer, 5);
        s.started = false;
        s
    }

    /// Feeds `bytes` to the write side one byte at a time (messages split anywhere).
    fn write(s: &mut Batching<tokio::io::DuplexStream>, bytes: &[u8]) -> Vec<u8> {
        for b in bytes {
            s.written.extend_from_slice(&[*b]);
            s.judge_written().unwrap();
        }
        s.queued.split().to_vec()
    }

    fn read(s: &mut Batching<tokio::io::DuplexStream>, bytes: &[u8], step: usize) -> Vec<u8> {
        for chunk in bytes.chunks(step) {
            s.received.extend_from_slice(chunk);
            s.judge_received().unwrap();
        }
        s.ready.split().to_vec()
    }

    fn kinds(mut bytes: &[u8]) -> String {
        let mut out = String::new();
        while bytes.len() >= 5 {
            let len = be_u32(&bytes[1..5]) as usize;
            out.push(char::from(bytes[0]));
            bytes = &bytes[len + 1..];
        }
        out
    }

    #[test]
    fn a_batch_goes_out_with_one_sync_and_comes_back_as_one_answer_per_request() {
        let mut s = stream();
        let sent = write(&mut s, &startup());
        assert_eq!(sent, startup());
        let batch = four_requests();
        let sent = write(&mut s, &batch);
        assert_eq!(kinds(&sent[..]), "BEBEBEBES");
        assert_eq!(s.bounds.sent.load(Ordering::Relaxed), 1);
        let z_idle = message(b'Z', b"I");
        let answer = [
            message(b'R', &[0, 0, 0, 0]),
            z_idle.clone(),
            message(b'2', b""),
            message(b'C', b"BEGIN\0"),
            message(b'2', b""),
            message(b'D', b"\0\x01\0\0\0\x01x"),
            message(b'C', b"SELECT 1\0"),
            message(b'2', b""),
            message(b'C', b"SELECT 0\0"),
            message(b'2', b""),
            message(b'C', b"ROLLBACK\0"),
            z_idle,
        ]
        .concat();
        for step in [1, 3, 7, answer.len()] {
            let mut s = stream();
            write(&mut s, &startup());
            write(&mut s, &batch);
            let got = read(&mut s, &answer, step);
            assert_eq!(kinds(&got), "RZ2CZ2DCZ2CZ2CZ", "step {step}");
            assert!(s.answers.is_empty());
        }
    }

    #[test]
    fn an_error_in_a_batch_fails_each_request_after_it() {
        let mut s = stream();
        write(&mut s, &startup());
        let batch = four_requests();
        write(&mut s, &batch);
        let answer = [
            message(b'Z', b"I"),
            message(b'2', b""),
            message(b'C', b"BEGIN\0"),
            message(b'2', b""),
            message(b'E', b"SERROR\0C42501\0Mno\0\0"),
            message(b'Z', b"E"),
        ]
        .concat();
        let got = read(&mut s, &answer, 2);
        assert_eq!(kinds(&got), "Z2CZ2EZEZEZ");
        assert!(s.answers.is_empty());
        assert!(got.windows(5).any(|w| w == b"25P02"));
    }

    #[test]
    fn requests_outside_a_batch_pass_through() {
        let mut s = stream();
        write(&mut s, &startup());
        // A request on another statement, the closing statement alone, a query.
        let plain = [
            request("other"),
            request("close"),
            message(b'Q', b"SELECT 1\0"),
        ]
        .concat();
        assert_eq!(write(&mut s, &plain), plain);
        // The opening statement, not at the start of a request, opens nothing.
        let inner = [
            message(b'P', b"\0SELECT 1\0\0\0"),
            bind("open"),
            message(b'E', b"\0\0\0\0\0"),
            SYNC.to_vec(),
        ]
        .concat();
        assert_eq!(write(&mut s, &inner), inner);
        assert_eq!(s.answers.len(), 5);
    }

    #[test]
    fn a_batch_request_that_is_not_one_execute_breaks_the_connection() {
        let mut s = stream();
        write(&mut s, &startup());
        write(&mut s, &request("open"));
        s.written
            .extend_from_slice(&[message(b'P', b"\0SELECT 1\0\0\0"), SYNC.to_vec()].concat());
        assert!(s.judge_written().is_err());
        let mut s = stream();
        write(&mut s, &startup());
        write(&mut s, &request("open"));
        s.written.extend_from_slice(&message(b'Q', b"SELECT 1\0"));
        assert!(s.judge_written().is_err());
    }

    const SSL: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

    #[test]
    fn an_accepted_encryption_request_leaves_the_stream_transparent() {
        let mut s = stream();
        assert_eq!(write(&mut s, &SSL), SSL);
        assert_eq!(read(&mut s, b"S\x16\x03", 1), b"S\x16\x03");
        let batch = [request("open"), request("close")].concat();
        assert_eq!(write(&mut s, &batch), batch);
    }

    #[test]
    fn a_refused_encryption_request_is_followed_by_the_start_up() {
        let mut s = stream();
        write(&mut s, &SSL);
        assert_eq!(read(&mut s, b"N", 1), b"N");
        write(&mut s, &startup());
        let batch = [request("open"), request("close")].concat();
        assert_eq!(kinds(&write(&mut s, &batch)), "BEBES");
        assert_eq!(kinds(&read(&mut s, &open_close_answer(), 4)), "Z2CZ2CZ");
    }

    #[test]
    fn direct_tls_leaves_the_stream_transparent() {
        let mut s = stream();
        let hello = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc];
        assert_eq!(write(&mut s, &hello), hello);
    }
}
