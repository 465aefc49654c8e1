//! One module per subcommand.

pub mod agreement;
pub mod app;
pub mod demo;
pub mod generate;
pub mod import;
pub mod ledger;
pub mod ledger_query;
pub mod policy;
pub mod serve;

/// Prints `value` as pretty JSON on stdout: the stable `--json` output.
pub fn print_json(value: &serde_json::Value) {
    println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
}
