//! One module per subcommand.

pub mod agreement;
pub mod app;
pub mod compliance;
pub mod demo;
pub mod events;
pub mod generate;
pub mod guard;
pub mod import;
pub mod ledger;
pub mod ledger_query;
pub mod policy;
pub mod serve;
pub mod settings;

/// Prints `value` as pretty JSON on stdout: the stable `--json` output.
/// (`Value`'s alternate `Display` is its pretty form, and cannot fail: its
/// map keys are strings.)
pub fn print_json(value: &serde_json::Value) {
    outln!("{value:#}");
}
