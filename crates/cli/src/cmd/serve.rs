//! `tollgate serve`: validate the policy, open the store and the ledger, serve
//! the API and the settings pages.

use std::sync::Arc;

use tollgate_api::{ApiConfig, ApiState};
use tollgate_deliver::Deliverer;
use tollgate_ledger::LedgerWriter;
use tollgate_store::Store;

use crate::config::{Config, ConnectionLimits};
use crate::connections::{ClockedIo, ConnClock, ConnectionLimiter, HeadTimer, RefusalLog, TimedBody};
use crate::retention::{PRUNE_FIRST_DELAY, PRUNE_INTERVAL, PruneSchedule};
use crate::{Failure, runtime};

pub fn run(config: &Config) -> Result<(), Failure> {
    let store = runtime::open_store(config)?;
    serve(config, store, |_| {})
}

/// The terms' configuration: a `robots_agents_file` that cannot be read or
/// is not `robots.json`'s format refuses the start, naming the file.
fn terms_config(config: &Config) -> Result<tollgate_api::terms::TermsConfig, Failure> {
    let ai_agents = match &config.robots_agents_file {
        Some(path) => tollgate_api::terms::load_agents(path).map_err(|e| Failure::invalid(e.to_string()))?,
        None => tollgate_api::terms::builtin_agents(),
    };
    Ok(tollgate_api::terms::TermsConfig {
        ai_agents,
        partner_program_url: config.partner_program_url.clone(),
        // Crawls are sold only where the guard can verify who buys them.
        crawl_price: config.guard.enabled.then_some(config.guard_crawl_price),
    })
}

/// The guard, from its configuration keys and files, unless it is off. A
/// file that cannot be read, an address block that is not one, or a guard
/// policy that does not validate refuses the start, naming what is wrong.
fn guard_runtime(config: &Config, state: &ApiState) -> Result<Option<tollgate_api::GuardRuntime>, Failure> {
    use tollgate_api::guard_response::{ChallengeKey, GuardResponses, Tarpit};
    let g = &config.guard;
    // INVARIANT (valid-policy): the guard policy validates, or nothing starts.
    let policy = runtime::load_guard_policy(config)?;
    if !g.enabled {
        return Ok(None);
    }
    let invalid = |e: &dyn std::fmt::Display| Failure::invalid(e.to_string());
    let trusted_proxies = g
        .trusted_proxies
        .iter()
        .map(|c| c.parse::<tollgate_guard::Cidr>().map_err(|e| invalid(&format!("guard_trusted_proxies: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let prefix_table = match &g.prefix_table {
        Some(path) => tollgate_guard::PrefixTable::load(path).map_err(|e| invalid(&e))?,
        None => tollgate_guard::PrefixTable::default(),
    };
    let crawlers = match &g.crawlers {
        Some(path) => tollgate_guard::identity::load_crawlers(path).map_err(|e| invalid(&e))?,
        None => Vec::new(),
    };
    let key = runtime::guard_key(config)?;
    let derive = |label: &[u8]| -> [u8; 32] {
        use hmac::Mac;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
        mac.update(label);
        mac.finalize().into_bytes().into()
    };
    let mut identity = tollgate_guard::IdentityConfig::new(derive(b"tollgate guard cookies"));
    identity.trusted_proxies = trusted_proxies;
    identity.prefix_table = prefix_table;
    identity.ai_agents = state.terms().ai_agents().map(|(token, purpose)| (token.to_owned(), purpose)).collect();
    let mut signals = tollgate_guard::SignalConfig::default();
    for c in &crawlers {
        if !signals.verifying_crawlers.iter().any(|t| t.eq_ignore_ascii_case(&c.agent)) {
            signals.verifying_crawlers.push(c.agent.clone());
        }
    }
    identity.crawlers = crawlers;
    let seed = u64::from_le_bytes(derive(b"tollgate guard counters")[..8].try_into().expect("8 bytes"));
    let counters = Arc::new(tollgate_guard::LocalCounters::new(tollgate_guard::LocalSizes::default(), seed));
    Ok(Some(tollgate_api::GuardRuntime::new(
        tollgate_guard::Resolver::new(identity),
        tollgate_guard::Guard::new(signals, counters, derive(b"tollgate guard links")),
        policy,
        GuardResponses::new(&config.public_url, config.partner_program_url.as_deref(), config.guard_crawl_price),
        Tarpit::new(g.tarpit_max_concurrent, std::time::Duration::from_secs(g.tarpit_seconds)),
        ChallengeKey::new(&derive(b"tollgate guard challenges")),
    )))
}

/// Serves until SIGINT or SIGTERM; `ready` runs once the socket is bound.
pub fn serve(config: &Config, store: Arc<dyn Store>, ready: impl FnOnce(&str)) -> Result<(), Failure> {
    // INVARIANT (valid-policy): the server never starts on a policy that does not validate.
    let policy = Arc::new(runtime::load_policy(config)?);
    let terms = terms_config(config)?;
    runtime::ensure_agreement(store.as_ref())?;
    let internal_token = runtime::internal_token(config)?;
    let ledger_db = runtime::open_ledger_db(config)?;
    let (deliverer, ledger_key) = deliverer(config, &ledger_db, &policy)?;
    // Expired entries are pruned daily on a thread of their own, beside the writer.
    let _retention = config
        .ledger_retention_days
        .map(|days| {
            let ledger = tollgate_ledger::Ledger::new(ledger_db.clone(), &config.data_dir);
            let log = |m: &str| tracing::info!(target: "tollgate::retention", "{m}");
            PruneSchedule::start(ledger, days, PRUNE_FIRST_DELAY, PRUNE_INTERVAL, log)
                .map_err(|e| Failure::failed(format!("cannot start the scheduled ledger prune: {e}")))
        })
        .transpose()?;
    let cache = tollgate_cache::PlatformCache::new(store, config.cache)
        .map_err(|e| Failure::failed(format!("cannot read the store's change log: {e}")))?;
    let state = ApiState::new(
        Arc::new(cache),
        ledger_db,
        deliverer,
        ApiConfig {
            public_url: config.public_url.clone(),
            internal_token: Some(internal_token),
            rate_limits: config.rate_limits,
            http_limits: config.http_limits,
            access_log: config.log.access,
            health: config.health,
        },
    )
    .with_terms(&terms);
    let state = Arc::new(match guard_runtime(config, &state)? {
        Some(guard) => state.with_guard(guard),
        None => state,
    });
    // A node is its ledger: it opens notices for the deliveries its own
    // ledger recorded, and is named by the ledger's key.
    let node = ledger_key.as_ref().map_or_else(|| "unrecorded".to_owned(), |key| key.hex()[..16].to_owned());
    if let Some(key) = ledger_key {
        state.publish_ledger_key(key);
    }
    // The settings page reads and writes through the same store the API's
    // cache follows, so what it changes is in force for the next request.
    let settings = tollgate_web::router(Arc::new(tollgate_web::WebState::new(
        state.store.clone(),
        state.ledger_db.clone(),
        state.deliverer.defaults().clone(),
        runtime::web_config(config)?,
    )));
    // The public pages release through the same cache and deliverer as the API.
    let pages = tollgate_web::pages_router(Arc::new(tollgate_web::PagesState::new(
        state.cache.clone(),
        state.deliverer.clone(),
        &config.public_url,
    )));
    let _notices = NoticeWorker::start(Arc::clone(&state), node, config.deadlines)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::failed(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| Failure::failed(format!("cannot listen on {}: {e}", config.listen)))?;
        tracing::info!(
            listen = %config.listen,
            policy = &policy.version()[..12],
            data_dir = %config.data_dir.display(),
            "serving on http://{}",
            config.listen
        );
        ready(&config.public_url);
        let limiter =
            ConnectionLimiter::new(config.connections.max_connections, config.connections.max_connections_per_ip);
        // Webhooks are pushed from this process as notices open.
        let _webhooks = tollgate_api::start_webhooks(state.clone());
        // A compliance stream never finishes on its own: stopping ends each
        // (with a line naming where to resume) so that the connections drain.
        let stopping = state.clone();
        let stop = async move {
            shutdown().await;
            stopping.close_streams();
        };
        let router = tollgate_api::router_with_web(state, Some(settings), Some(pages));
        serve_http(listener, router, &config.http_limits, config.connections, limiter, stop).await;
        Ok(())
    })
}

/// Opens the notices of new events (`tollgate_api::obligations`) on a
/// thread of its own, checking the change log's end every
/// `NOTICE_INTERVAL`: a check costs microseconds when nothing changed.
/// Stops with the server (when dropped).
struct NoticeWorker {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

const NOTICE_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);

impl NoticeWorker {
    fn start(
        state: Arc<ApiState>,
        node: String,
        deadlines: tollgate_api::obligations::Deadlines,
    ) -> Result<NoticeWorker, Failure> {
        use std::sync::atomic::Ordering;
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("notices".into())
            .spawn(move || {
                let mut seen = None;
                let mut failing = false;
                while !stopped.load(Ordering::Relaxed) {
                    let seq = state.store.change_seq().ok();
                    if seq.is_some() && seq != seen {
                        let noticer = tollgate_api::obligations::Noticer {
                            node: &node,
                            store: state.store.as_ref(),
                            ledger: &state.ledger_db,
                            defaults: state.deliverer.defaults(),
                            deadlines,
                        };
                        // Streams move on only as far as every node has examined.
                        match noticer.open_notices().and_then(|_| Ok(state.store.notices_opened_upto()?)) {
                            Ok(complete) => {
                                seen = seq;
                                failing = false;
                                state.notices_opened(complete);
                            }
                            // Tried again at the next interval; logged once per failing spell.
                            Err(e) if !failing => {
                                failing = true;
                                tracing::error!(target: "tollgate::notices", "opening compliance notices: {e}");
                            }
                            Err(_) => {}
                        }
                    }
                    std::thread::sleep(NOTICE_INTERVAL);
                }
            })
            .map_err(|e| Failure::failed(format!("cannot start the notices thread: {e}")))?;
        Ok(NoticeWorker { stop, thread: Some(thread) })
    }
}

impl Drop for NoticeWorker {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Serves HTTP/1.1 on `listener` until `stop` completes, then lets every open
/// connection finish its request.
///
/// hyper directly, not `axum::serve`, because `axum::serve` takes no
/// connection settings: the request head's hard limits are set here, above
/// the limits `tollgate_api` checks and answers in X's JSON shape (see
/// `HttpLimits::hard_head_bytes`), so that the documented limits, not hyper's
/// defaults, decide what is refused; and so are the connection limits and
/// timeouts (`crate::connections`).
pub async fn serve_http(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    limits: &tollgate_api::HttpLimits,
    conn_limits: ConnectionLimits,
    limiter: Arc<ConnectionLimiter>,
    stop: impl std::future::Future<Output = ()>,
) {
    use hyper_util::rt::TokioIo;
    use tower::ServiceExt as _;

    let body_timeout = conn_limits.body_read_timeout;
    // Each connection's requests carry its peer's address (`ConnectInfo`),
    // which the guard reads to know the client, or the proxy it came through.
    let service = move |peer: std::net::SocketAddr| {
        let router = router.clone();
        hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            // Only a request with a body gets the body's deadline (a timer).
            let mut request = if hyper::body::Body::is_end_stream(request.body()) {
                request.map(axum::body::Body::new)
            } else {
                request.map(|b| axum::body::Body::new(TimedBody::new(b, body_timeout)))
            };
            request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
            router.clone().oneshot(request)
        })
    };
    let mut refusals = RefusalLog::new(std::time::Duration::from_secs(10));
    let mut http = hyper::server::conn::http1::Builder::new();
    let head = limits.hard_head_bytes();
    http.max_header_size(head).max_buf_size(head.max(16 << 10));
    // hyper keeps up to 100 headers on the stack; a larger limit moves them
    // to the heap, so it is set only when needed.
    if limits.hard_headers() > 100 {
        http.max_headers(limits.hard_headers());
    }
    let (closing, closed) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        let stream = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, say: wait instead of spinning.
                    tracing::warn!("accepting a connection: {e}");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    continue;
                }
            },
        };
        let (stream, peer) = stream;
        let admission = match limiter.admit(peer.ip()) {
            Ok(admission) => admission,
            Err(why) => {
                // Told, if the socket takes it at once, and closed.
                let _ = stream.try_write(REFUSED);
                drop(stream);
                refusals.refused(peer.ip(), why);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let clock = ConnClock::new();
        let mut builder = http.clone();
        builder.timer(HeadTimer::new(clock.clone(), conn_limits)).header_read_timeout(conn_limits.header_read_timeout);
        let connection = builder.serve_connection(TokioIo::new(ClockedIo::new(stream, clock)), service(peer));
        let mut closed = closed.clone();
        connections.spawn(async move {
            let _admission = admission;
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = closed.changed() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    let _ = closing.send(true);
    while connections.join_next().await.is_some() {}
}

/// The one decision and recording path every channel releases through, and
/// the ledger's public key.
fn deliverer(
    config: &Config,
    ledger_db: &Arc<tollgate_ledger::LedgerDb>,
    policy: &Arc<tollgate_policy::PolicyEngine>,
) -> Result<(Arc<Deliverer>, Option<tollgate_ledger::PublicKey>), Failure> {
    #[cfg(feature = "bench-unrecorded")]
    if std::env::var_os("TOLLGATE_BENCH_UNRECORDED").is_some_and(|v| v == "1") {
        tracing::warn!(
            "serving WITHOUT the ledger (a benchmark build with TOLLGATE_BENCH_UNRECORDED=1): nothing released is \
             recorded"
        );
        return Ok((Arc::new(Deliverer::unrecorded(policy.clone(), config.consent.clone())), None));
    }
    let ledger =
        LedgerWriter::start(ledger_db.clone(), &config.data_dir).map_err(|e| Failure::failed(e.to_string()))?;
    let key = ledger.public_key();
    Ok((Arc::new(Deliverer::new(policy.clone(), ledger, config.consent.clone())), Some(key)))
}

/// What a refused connection is told before it is closed.
const REFUSED: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
