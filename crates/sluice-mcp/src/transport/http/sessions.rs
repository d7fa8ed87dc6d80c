//! Streamable HTTP sessions of MCP 2025-11-25 (and older): opened by `initialize`,
//! named by `Mcp-Session-Id`, with resumable event streams — each request's own and the
//! session's `GET` stream — whose events are kept (a bounded number) under ids that name
//! their stream, so a client whose connection broke resumes with `Last-Event-ID`.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use tokio::sync::{Semaphore, mpsc};

use super::limits::ClientKey;
use super::{
    HttpConfig, SESSION_HEADER, SESSION_STREAM, Shared, VERSION_HEADER, Verified, accepts, error,
    event, json_response, lock, retry_after, sse_response, with_session_header,
};
use crate::context::{Related, StreamItem};
use crate::jsonrpc::Incoming;
use crate::protocol::SUPPORTED_PROTOCOL_VERSIONS;
use crate::session::Session;

pub(super) struct HttpSession {
    pub(super) id: String,
    pub(super) session: Session,
    pub(super) subject: Option<String>,
    /// Who the session counts against ([`HttpConfig::max_sessions_per_client`]).
    pub(super) client: ClientKey,
    pub(super) last_seen: Mutex<Instant>,
    pub(super) permits: Arc<Semaphore>,
    pub(super) streams: Mutex<Streams>,
}

pub(super) struct Streams {
    pub(super) next: u64,
    pub(super) logs: HashMap<u64, StreamLog>,
}

/// The events of one stream, kept for resumption, and the connection delivering them.
pub(super) struct StreamLog {
    pub(super) events: VecDeque<(u64, Bytes)>,
    pub(super) next_seq: u64,
    /// The last sequence number handed to a connection.
    pub(super) sent: u64,
    pub(super) live: Option<mpsc::UnboundedSender<Bytes>>,
    /// The stream's last event (the response) has been logged.
    pub(super) finished: bool,
}

impl StreamLog {
    pub(super) fn new() -> Self {
        StreamLog {
            events: VecDeque::new(),
            next_seq: 1,
            sent: 0,
            live: None,
            finished: false,
        }
    }
}

impl HttpSession {
    pub(super) fn touch(&self) {
        *lock(&self.last_seen) = Instant::now();
    }

    /// Opens a new stream for a request; returns its id.
    pub(super) fn open_stream(&self) -> u64 {
        let mut streams = lock(&self.streams);
        streams.next += 1;
        let id = streams.next;
        streams.logs.insert(id, StreamLog::new());
        id
    }

    /// Logs a message on a stream and delivers it if a connection is attached.
    pub(super) fn push(&self, stream: u64, data: &str, last: bool, config: &HttpConfig) {
        let mut streams = lock(&self.streams);
        let Some(log) = streams.logs.get_mut(&stream) else {
            return;
        };
        let seq = log.next_seq;
        log.next_seq += 1;
        let frame = event(Some((stream, seq)), data);
        log.events.push_back((seq, frame.clone()));
        while log.events.len() > config.max_events_per_stream {
            log.events.pop_front();
        }
        if let Some(live) = &log.live {
            if live.send(frame).is_ok() {
                log.sent = seq;
            } else {
                log.live = None;
            }
        }
        if last {
            log.finished = true;
            // Ending the connection ends the HTTP response: the stream is complete.
            log.live = None;
            Self::forget_old_streams(&mut streams);
        }
    }

    /// Keeps the finished streams of the last few requests (a client whose connection
    /// broke at the very end may still resume) and forgets older ones.
    pub(super) fn forget_old_streams(streams: &mut Streams) {
        const KEEP_FINISHED: usize = 16;
        let mut finished: Vec<u64> = streams
            .logs
            .iter()
            .filter(|(id, log)| **id != SESSION_STREAM && log.finished)
            .map(|(id, _)| *id)
            .collect();
        if finished.len() > KEEP_FINISHED {
            finished.sort_unstable();
            for id in &finished[..finished.len() - KEEP_FINISHED] {
                streams.logs.remove(id);
            }
        }
    }

    /// Detaches the connection of a stream (the handler asked the client to reconnect).
    pub(super) fn detach(&self, stream: u64) {
        if let Some(log) = lock(&self.streams).logs.get_mut(&stream) {
            log.live = None;
        }
    }

    /// Attaches a new connection to a stream, replaying the events after `after`
    /// (`None`: those never sent). Returns `None` when the stream is unknown.
    pub(super) fn attach(
        &self,
        stream: u64,
        after: Option<u64>,
        prelude: Option<Bytes>,
    ) -> Option<mpsc::UnboundedReceiver<Bytes>> {
        let mut streams = lock(&self.streams);
        let log = streams.logs.get_mut(&stream)?;
        let (sender, receiver) = mpsc::unbounded_channel();
        if let Some(prelude) = prelude {
            let _ = sender.send(prelude);
        }
        let after = after.unwrap_or(log.sent);
        for (seq, frame) in &log.events {
            if *seq > after {
                let _ = sender.send(frame.clone());
                log.sent = *seq;
            }
        }
        if !log.finished {
            log.live = Some(sender);
        }
        Some(receiver)
    }

    pub(super) fn has_live_stream(&self, stream: u64) -> bool {
        lock(&self.streams)
            .logs
            .get(&stream)
            .is_some_and(|log| log.live.as_ref().is_some_and(|live| !live.is_closed()))
    }
}

enum First {
    Item(Option<StreamItem>),
    Done(Option<String>),
}

enum Finish {
    Ready(Option<String>),
    Pending(tokio::task::JoinHandle<Option<String>>),
}

fn deliver(session: &HttpSession, stream: u64, item: StreamItem, config: &HttpConfig) {
    match item {
        StreamItem::Message(text) => session.push(stream, &text, false, config),
        StreamItem::CloseConnection => session.detach(stream),
    }
}

pub(super) async fn pump_session_messages(
    mut messages: mpsc::UnboundedReceiver<String>,
    session: std::sync::Weak<HttpSession>,
    shared: std::sync::Weak<Shared>,
) {
    while let Some(text) = messages.recv().await {
        let (Some(session), Some(shared)) = (session.upgrade(), shared.upgrade()) else {
            break;
        };
        if session.session.is_closed() {
            break;
        }
        session.push(SESSION_STREAM, &text, false, &shared.config);
    }
}

/// A session id: 128 random bits from the operating system, hex.
pub(super) fn new_session_id() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // No randomness from the OS is a broken machine; still never reuse an id.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        bytes = nanos.to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Shared {
    /// The session a request names, checked.
    #[allow(clippy::result_large_err)]
    pub(super) fn find_session(
        &self,
        headers: &HeaderMap,
        verified: Option<&Verified>,
    ) -> Result<Arc<HttpSession>, Response> {
        let Some(id) = headers.get(SESSION_HEADER).and_then(|v| v.to_str().ok()) else {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "missing Mcp-Session-Id header: initialize first",
            ));
        };
        let found = lock(&self.sessions).get(id).cloned();
        let Some(session) = found else {
            return Err(error(StatusCode::NOT_FOUND, "unknown or expired session"));
        };
        // A session belongs to whoever opened it: another caller's token finds nothing.
        if session.subject.as_deref() != verified.map(|v| v.subject.as_str()) {
            return Err(error(StatusCode::NOT_FOUND, "unknown or expired session"));
        }
        if let Some(version) = headers.get(VERSION_HEADER) {
            let supported = version
                .to_str()
                .is_ok_and(|v| SUPPORTED_PROTOCOL_VERSIONS.contains(&v));
            if !supported {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    "unsupported MCP-Protocol-Version",
                ));
            }
        }
        session.touch();
        Ok(session)
    }

    #[allow(clippy::result_large_err)]
    pub(super) fn open_session(
        self: &Arc<Self>,
        verified: Option<Verified>,
        client: ClientKey,
    ) -> Result<Arc<HttpSession>, Response> {
        let (subject, extensions) = match verified {
            Some(v) => (Some(v.subject), v.extensions),
            None => (None, self.config.anonymous.clone()),
        };
        let (session, own_messages) = Session::new(&self.server, extensions);
        let mut streams = Streams {
            next: SESSION_STREAM,
            logs: HashMap::new(),
        };
        streams.logs.insert(SESSION_STREAM, StreamLog::new());
        let http_session = Arc::new(HttpSession {
            id: new_session_id(),
            session,
            subject,
            client,
            last_seen: Mutex::new(Instant::now()),
            permits: Arc::new(Semaphore::new(self.config.max_in_flight)),
            streams: Mutex::new(streams),
        });
        {
            // Counted and inserted under one lock: concurrent initializes cannot both
            // take the last place.
            let mut sessions = lock(&self.sessions);
            if http_session.client != ClientKey::Unknown {
                let theirs = sessions
                    .values()
                    .filter(|s| s.client == http_session.client)
                    .count();
                if theirs >= self.config.max_sessions_per_client {
                    return Err(retry_after(
                        error(
                            StatusCode::TOO_MANY_REQUESTS,
                            "too many sessions from this client: end one (DELETE) or wait for one to expire",
                        ),
                        "5",
                    ));
                }
            }
            if sessions.len() >= self.config.max_sessions {
                // Full: sessions end when deleted or idle too long; say when to try again.
                return Err(retry_after(
                    error(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "too many sessions: the server's session table is full; try again shortly",
                    ),
                    "5",
                ));
            }
            sessions.insert(http_session.id.clone(), Arc::clone(&http_session));
        }
        // The session's own messages go to its GET stream (kept until one is open).
        let weak = Arc::downgrade(&http_session);
        let shared = Arc::downgrade(self);
        tokio::spawn(pump_session_messages(own_messages, weak, shared));
        Ok(http_session)
    }

    /// Handles a request: a JSON answer when its handler sends nothing first, else an
    /// event stream.
    pub(super) async fn answer(
        self: &Arc<Self>,
        session: &Arc<HttpSession>,
        incoming: Incoming,
    ) -> Response {
        let Ok(permit) = Arc::clone(&session.permits).acquire_owned().await else {
            return error(StatusCode::SERVICE_UNAVAILABLE, "the session is closing");
        };
        let (related, mut items) = mpsc::unbounded_channel::<StreamItem>();
        let worker = session.session.clone();
        let mut task = tokio::spawn(async move {
            let answer = worker
                .handle_incoming(Ok(incoming), Related::Stream(related))
                .await;
            drop(permit);
            answer
        });
        // Wait for the first thing the request produces.
        let first = tokio::select! {
            biased;
            item = items.recv() => First::Item(item),
            answer = &mut task => First::Done(answer.ok().flatten()),
        };
        let mut early = Vec::new();
        match first {
            First::Done(answer) => {
                while let Ok(item) = items.try_recv() {
                    early.push(item);
                }
                if early.is_empty() {
                    return match answer {
                        Some(text) => json_response(StatusCode::OK, text),
                        // Cancelled by the client: nothing to answer.
                        None => {
                            let mut response = Response::new(Body::empty());
                            *response.status_mut() = StatusCode::ACCEPTED;
                            response
                        }
                    };
                }
                self.stream_response(session, early, items, Finish::Ready(answer))
            }
            First::Item(Some(item)) => {
                early.push(item);
                self.stream_response(session, early, items, Finish::Pending(task))
            }
            First::Item(None) => {
                // Every sender is gone, so the answer is (about to be) ready.
                let answer = task.await.ok().flatten();
                match answer {
                    Some(text) => json_response(StatusCode::OK, text),
                    None => {
                        let mut response = Response::new(Body::empty());
                        *response.status_mut() = StatusCode::ACCEPTED;
                        response
                    }
                }
            }
        }
    }

    /// Answers with an event stream: a priming event, then what the handler sends, then
    /// its answer.
    fn stream_response(
        self: &Arc<Self>,
        session: &Arc<HttpSession>,
        early: Vec<StreamItem>,
        items: mpsc::UnboundedReceiver<StreamItem>,
        finish: Finish,
    ) -> Response {
        let stream = session.open_stream();
        let prelude = self.priming(stream);
        let Some(connection) = session.attach(stream, None, Some(prelude)) else {
            return error(StatusCode::INTERNAL_SERVER_ERROR, "the stream vanished");
        };
        let config = self.config.clone();
        let owner = Arc::clone(session);
        tokio::spawn(async move {
            let mut items = items;
            for item in early {
                deliver(&owner, stream, item, &config);
            }
            let answer = match finish {
                Finish::Ready(answer) => answer,
                Finish::Pending(mut task) => loop {
                    tokio::select! {
                        biased;
                        Some(item) = items.recv() => deliver(&owner, stream, item, &config),
                        answer = &mut task => {
                            while let Ok(item) = items.try_recv() {
                                deliver(&owner, stream, item, &config);
                            }
                            break answer.ok().flatten();
                        }
                    }
                },
            };
            match answer {
                Some(text) => owner.push(stream, &text, true, &config),
                None => {
                    // Cancelled: the stream ends without an answer.
                    let mut streams = lock(&owner.streams);
                    if let Some(log) = streams.logs.get_mut(&stream) {
                        log.finished = true;
                        log.live = None;
                    }
                }
            }
        });
        self.event_stream_response(connection, &session.id)
    }

    fn priming(&self, stream: u64) -> Bytes {
        let retry = self.config.retry.as_millis();
        Bytes::from(format!("id: {stream}-0\nretry: {retry}\ndata: \n\n"))
    }

    fn event_stream_response(
        &self,
        connection: mpsc::UnboundedReceiver<Bytes>,
        session: &str,
    ) -> Response {
        let keep_alive = self.config.keep_alive;
        let shutdown = self.shutdown.clone();
        let body = futures_util::stream::unfold(
            (connection, shutdown),
            move |(mut connection, shutdown)| async move {
                let frame = tokio::select! {
                    frame = connection.recv() => frame?,
                    () = tokio::time::sleep(keep_alive) => Bytes::from_static(b": keep-alive\n\n"),
                    () = shutdown.cancelled() => return None,
                };
                Some((Ok::<Bytes, Infallible>(frame), (connection, shutdown)))
            },
        );
        with_session_header(sse_response(&self.stats, body), session)
    }

    pub(super) fn get(&self, headers: &HeaderMap, verified: Option<&Verified>) -> Response {
        if !accepts(headers, "text/event-stream") {
            return error(
                StatusCode::NOT_ACCEPTABLE,
                "Accept must list text/event-stream",
            );
        }
        let session = match self.find_session(headers, verified) {
            Ok(session) => session,
            Err(refusal) => return refusal,
        };
        let resume = headers.get("last-event-id").and_then(|v| v.to_str().ok());
        let (stream, after) = match resume {
            Some(last) => {
                let parsed = last
                    .split_once('-')
                    .and_then(|(s, n)| Some((s.parse::<u64>().ok()?, n.parse::<u64>().ok()?)));
                let Some((stream, seq)) = parsed else {
                    return error(StatusCode::BAD_REQUEST, "Last-Event-ID is not one of ours");
                };
                (stream, Some(seq))
            }
            None => {
                if session.has_live_stream(SESSION_STREAM) {
                    return error(
                        StatusCode::CONFLICT,
                        "this session's event stream is already open",
                    );
                }
                (SESSION_STREAM, None)
            }
        };
        let prelude = (after.is_none()).then(|| self.priming(SESSION_STREAM));
        match session.attach(stream, after, prelude) {
            Some(connection) => self.event_stream_response(connection, &session.id),
            None => error(StatusCode::BAD_REQUEST, "no such stream to resume"),
        }
    }

    pub(super) fn delete(&self, headers: &HeaderMap, verified: Option<&Verified>) -> Response {
        let session = match self.find_session(headers, verified) {
            Ok(session) => session,
            Err(refusal) => return refusal,
        };
        lock(&self.sessions).remove(&session.id);
        session.session.close();
        // Ends the session's open event streams.
        lock(&session.streams).logs.clear();
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::NO_CONTENT;
        response
    }
}
