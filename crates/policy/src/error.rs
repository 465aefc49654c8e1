//! Why a policy pack was refused. Every message names the file (and, where
//! Cedar reports one, the line and column) and carries Cedar's own diagnostic
//! text, so that an operator can fix a policy directory from the message alone.

use std::path::PathBuf;

/// A policy pack that cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The built-in schema itself is broken; only a build of Tollgate with an
    /// edited schema file can hit this.
    #[error("the policy schema is invalid: {0}")]
    Schema(String),

    #[error("cannot read policy directory `{}`: {source}", .dir.display())]
    ReadDir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot read policy file `{}`: {source}", .path.display())]
    ReadFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// `replace` mode with nothing to replace the pack with would refuse every
    /// request with `not_permitted`; that is almost certainly a wrong path.
    #[error("policy directory `{}` holds no `.cedar` files, so `replace` mode would leave no policies", .dir.display())]
    NoPolicies { dir: PathBuf },

    /// Cedar could not parse a file; `diagnostics` lists every error Cedar
    /// reported, one per line, each with its `file:line:column`.
    #[error("cannot parse `{file}`:\n{diagnostics}")]
    Parse { file: String, diagnostics: String },

    #[error(
        "`{file}` declares the template `{id}`: templates (policies with `?principal` or `?resource`) are not supported"
    )]
    Template { file: String, id: String },

    #[error(
        "the forbid policy `{id}` at `{file}` has no `@reason(\"...\")` annotation: every forbid must name the snake_case reason code it withholds with"
    )]
    MissingReason { id: String, file: String },

    #[error(
        "the guard policy `{id}` at `{file}` has no `@reason(\"...\")` annotation: every guard policy must name the snake_case reason code its answer is given for"
    )]
    MissingGuardReason { id: String, file: String },

    #[error(
        "the policy `{id}` at `{file}` has the reason `{code}`: a reason code is 1 to 64 lower-case ASCII letters, digits or underscores"
    )]
    InvalidReason { id: String, file: String, code: String },

    #[error("the policy `{id}` at `{file}` has the precedence `{value}`: expected a whole number such as `100`")]
    InvalidPrecedence { id: String, file: String, value: String },

    #[error("the policy id `{id}` is used twice: at `{first}` and at `{second}`")]
    DuplicateId { id: String, first: String, second: String },

    #[error("the policy id `{id}` at `{file}` is not usable: {message}")]
    InvalidId { id: String, file: String, message: String },

    /// Strict validation against the schema failed; one line per problem,
    /// each naming the policy id, its `file:line:column` and Cedar's message.
    #[error("policies do not validate against the schema:\n{}", .problems.join("\n"))]
    Validation { problems: Vec<String> },
}
