//! The evidence report as one printable HTML page, for counsel: a summary
//! table, then a section per actor, the signed head it was built from and
//! how to check an entry against it. No JavaScript, no external resource;
//! its Content-Security-Policy forbids both, so that even a user agent
//! the escaping missed could not run in the reader's browser. Everything
//! from the ledger or the notices is escaped (`esc`).

use std::fmt::Write as _;

use super::{ActorReport, Counts, NoticeKind, Report, Sample, Tally};

const STYLE: &str = "\
body{font-family:Georgia,'Times New Roman',serif;font-size:11pt;margin:2em;color:#000;background:#fff}
h1{font-size:18pt}h2{font-size:14pt;margin-top:2em;border-bottom:1px solid #000}h3{font-size:12pt}
table{border-collapse:collapse;margin:0.5em 0 1em;width:100%}
th,td{border:1px solid #777;padding:2px 5px;text-align:left;vertical-align:top;font-size:9.5pt}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
code,.mono{font-family:'DejaVu Sans Mono',Menlo,Consolas,monospace;font-size:9pt;word-break:break-all}
.note{font-size:9.5pt;color:#333}
pre{white-space:pre-wrap;font-size:9.5pt;border-left:3px solid #999;padding-left:0.7em}
@media print{body{margin:0}section.actor{break-before:page}table,tr{break-inside:avoid}a{color:#000}}
";

/// The pages' own escaping, for content and attribute values alike.
pub use tollgate_web::html::esc;

fn opt_time(t: Option<tollgate_domain::Timestamp>) -> String {
    t.map_or_else(|| "–".to_owned(), |t| t.to_string())
}

/// The whole page.
pub fn render(r: &Report) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <title>Guard evidence report</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
    );
    let _ = writeln!(h, "<h1>Guard evidence report</h1>");
    header(&mut h, r);
    summary(&mut h, r);
    for a in &r.actors {
        actor(&mut h, r, a);
    }
    verification(&mut h, r);
    h.push_str("</body>\n</html>\n");
    h
}

fn header(h: &mut String, r: &Report) {
    let window = match (r.window.since, r.window.until) {
        (None, None) => "every entry of the ledger".to_owned(),
        (since, until) => format!("entries from {} up to (not including) {}", opt_time(since), opt_time(until)),
    };
    let _ = writeln!(h, "<table>");
    let rows = [
        ("Generated", r.generated_at.to_string()),
        ("Window", window),
        ("Actor", r.actor.clone().unwrap_or_else(|| "every actor".into())),
        ("Entries read", format!("sequence numbers {} to {} (exclusive)", r.ledger.from_seq, r.ledger.to_seq)),
        (
            "Checked against the head",
            if r.ledger.root_checked {
                "yes: the Merkle root of the entries read is the signed root".to_owned()
            } else {
                "no: the report did not read every entry the head signs (retention, or a copy catching up)".to_owned()
            },
        ),
        (
            "Entries with the guard's facts",
            format!("{} ({} in the window)", r.ledger.guard_entries, r.ledger.guard_entries_in_window),
        ),
    ];
    for (k, v) in rows {
        let _ = writeln!(h, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(&v));
    }
    match &r.ledger.head {
        Some(head) => {
            let _ = writeln!(
                h,
                "<tr><th>Signed ledger head</th><td>tree size {}, signed at {}<br>root <span class=\"mono\">{}</span><br>\
                 public key (Ed25519) <span class=\"mono\">{}</span></td></tr>",
                head.size,
                head.time,
                esc(&head.root),
                esc(&head.public_key)
            );
        }
        None => {
            let _ = writeln!(h, "<tr><th>Signed ledger head</th><td>none: the ledger had no signed head</td></tr>");
        }
    }
    let _ = writeln!(h, "</table>");
}

fn summary(h: &mut String, r: &Report) {
    let _ = writeln!(h, "<h2>Summary</h2>");
    if r.actors.is_empty() {
        let _ = writeln!(h, "<p>No actor in the window.</p>");
        return;
    }
    let _ = writeln!(
        h,
        "<table>\n<tr><th>Actor</th><th>First seen</th><th>Last seen</th><th class=\"n\">Requests</th>\
         <th class=\"n\">Served</th><th class=\"n\">Refused</th><th class=\"n\">Posts served</th>\
         <th>Notices</th><th class=\"n\">Requests after the first notice</th></tr>"
    );
    for a in &r.actors {
        let t = &a.totals;
        let first = first_notice(a);
        let _ = writeln!(
            h,
            "<tr><td class=\"mono\">{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td><td class=\"n\">{}</td></tr>",
            esc(&a.actor),
            opt_time(a.first_seen),
            opt_time(a.last_seen),
            t.requests,
            t.served,
            t.refused,
            t.posts_served,
            esc(&a.notices.iter().map(|n| n.kind.as_str()).collect::<Vec<_>>().join(", ")),
            first.map_or_else(|| "–".to_owned(), |c| c.requests.to_string()),
        );
    }
    let _ = writeln!(h, "</table>");
}

/// The counts after the notice that came first: what each notice counts
/// after is a later part of the same requests, so the first notice's
/// counts are the largest.
fn first_notice(a: &ActorReport) -> Option<&Counts> {
    a.notices.iter().max_by_key(|n| n.after.requests).map(|n| &n.after)
}

fn counts_row(h: &mut String, label: &str, c: &Counts) {
    let _ = writeln!(
        h,
        "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
         <td class=\"n\">{}</td></tr>",
        esc(label),
        c.requests,
        c.served,
        c.refused,
        c.posts_served,
        c.posts_withheld
    );
}

fn actor(h: &mut String, r: &Report, a: &ActorReport) {
    let _ = writeln!(h, "<section class=\"actor\">\n<h2>Actor <span class=\"mono\">{}</span></h2>", esc(&a.actor));
    let _ = writeln!(h, "<p>First seen {}, last seen {}.</p>", opt_time(a.first_seen), opt_time(a.last_seen));
    let _ = writeln!(
        h,
        "<table>\n<tr><th></th><th class=\"n\">Requests</th><th class=\"n\">Served</th><th class=\"n\">Refused</th>\
         <th class=\"n\">Posts served</th><th class=\"n\">Posts withheld</th></tr>"
    );
    counts_row(h, "In the window", &a.totals);
    let _ = writeln!(h, "</table>");

    let _ = writeln!(h, "<h3>Notices given, and what followed</h3>");
    if a.notices.is_empty() {
        let _ = writeln!(h, "<p>None.</p>");
    } else {
        let _ = writeln!(
            h,
            "<table>\n<tr><th>Notice</th><th>Given</th><th>Entry</th><th>Counted from</th><th class=\"n\">Requests \
             after</th><th class=\"n\">Served</th><th class=\"n\">Refused</th><th class=\"n\">Posts served</th>\
             <th class=\"n\">Posts withheld</th></tr>"
        );
        for n in &a.notices {
            let c = &n.after;
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
                 <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                esc(n.kind.describe()),
                esc(&n.at),
                n.seq.map_or_else(String::new, |s| s.to_string()),
                esc(&n.counted_from),
                c.requests,
                c.served,
                c.refused,
                c.posts_served,
                c.posts_withheld
            );
        }
        let _ = writeln!(h, "</table>");
        for n in a.notices.iter().filter(|n| n.kind == NoticeKind::Written) {
            if let Some(w) = &n.written {
                let _ = writeln!(h, "<p>Written notice {} of {} (recorded {}):</p>", w.id, esc(&w.date), w.recorded_at);
                let _ = writeln!(h, "<pre>{}</pre>", esc(&w.text));
                if let Some(reference) = &w.reference {
                    let _ =
                        writeln!(h, "<p class=\"note\">Reference: <span class=\"mono\">{}</span></p>", esc(reference));
                }
            }
        }
    }

    tally(h, "Answers (the guard's action)", &a.actions);
    tally(h, "Signals that fired", &a.signals);
    tally(h, "Basis of attribution", &a.basis);
    tally(h, "Network prefixes", &a.networks.prefixes);
    tally(h, "Autonomous systems", &a.networks.asns);
    tally(h, "Network classes", &a.networks.classes);
    tally(h, "Addresses", &a.networks.ips);
    tally(h, "User agents", &a.user_agents);
    tally(h, "Guard rules that answered", &a.rules);
    tally(h, "Served at a price", &a.charged);

    if r.samples_per_end > 0 && !a.samples.first.is_empty() {
        let _ = writeln!(h, "<h3>Sample requests</h3>");
        samples(h, &format!("The first {}", a.samples.first.len()), &a.samples.first);
        if !a.samples.last.is_empty() {
            samples(h, &format!("The last {}", a.samples.last.len()), &a.samples.last);
        }
    }
    let _ = writeln!(h, "</section>");
}

fn tally(h: &mut String, title: &str, t: &Tally) {
    if t.is_empty() {
        return;
    }
    let _ = writeln!(h, "<h3>{}</h3>\n<table>\n<tr><th>Value</th><th class=\"n\">Requests</th></tr>", esc(title));
    for (value, n) in &t.values {
        let shown = if value.is_empty() { "(none)".to_owned() } else { value.clone() };
        let _ = writeln!(h, "<tr><td class=\"mono\">{}</td><td class=\"n\">{n}</td></tr>", esc(&shown));
    }
    if t.other_requests > 0 {
        let _ = writeln!(
            h,
            "<tr><td>other values (past the first {})</td><td class=\"n\">{}</td></tr>",
            super::MAX_DISTINCT,
            t.other_requests
        );
    }
    let _ = writeln!(h, "</table>");
}

fn samples(h: &mut String, title: &str, s: &[Sample]) {
    let _ = writeln!(
        h,
        "<p>{}:</p>\n<table>\n<tr><th class=\"n\">Entry</th><th>Time</th><th>Request</th><th>Address</th><th>Action</th>\
         <th>Outcome</th><th>User agent</th></tr>",
        esc(title)
    );
    for x in s {
        let outcome = match &x.reason {
            Some(reason) => format!("{} ({reason})", x.outcome),
            None => format!("{}, {} posts", x.outcome, x.posts),
        };
        let _ = writeln!(
            h,
            "<tr><td class=\"n\">{}</td><td>{}</td><td class=\"mono\">{}</td><td class=\"mono\">{}</td><td>{}</td>\
             <td>{}</td><td class=\"mono\">{}</td></tr>",
            x.seq,
            x.time,
            esc(&x.request),
            esc(&x.ip),
            esc(&x.action),
            esc(&outcome),
            esc(&x.user_agent)
        );
    }
    let _ = writeln!(h, "</table>");
}

fn verification(h: &mut String, r: &Report) {
    let _ = writeln!(h, "<section class=\"verify\">\n<h2>How to verify</h2>");
    let _ = writeln!(
        h,
        "<p>Every request above is an entry of Tollgate's delivery ledger, named by its sequence number (\"Entry\"). \
         The ledger is a Merkle tree (RFC 6962) whose head, the tree size and root given above, is signed with the \
         ledger's Ed25519 key. To check that an entry is in the signed tree, on the server's data directory:</p>"
    );
    let size = r.ledger.head.as_ref().map_or_else(|| "latest".to_owned(), |head| head.size.to_string());
    let _ = writeln!(
        h,
        "<pre>tollgate ledger prove --entry SEQ --checkpoint {size}\ntollgate ledger prove --entry SEQ --checkpoint \
         {size} --json &gt; proof.json\ntollgate ledger verify --key PUBLIC_KEY_HEX</pre>"
    );
    let _ = writeln!(
        h,
        "<p>The first prints the entry's body (the facts this report counts), its audit path and the checkpoint it \
         verifies against, which must show the root above; the second saves the proof, which can be checked without \
         Tollgate by the procedure in docs/ledger.md; the third recomputes the whole ledger and checks every \
         signature against the published key.</p>\n</section>"
    );
}
