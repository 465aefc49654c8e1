//! The evidence report as CSV (RFC 4180): one row per actor, with a column
//! group per notice. Cells that hold several values (signals, networks,
//! user agents) hold them as a JSON object of value to requests, so that a
//! user agent's commas and semicolons stay unambiguous.

use tollgate_domain::guard::GuardAction;

use super::{ActorReport, Counts, NoticeKind, NoticeReport, Report, Tally};

/// What each notice column group holds after its prefix.
const AFTER: [&str; 4] = ["requests_after", "served_after", "refused_after", "posts_served_after"];

/// The header row's column names, in order.
pub fn columns() -> Vec<String> {
    let mut c: Vec<String> =
        ["actor", "first_seen", "last_seen", "requests", "served", "refused", "posts_served", "posts_withheld"]
            .map(String::from)
            .to_vec();
    c.extend(GuardAction::ALL.iter().map(|a| format!("action_{}", a.as_str())));
    c.push("action_other".into());
    c.extend(["signals", "basis", "prefixes", "asns", "networks", "user_agents"].map(String::from));
    for kind in NoticeKind::RECORDED {
        let k = kind.as_str().replace('-', "_");
        c.push(format!("{k}_at"));
        c.push(format!("{k}_seq"));
        c.extend(AFTER.iter().map(|a| format!("{k}_{a}")));
    }
    c.push("written_notices".into());
    for which in ["written_first", "written_last"] {
        c.push(format!("{which}_date"));
        c.extend(AFTER.iter().map(|a| format!("{which}_{a}")));
    }
    c
}

/// The whole report as CSV, CRLF line ends.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    line(&mut out, &columns());
    for actor in &report.actors {
        line(&mut out, &row(actor));
    }
    out
}

fn row(a: &ActorReport) -> Vec<String> {
    let t = &a.totals;
    let opt = |t: Option<tollgate_domain::Timestamp>| t.map(|t| t.to_string()).unwrap_or_default();
    let mut r = vec![
        a.actor.clone(),
        opt(a.first_seen),
        opt(a.last_seen),
        t.requests.to_string(),
        t.served.to_string(),
        t.refused.to_string(),
        t.posts_served.to_string(),
        t.posts_withheld.to_string(),
    ];
    let mut other = a.actions.other_requests;
    for (name, n) in &a.actions.values {
        if !GuardAction::ALL.iter().any(|k| k.as_str() == name) {
            other += n;
        }
    }
    r.extend(GuardAction::ALL.iter().map(|k| a.actions.values.get(k.as_str()).copied().unwrap_or(0).to_string()));
    r.push(other.to_string());
    for tally in [&a.signals, &a.basis, &a.networks.prefixes, &a.networks.asns, &a.networks.classes, &a.user_agents] {
        r.push(json_cell(tally));
    }
    for kind in NoticeKind::RECORDED {
        match a.notices.iter().find(|n| n.kind == kind) {
            Some(n) => {
                r.push(n.at.clone());
                r.push(n.seq.map(|s| s.to_string()).unwrap_or_default());
                r.extend(after(&n.after));
            }
            None => r.extend(std::iter::repeat_n(String::new(), 2 + AFTER.len())),
        }
    }
    let written: Vec<&NoticeReport> = a.notices.iter().filter(|n| n.kind == NoticeKind::Written).collect();
    r.push(written.len().to_string());
    for n in [written.first(), written.last()] {
        match n {
            Some(n) => {
                r.push(n.at.clone());
                r.extend(after(&n.after));
            }
            None => r.extend(std::iter::repeat_n(String::new(), 1 + AFTER.len())),
        }
    }
    r
}

fn after(c: &Counts) -> [String; 4] {
    [c.requests, c.served, c.refused, c.posts_served].map(|n| n.to_string())
}

/// A tally as a JSON object, values to requests; `_other` holds the
/// requests with values past the report's bound, when there are any.
fn json_cell(t: &Tally) -> String {
    if t.is_empty() {
        return String::new();
    }
    let mut m: serde_json::Map<String, serde_json::Value> =
        t.values.iter().map(|(k, v)| (k.clone(), (*v).into())).collect();
    if t.other_requests > 0 {
        m.insert("_other".into(), t.other_requests.into());
    }
    serde_json::Value::Object(m).to_string()
}

fn line(out: &mut String, cells: &[String]) {
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&escape(cell));
    }
    out.push_str("\r\n");
}

/// One cell, quoted when it must be (RFC 4180), and defused when a
/// spreadsheet would read it as a formula (it begins with `=`, `+`, `-`,
/// `@`, a tab or a carriage return; OWASP's "CSV injection"): a leading
/// `'` keeps it text. Only actor ids can begin so; the JSON cells begin
/// with `{`.
pub fn escape(cell: &str) -> String {
    let cell = if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{cell}") } else { cell.to_owned() };
    if cell.contains([',', '"', '\r', '\n']) { format!("\"{}\"", cell.replace('"', "\"\"")) } else { cell }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_quoted_and_defused() {
        assert_eq!(escape("plain"), "plain");
        assert_eq!(escape("a,b"), "\"a,b\"");
        assert_eq!(escape("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(escape("two\nlines"), "\"two\nlines\"");
        assert_eq!(escape("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(escape("@SUM(1)"), "'@SUM(1)");
        assert_eq!(escape("-1"), "'-1");
    }
}
