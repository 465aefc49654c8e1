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
    let ledger = LedgerWriter::start(store.clone(), &config.data_dir).map_err(|e| Failure::failed(e.to_string()))?;
    let ledger_key = ledger.public_key();
    let deliverer = Arc::new(Deliverer::new(policy.clone(), ledger, config.consent.clone()));
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
    let state = Arc::new(ApiState::new(
        store,
        deliverer,
        ApiConfig {
            public_url: config.public_url.clone(),
            internal_token: Some(internal_token),
            rate_limits: config.rate_limits,
        },
    ));
    state.publish_ledger_key(ledger_key);
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
