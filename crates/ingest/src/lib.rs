//! Getting a platform into Tollgate: importing accounts and posts from
//! JSON-lines files (Tollgate's own format, or X API v2 pages as twarc2
//! archives them), and generating a realistic synthetic platform to try
//! Tollgate on. The formats and the synthetic data are described in
//! `docs/import.md`.

mod generate;
mod import;
mod lang;
mod progress;
mod rng;
mod twarc;

pub use generate::{
    DEACTIVATED_SHARE, DEFAULT_START, DELETED_SHARE, GenerateError, GenerateOptions, GenerateSummary, Generator,
    MINOR_SHARE, NO_AI_SHARE, PREFERENCE_RATES, PROTECTED_SHARE, PreferenceRate, REPLY_SHARE, SUSPENDED_SHARE,
    ZIPF_EXPONENT, demo_defaults, generate,
};
pub use import::{ImportError, ImportOptions, ImportSummary, import, import_with};
pub use progress::{NoProgress, Progress, TerminalProgress};
