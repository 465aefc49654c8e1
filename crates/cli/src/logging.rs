//! The process's log: `tracing` events written to stderr, one line each, as
//! text or as JSON objects (`log_format`), filtered by `RUST_LOG` if set,
//! else by `log_level`.
//!
//! Logs go to stderr; what a command prints for its user goes to stdout and
//! does not pass through here. A failed write (a closed or full stderr) is
//! dropped: the server keeps serving, where `eprintln!` would panic.
//!
//! The JSON format keeps each span's fields as a JSON object that fields
//! recorded later are appended to (`AppendJson`), where tracing-subscriber's
//! own `JsonFields` decodes and re-encodes the object for every field
//! recorded: the request span records its app, purpose, seq, status and
//! latency as they become known, and decoding JSON on every request would
//! cost more than the rest of the log together.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::{FormatFields, JsonFields, Writer};
use tracing_subscriber::fmt::{FormattedFields, MakeWriter};

use crate::config::{LogConfig, LogFormat};

/// Installs the subscriber for the process (once; later calls keep the first).
pub fn init(config: &LogConfig) {
    // `RUST_LOG` wins when set; `log_level` was validated with the configuration.
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(Stderr)
        .with_target(true)
        .log_internal_errors(false);
    let _ = match config.format {
        LogFormat::Text => builder.with_ansi(false).try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .fmt_fields(AppendJson)
            .try_init(),
    };
}

/// stderr, whose write errors are ignored by the subscriber
/// (`log_internal_errors(false)`).
struct Stderr;

impl<'a> MakeWriter<'a> for Stderr {
    type Writer = std::io::Stderr;
    fn make_writer(&'a self) -> Self::Writer {
        std::io::stderr()
    }
}

/// A span's fields as one JSON object, to which fields recorded later are
/// appended without decoding it.
#[derive(Debug, Default, Clone, Copy)]
pub struct AppendJson;

impl<'writer> FormatFields<'writer> for AppendJson {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> std::fmt::Result {
        JsonFields::new().format_fields(writer, fields)
    }

    fn add_fields(
        &self,
        current: &'writer mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> std::fmt::Result {
        let text = &mut current.fields;
        if !(text.starts_with('{') && text.ends_with('}')) {
            // Nothing recorded yet: a new object.
            text.clear();
            return JsonFields::new().format_fields(Writer::new(text), fields);
        }
        // `{"a":1}` and `{"b":2}` make `{"a":1,"b":2}`, in place.
        text.pop();
        let at = text.len();
        JsonFields::new().format_fields(Writer::new(text), fields)?;
        if text.len() == at + 2 {
            // `{}`: nothing to add.
            text.truncate(at);
            text.push('}');
        } else if at == 1 {
            // The object was `{}`.
            text.remove(at);
        } else {
            text.replace_range(at..=at, ",");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appended_fields_keep_one_valid_object() {
        // Drive the formatter the way the fmt layer does, through a subscriber
        // writing to a buffer, and check every line is one JSON object.
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Buf(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let out = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .fmt_fields(AppendJson)
            .with_writer(move || buf.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!(
                "request",
                id = "a-1",
                app = tracing::field::Empty,
                purpose = tracing::field::Empty,
                status = tracing::field::Empty
            );
            span.record("app", 7u64);
            span.record("purpose", "display \"quoted\"");
            span.record("status", 200u16);
            let _enter = span.enter();
            tracing::warn!(detail = "x", "inside");
        });
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["span"]["id"], "a-1", "{text}");
        assert_eq!(line["span"]["app"], 7, "{text}");
        assert_eq!(line["span"]["purpose"], "display \"quoted\"", "{text}");
        assert_eq!(line["span"]["status"], 200, "{text}");
        assert_eq!(line["detail"], "x", "{text}");
    }
}
