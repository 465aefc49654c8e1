//! Progress reporting for long imports. A 10-million-post import takes
//! minutes; an operator watching it should see how far it got and how long is
//! left, and a script reading its output should see none of that noise.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// Told how an import goes. `start` opens each file, `advance` reports what
/// was read since its last call (bytes of the file, records written), and
/// `finish` closes the file.
pub trait Progress {
    fn start(&mut self, file: &Path, total_bytes: u64);
    fn advance(&mut self, bytes: u64, records: u64);
    fn finish(&mut self);
}

/// Reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&mut self, _file: &Path, _total_bytes: u64) {}
    fn advance(&mut self, _bytes: u64, _records: u64) {}
    fn finish(&mut self) {}
}

/// A one-line progress bar on stderr (percent, records, rate, time left),
/// drawn only when stderr is a terminal so that logs and pipes stay clean, and
/// at most ten times a second so that drawing never slows the import.
#[derive(Debug)]
pub struct TerminalProgress {
    enabled: bool,
    name: String,
    total: u64,
    bytes: u64,
    records: u64,
    started: Instant,
    last_draw: Option<Instant>,
}

const REDRAW_EVERY: Duration = Duration::from_millis(100);

impl TerminalProgress {
    /// Draws when stderr is a terminal.
    pub fn new() -> TerminalProgress {
        TerminalProgress::with_enabled(std::io::stderr().is_terminal())
    }

    /// Draws (or not) regardless of where stderr goes.
    pub fn with_enabled(enabled: bool) -> TerminalProgress {
        TerminalProgress {
            enabled,
            name: String::new(),
            total: 0,
            bytes: 0,
            records: 0,
            started: Instant::now(),
            last_draw: None,
        }
    }

    /// The line as it would be drawn now (without the leading carriage return).
    pub fn line(&self) -> String {
        let elapsed = self.started.elapsed().as_secs_f64().max(1e-3);
        let fraction = if self.total == 0 { 1.0 } else { (self.bytes as f64 / self.total as f64).min(1.0) };
        const WIDTH: usize = 24;
        let filled = (fraction * WIDTH as f64).round() as usize;
        let bar: String = "#".repeat(filled) + &"-".repeat(WIDTH - filled);
        let rate = self.records as f64 / elapsed;
        let eta = if self.bytes > 0 && self.bytes < self.total {
            let left = (self.total - self.bytes) as f64 * elapsed / self.bytes as f64;
            format!("ETA {}", clock(left))
        } else {
            format!("in {}", clock(elapsed))
        };
        format!(
            "{} [{bar}] {:>3}% {} records {}/s {eta}",
            self.name,
            (fraction * 100.0).floor() as u32,
            compact(self.records as f64),
            compact(rate)
        )
    }

    fn draw(&mut self, now: Instant) {
        self.last_draw = Some(now);
        let mut err = std::io::stderr().lock();
        // `\x1b[K` clears what a longer previous line left behind.
        let _ = write!(err, "\r{}\x1b[K", self.line());
        let _ = err.flush();
    }
}

impl Default for TerminalProgress {
    fn default() -> Self {
        TerminalProgress::new()
    }
}

impl Progress for TerminalProgress {
    fn start(&mut self, file: &Path, total_bytes: u64) {
        self.name = file.file_name().map_or_else(|| file.display().to_string(), |n| n.to_string_lossy().into_owned());
        self.total = total_bytes;
        self.bytes = 0;
        self.records = 0;
        self.started = Instant::now();
        self.last_draw = None;
        if self.enabled {
            self.draw(Instant::now());
        }
    }

    fn advance(&mut self, bytes: u64, records: u64) {
        self.bytes += bytes;
        self.records += records;
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        if self.last_draw.is_none_or(|t| now.duration_since(t) >= REDRAW_EVERY) {
            self.draw(now);
        }
    }

    fn finish(&mut self) {
        if self.enabled {
            self.bytes = self.bytes.max(self.total);
            self.draw(Instant::now());
            let _ = writeln!(std::io::stderr());
        }
    }
}

/// `1234567` as `1.23M`.
fn compact(x: f64) -> String {
    match x {
        x if x >= 1e9 => format!("{:.2}G", x / 1e9),
        x if x >= 1e6 => format!("{:.2}M", x / 1e6),
        x if x >= 1e4 => format!("{:.1}k", x / 1e3),
        x => format!("{x:.0}"),
    }
}

/// Seconds as `m:ss` (or `h:mm:ss`).
fn clock(seconds: f64) -> String {
    let s = seconds.round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_shows_percent_records_rate_and_eta() {
        let mut p = TerminalProgress::with_enabled(false);
        p.start(Path::new("/data/posts.jsonl"), 1000);
        p.advance(250, 12_345);
        let line = p.line();
        assert!(line.starts_with("posts.jsonl ["), "{line}");
        assert!(line.contains(" 25% ") && line.contains("12.3k records") && line.contains("/s ETA "), "{line}");
        p.advance(750, 1);
        assert!(p.line().contains("100%") && p.line().contains(" in "), "{}", p.line());
    }

    #[test]
    fn numbers_read_at_a_glance() {
        assert_eq!(compact(999.0), "999");
        assert_eq!(compact(12_345.0), "12.3k");
        assert_eq!(compact(10_000_000.0), "10.00M");
        assert_eq!(clock(75.0), "1:15");
        assert_eq!(clock(3_725.0), "1:02:05");
    }
}
