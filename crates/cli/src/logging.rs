//! The process's log: `tracing` events written to stderr, one line each, as
//! text or as JSON objects (`log_format`), filtered by `RUST_LOG` if set,
//! else by `log_level`.
//!
//! Logs go to stderr; what a command prints for its user goes to stdout and
//! does not pass through here. A failed write (a closed or full stderr) is
//! dropped: the server keeps serving, where `eprintln!` would panic.
//!
//! Lines below `warn` (the access log, above all) are gathered in a buffer
//! that is written out when it holds `FLUSH_BYTES`, every `FLUSH_INTERVAL`
//! (a thread of its own), before any warning or error, and at exit
//! (`flush`): one `write` per line cost 1.3 µs, against 0.8 µs buffered,
//! 2.2 % of a single post's CPU (BENCHMARKS.md, "Access log").
//! What a `kill -9` cuts off is at most the last `FLUSH_INTERVAL` of
//! `info` lines; warnings and errors are written at once.
//!
//! The JSON format keeps each span's fields as a JSON object that fields
//! recorded later are appended to (`AppendJson`), where tracing-subscriber's
//! own `JsonFields` decodes and re-encodes the object for every field
//! recorded: the request span records its app, purpose, seq, status and
//! latency as they become known, and decoding JSON on every request would
//! cost more than the rest of the log together.

use std::io::Write as _;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::{FormatFields, JsonFields, Writer};
use tracing_subscriber::fmt::{FormattedFields, MakeWriter};

use crate::config::{LogConfig, LogFormat};

/// Buffered lines are written out once they take this many bytes...
const FLUSH_BYTES: usize = 64 << 10;
/// ...or once this long has passed.
const FLUSH_INTERVAL: Duration = Duration::from_millis(200);

/// Installs the subscriber for the process (once; later calls keep the first).
pub fn init(config: &LogConfig) {
    // `RUST_LOG` wins when set; `log_level` was validated with the configuration.
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(Stderr::start())
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

/// The buffer of lines not yet written to stderr.
struct Pending {
    lines: Mutex<Vec<u8>>,
    /// Held while a batch is written, so that batches keep their order.
    out: Mutex<()>,
}

static PENDING: OnceLock<Pending> = OnceLock::new();

impl Pending {
    /// Writes out what is buffered, then `line` if given.
    fn write_out(&self, mut lines: std::sync::MutexGuard<'_, Vec<u8>>, line: Option<&[u8]>) {
        let out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let batch = std::mem::replace(&mut *lines, Vec::with_capacity(FLUSH_BYTES));
        drop(lines);
        // Errors are dropped: see the module's comment.
        let mut stderr = std::io::stderr().lock();
        let _ = stderr.write_all(&batch);
        if let Some(line) = line {
            let _ = stderr.write_all(line);
        }
        drop(out);
    }

    fn lines(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        self.lines.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Writes out the buffered log lines (before the process exits).
pub fn flush() {
    if let Some(p) = PENDING.get() {
        p.write_out(p.lines(), None);
    }
}

/// stderr, buffered below `warn` (module docs).
struct Stderr(&'static Pending);

impl Stderr {
    fn start() -> Stderr {
        let mut started = false;
        let pending = PENDING.get_or_init(|| {
            started = true;
            Pending { lines: Mutex::new(Vec::with_capacity(FLUSH_BYTES)), out: Mutex::new(()) }
        });
        if started {
            let _ = std::thread::Builder::new().name("log-flush".into()).spawn(|| {
                loop {
                    std::thread::sleep(FLUSH_INTERVAL);
                    flush();
                }
            });
        }
        Stderr(pending)
    }
}

/// One log line's writer: into the buffer, or, for a warning or an error,
/// straight out after what is buffered.
pub struct Line {
    pending: &'static Pending,
    urgent: bool,
}

impl std::io::Write for Line {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut lines = self.pending.lines();
        if self.urgent {
            self.pending.write_out(lines, Some(buf));
        } else {
            lines.extend_from_slice(buf);
            if lines.len() >= FLUSH_BYTES {
                self.pending.write_out(lines, None);
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Stderr {
    type Writer = Line;

    fn make_writer(&'a self) -> Line {
        Line { pending: self.0, urgent: true }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Line {
        Line { pending: self.0, urgent: *meta.level() <= tracing::Level::WARN }
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
