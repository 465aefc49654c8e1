//! The simulator's HTTP/1.1 client: at most `connections` connections to one
//! loopback address, reused between requests, each request bounded in time.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::{SendRequest, handshake};
use hyper_util::rt::TokioIo;
use tokio::sync::Semaphore;

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to `{0}`: {1}")]
    Connect(SocketAddr, std::io::Error),
    #[error("http: {0}")]
    Http(#[from] hyper::Error),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("`{0}` is not a loopback address: the simulator only ever sends to this machine")]
    NotLoopback(SocketAddr),
}

/// A response, its body read whole.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    addr: SocketAddr,
    permits: Semaphore,
    idle: Mutex<Vec<SendRequest<Full<Bytes>>>>,
    timeout: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("addr", &self.inner.addr).finish()
    }
}

impl Client {
    /// A client of the server at `addr`, which must be on loopback.
    pub fn new(addr: SocketAddr, connections: usize, timeout: Duration) -> Result<Client, ClientError> {
        if !addr.ip().is_loopback() {
            return Err(ClientError::NotLoopback(addr));
        }
        Ok(Client {
            inner: Arc::new(Inner {
                addr,
                permits: Semaphore::new(connections.max(1)),
                idle: Mutex::new(Vec::new()),
                timeout,
            }),
        })
    }

    /// The `Host` (and `@authority`) of every request.
    pub fn authority(&self) -> String {
        self.inner.addr.to_string()
    }

    pub async fn send(&self, request: http::Request<Full<Bytes>>) -> Result<Reply, ClientError> {
        let inner = &self.inner;
        let _permit = inner.permits.acquire().await.map_err(|_| ClientError::Timeout(inner.timeout))?;
        let pooled = inner.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut sender = match pooled {
            Some(s) if !s.is_closed() => s,
            _ => self.connect().await?,
        };
        let answer = async {
            sender.ready().await?;
            let response = sender.send_request(request).await?;
            let (parts, body) = response.into_parts();
            let body = body.collect().await?.to_bytes();
            Ok::<_, hyper::Error>(Reply { status: parts.status.as_u16(), headers: parts.headers, body })
        };
        let reply =
            tokio::time::timeout(inner.timeout, answer).await.map_err(|_| ClientError::Timeout(inner.timeout))??;
        let reusable = reply.header("connection").is_none_or(|c| !c.eq_ignore_ascii_case("close"));
        if reusable && !sender.is_closed() {
            inner.idle.lock().unwrap_or_else(|e| e.into_inner()).push(sender);
        }
        Ok(reply)
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, ClientError> {
        let addr = self.inner.addr;
        let stream = tokio::net::TcpStream::connect(addr).await.map_err(|e| ClientError::Connect(addr, e))?;
        let _ = stream.set_nodelay(true);
        let (sender, connection) = handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(sender)
    }
}
