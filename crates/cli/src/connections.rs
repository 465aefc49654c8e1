//! What `serve` allows a connection: how many may be open (in all, and from
//! one client address), how long one may sit idle between requests, how
//! long a request's head and its body may take to arrive.
//!
//! - `ConnectionLimiter` admits a connection or refuses it, by a global cap
//!   (`max_connections`, a semaphore) and a per-client cap
//!   (`max_connections_per_ip`) that a later guard can lower for one
//!   address (`limit_client`). The client is the peer address: Tollgate has
//!   no notion of a trusted proxy yet, so behind a reverse proxy every
//!   connection comes from the proxy's address and the per-client cap must
//!   be at least the proxy's connection pool.
//! - `HeadTimer` is hyper's timer for its header-read timeout, with two
//!   clocks: hyper starts it whenever it waits for a request head, also
//!   between the requests of a kept-alive connection, where its one
//!   duration would make the idle timeout and the header timeout one. Here
//!   the deadline is `idle_timeout` after hyper began to wait while no byte
//!   has come, and `header_read_timeout` after the first byte of the head
//!   (`ClockedIo` notes it).
//! - `TimedBody` fails a request body that has not arrived whole
//!   `body_read_timeout` after its head.
//!
//! The road not taken: a watchdog task per connection (a timer and a
//! wake-up each), and hyper's timeout alone (an idle kept-alive connection
//! would be dropped after the header timeout, seconds, and every client's
//! pool would reconnect that often).

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use hyper::body::{Body, Bytes, Frame, Incoming, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::ConnectionLimits;

/// Admits connections by the global and the per-client caps.
pub struct ConnectionLimiter {
    global: Arc<Semaphore>,
    max_connections: usize,
    per_client: usize,
    clients: Mutex<HashMap<IpAddr, Client>>,
}

#[derive(Debug, Default)]
struct Client {
    open: usize,
    /// A lower cap set for this address (`limit_client`).
    limit: Option<usize>,
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// `max_connections` are open.
    Full { max: usize },
    /// The client holds as many as it may (`max_connections_per_ip`, or a
    /// lower cap set for it).
    Client { open: usize, limit: usize, lowered: bool },
}

/// An admitted connection; dropping it frees its place.
pub struct Admission {
    limiter: Arc<ConnectionLimiter>,
    ip: IpAddr,
    _permit: OwnedSemaphorePermit,
}

impl ConnectionLimiter {
    pub fn new(max_connections: usize, per_client: usize) -> Arc<ConnectionLimiter> {
        Arc::new(ConnectionLimiter {
            global: Arc::new(Semaphore::new(max_connections)),
            max_connections,
            per_client,
            clients: Mutex::new(HashMap::new()),
        })
    }

    fn clients(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Client>> {
        self.clients.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Admits a connection from `ip`, or says why not.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Admission, Refused> {
        let permit =
            self.global.clone().try_acquire_owned().map_err(|_| Refused::Full { max: self.max_connections })?;
        let mut clients = self.clients();
        let client = clients.entry(ip).or_default();
        let limit = client.limit.map_or(self.per_client, |l| l.min(self.per_client));
        if client.open >= limit {
            let refused = Refused::Client { open: client.open, limit, lowered: client.limit.is_some() };
            if client.open == 0 && client.limit.is_none() {
                clients.remove(&ip);
            }
            return Err(refused);
        }
        client.open += 1;
        Ok(Admission { limiter: self.clone(), ip, _permit: permit })
    }

    /// Lowers the cap of one address (a guard's verdict): new connections
    /// from it are refused while it holds `limit` (0: all of them). Open
    /// connections are left alone. A cap above `max_connections_per_ip`
    /// has no effect.
    pub fn limit_client(&self, ip: IpAddr, limit: usize) {
        self.clients().entry(ip).or_default().limit = Some(limit);
    }

    /// Returns an address to `max_connections_per_ip`.
    pub fn unlimit_client(&self, ip: IpAddr) {
        let mut clients = self.clients();
        if let Some(c) = clients.get_mut(&ip) {
            c.limit = None;
            if c.open == 0 {
                clients.remove(&ip);
            }
        }
    }

    /// The connections open from `ip`.
    pub fn open_from(&self, ip: IpAddr) -> usize {
        self.clients().get(&ip).map_or(0, |c| c.open)
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut clients = self.limiter.clients();
        if let Some(c) = clients.get_mut(&self.ip) {
            c.open = c.open.saturating_sub(1);
            if c.open == 0 && c.limit.is_none() {
                clients.remove(&self.ip);
            }
        }
    }
}

/// Warns about refused connections at most once per `every`, with a count
/// of those refused in between, so that a flood does not flood the log.
pub struct RefusalLog {
    every: Duration,
    last: Option<Instant>,
    quiet: u64,
}

impl RefusalLog {
    pub fn new(every: Duration) -> RefusalLog {
        RefusalLog { every, last: None, quiet: 0 }
    }

    pub fn refused(&mut self, ip: IpAddr, why: Refused) {
        let now = Instant::now();
        if self.last.is_some_and(|t| now.duration_since(t) < self.every) {
            self.quiet += 1;
            return;
        }
        let more = std::mem::take(&mut self.quiet);
        self.last = Some(now);
        match why {
            Refused::Full { max } => tracing::warn!(
                client = %ip,
                refused_since_last_warning = more,
                "refused a connection: {max} connections are open, the limit (`max_connections`)"
            ),
            Refused::Client { open, limit, lowered: false } => tracing::warn!(
                client = %ip,
                refused_since_last_warning = more,
                "refused a connection: the client holds {open} open connections, the limit per client address \
                 ({limit}, `max_connections_per_ip`)"
            ),
            Refused::Client { open, limit, lowered: true } => tracing::warn!(
                client = %ip,
                refused_since_last_warning = more,
                "refused a connection: the client holds {open} open connections, the limit set for its address \
                 ({limit})"
            ),
        }
    }
}

/// When a connection's current request head began to arrive.
pub struct ConnClock {
    origin: Instant,
    /// Milliseconds after `origin` plus one; 0: no byte yet.
    head_started: AtomicU64,
}

impl ConnClock {
    pub fn new() -> Arc<ConnClock> {
        Arc::new(ConnClock { origin: Instant::now(), head_started: AtomicU64::new(0) })
    }

    fn read(&self) {
        if self.head_started.load(Relaxed) == 0 {
            self.head_started.store(self.origin.elapsed().as_millis() as u64 + 1, Relaxed);
        }
    }

    fn head_started(&self) -> Option<Instant> {
        match self.head_started.load(Relaxed) {
            0 => None,
            ms => Some(self.origin + Duration::from_millis(ms - 1)),
        }
    }
}

/// The connection's socket, noting when bytes arrive.
pub struct ClockedIo<T> {
    inner: T,
    clock: Arc<ConnClock>,
}

impl<T> ClockedIo<T> {
    pub fn new(inner: T, clock: Arc<ConnClock>) -> ClockedIo<T> {
        ClockedIo { inner, clock }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for ClockedIo<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.clock.read();
        }
        result
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ClockedIo<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// hyper's timer for one connection: its header-read deadline becomes the
/// idle timeout while no byte of the next head has come (module docs).
pub struct HeadTimer {
    clock: Arc<ConnClock>,
    limits: ConnectionLimits,
}

impl HeadTimer {
    pub fn new(clock: Arc<ConnClock>, limits: ConnectionLimits) -> HeadTimer {
        HeadTimer { clock, limits }
    }
}

impl hyper::rt::Timer for HeadTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(PlainSleep(Box::pin(tokio::time::sleep(duration))))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        // hyper asks for `now + header_read_timeout` as it starts to wait
        // for a head; the wait began then, and no byte of it has come.
        let waiting_since = deadline.checked_sub(self.limits.header_read_timeout).unwrap_or_else(Instant::now);
        self.clock.head_started.store(0, Relaxed);
        let first = waiting_since + self.limits.header_read_timeout.min(self.limits.idle_timeout);
        Box::pin(HeadSleep {
            clock: self.clock.clone(),
            waiting_since,
            limits: self.limits,
            sleep: Box::pin(tokio::time::sleep_until(first.into())),
        })
    }
}

struct PlainSleep(Pin<Box<tokio::time::Sleep>>);

impl Future for PlainSleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

impl hyper::rt::Sleep for PlainSleep {}

struct HeadSleep {
    clock: Arc<ConnClock>,
    waiting_since: Instant,
    limits: ConnectionLimits,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl Future for HeadSleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            ready!(self.sleep.as_mut().poll(cx));
            let due = match self.clock.head_started() {
                Some(first_byte) => first_byte.max(self.waiting_since) + self.limits.header_read_timeout,
                None => self.waiting_since + self.limits.idle_timeout,
            };
            if Instant::now() >= due {
                return Poll::Ready(());
            }
            self.sleep.as_mut().reset(due.into());
        }
    }
}

impl hyper::rt::Sleep for HeadSleep {}

/// A request body that must arrive whole within `body_read_timeout` of its head.
pub struct TimedBody {
    inner: Incoming,
    deadline: Pin<Box<tokio::time::Sleep>>,
    limit: Duration,
}

impl TimedBody {
    pub fn new(inner: Incoming, limit: Duration) -> TimedBody {
        TimedBody { inner, deadline: Box::pin(tokio::time::sleep(limit)), limit }
    }
}

/// The error of a body that did not arrive in time.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0} seconds (`body_read_timeout_secs`)")]
pub struct BodyTimeout(u64);

impl Body for TimedBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|r| r.map_err(Into::into)));
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(Box::new(BodyTimeout(this.limit.as_secs())))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn a_client_gets_its_share_and_no_more() {
        let limiter = ConnectionLimiter::new(10, 2);
        let a1 = limiter.admit(ip(1)).unwrap();
        let _a2 = limiter.admit(ip(1)).unwrap();
        assert_eq!(limiter.admit(ip(1)).err(), Some(Refused::Client { open: 2, limit: 2, lowered: false }));
        // Another address is not held up by the first.
        let _b = limiter.admit(ip(2)).unwrap();
        // A closed connection frees its place.
        drop(a1);
        assert_eq!(limiter.open_from(ip(1)), 1);
        let _a3 = limiter.admit(ip(1)).unwrap();
    }

    #[test]
    fn the_global_cap_holds_across_clients() {
        let limiter = ConnectionLimiter::new(3, 2);
        let held: Vec<_> = [1, 1, 2].into_iter().map(|i| limiter.admit(ip(i)).unwrap()).collect();
        assert_eq!(limiter.admit(ip(3)).err(), Some(Refused::Full { max: 3 }));
        // A refusal by the global cap leaves no trace of the client.
        assert_eq!(limiter.open_from(ip(3)), 0);
        drop(held);
        assert!(limiter.admit(ip(3)).is_ok());
        assert!(limiter.clients().len() <= 1, "closed clients are forgotten");
    }

    #[test]
    fn a_guard_can_lower_one_clients_cap_but_not_raise_it() {
        let limiter = ConnectionLimiter::new(10, 3);
        let first = limiter.admit(ip(1)).unwrap();
        limiter.limit_client(ip(1), 1);
        assert_eq!(limiter.admit(ip(1)).err(), Some(Refused::Client { open: 1, limit: 1, lowered: true }));
        // Other addresses keep the configured cap.
        let others: Vec<_> = (0..3).map(|_| limiter.admit(ip(2)).unwrap()).collect();
        // The lowered cap outlives the client's connections...
        drop(first);
        let _again = limiter.admit(ip(1)).unwrap();
        assert!(limiter.admit(ip(1)).is_err());
        // ...until it is lifted; a cap above the configured one is the configured one.
        limiter.unlimit_client(ip(1));
        limiter.limit_client(ip(2), 100);
        assert_eq!(limiter.admit(ip(2)).err(), Some(Refused::Client { open: 3, limit: 3, lowered: true }));
        let _more = limiter.admit(ip(1)).unwrap();
        drop(others);
    }
}
