//! `tollgate serve`: validate the policy, open the store and the ledger, serve.

use std::sync::Arc;

use tollgate_api::{ApiConfig, ApiState};
use tollgate_deliver::Deliverer;
use tollgate_ledger::LedgerWriter;
use tollgate_store::Store;

use crate::config::Config;
use crate::retention::{PRUNE_FIRST_DELAY, PRUNE_INTERVAL, PruneSchedule};
use crate::{Failure, runtime};

pub fn run(config: &Config) -> Result<(), Failure> {
    let store = runtime::open_store(config)?;
    serve(config, store, |_| {})
}

/// Serves until SIGINT or SIGTERM; `ready` runs once the socket is bound.
pub fn serve(config: &Config, store: Arc<dyn Store>, ready: impl FnOnce(&str)) -> Result<(), Failure> {
    // INVARIANT (valid-policy): the server never starts on a policy that does not validate.
    let policy = Arc::new(runtime::load_policy(config)?);
    runtime::ensure_agreement(store.as_ref())?;
    let internal_token = runtime::internal_token(config)?;
    let (deliverer, ledger_key) = deliverer(config, &store, &policy)?;
    // Expired entries are pruned daily on a thread of their own, beside the writer.
    let _retention = config
        .ledger_retention_days
        .map(|days| {
            let ledger = tollgate_ledger::Ledger::new(store.clone(), &config.data_dir);
            let log = |m: &str| eprintln!("tollgate: {m}");
            PruneSchedule::start(ledger, days, PRUNE_FIRST_DELAY, PRUNE_INTERVAL, log)
                .map_err(|e| Failure::failed(format!("cannot start the scheduled ledger prune: {e}")))
        })
        .transpose()?;
    let cache = tollgate_cache::PlatformCache::new(store, config.cache)
        .map_err(|e| Failure::failed(format!("cannot read the store's change log: {e}")))?;
    let state = Arc::new(ApiState::new(
        Arc::new(cache),
        deliverer,
        ApiConfig {
            public_url: config.public_url.clone(),
            internal_token: Some(internal_token),
            rate_limits: config.rate_limits,
        },
    ));
    if let Some(key) = ledger_key {
        state.publish_ledger_key(key);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::failed(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| Failure::failed(format!("cannot listen on {}: {e}", config.listen)))?;
        eprintln!(
            "tollgate: serving on http://{} (policy {}, data in `{}`)",
            config.listen,
            &policy.version()[..12],
            config.data_dir.display()
        );
        ready(&config.public_url);
        axum::serve(listener, tollgate_api::router(state))
            .with_graceful_shutdown(shutdown())
            .await
            .map_err(|e| Failure::failed(format!("server: {e}")))
    })
}

/// The one decision and recording path every channel releases through, and
/// the ledger's public key.
fn deliverer(
    config: &Config,
    store: &Arc<dyn Store>,
    policy: &Arc<tollgate_policy::PolicyEngine>,
) -> Result<(Arc<Deliverer>, Option<tollgate_ledger::PublicKey>), Failure> {
    #[cfg(feature = "bench-unrecorded")]
    if std::env::var_os("TOLLGATE_BENCH_UNRECORDED").is_some_and(|v| v == "1") {
        eprintln!(
            "tollgate: WARNING: serving WITHOUT the ledger (a benchmark build with TOLLGATE_BENCH_UNRECORDED=1): \
             nothing released is recorded"
        );
        return Ok((Arc::new(Deliverer::unrecorded(policy.clone(), config.consent.clone())), None));
    }
    let ledger = LedgerWriter::start(store.clone(), &config.data_dir).map_err(|e| Failure::failed(e.to_string()))?;
    let key = ledger.public_key();
    Ok((Arc::new(Deliverer::new(policy.clone(), ledger, config.consent.clone())), Some(key)))
}

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
    eprintln!("tollgate: shutting down");
}
