//! The guard: who a client is, what its requests look like, and what the
//! signals of harvesting say about it.
//!
//! For every request the guard identifies the client (`identity`: its
//! address behind trusted proxies, network prefix, autonomous system and
//! network class, user agent, cookie continuity, verified crawler identity),
//! attributes it to an actor (clients that share fingerprints are one
//! actor), updates the actor's counters and computes the signals that fire
//! (`signals`), and hands the guard policy a `GuardClass`
//! (`tollgate_domain::guard`). It does no HTTP of its own: the API's
//! middleware calls it, answers with what the guard policy chose, and
//! records `GuardFacts` in the ledger.

pub mod actors;
pub mod counters;
pub mod identity;
pub mod signals;
pub mod sketch;

pub use actors::{ActorId, ActorKind, Basis};
pub use counters::{CounterKey, Counters, LocalCounters, LocalSizes, Ns, Window};
pub use identity::{
    Cidr, Client, CrawlerConfig, CrawlerKind, IdentityConfig, Prefix, PrefixTable, Resolver, Verified, VerifiedBy,
};
pub use signals::{Access, Guard, Observation, QuotaUse, SignalConfig};
