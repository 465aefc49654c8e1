//! Writing HTML: one escaping function every rendered value goes through, and
//! the page frame (language, skip link, stylesheet, landmarks) every page
//! shares.
//!
//! No template engine: the pages are few and small, and a function that
//! writes a string with `esc` around every value keeps what is escaped
//! visible at the place it is written.

use std::fmt::Write as _;

use tollgate_domain::Timestamp;

/// `text` with the five characters that HTML gives meaning escaped, for use
/// in element content and in quoted attribute values alike.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `2026-12-06 21:40 UTC`, in a `<time>` element whose `datetime` is exact.
pub fn time(t: Timestamp) -> String {
    let full = t.to_string();
    format!("<time datetime=\"{}\">{} {} UTC</time>", esc(&full), esc(&full[..10]), esc(&full[11..16]))
}

/// A whole page: `title` (escaped here) heads the document and names it;
/// `main` is the page's content, already HTML. `signed_in` adds the sign-out
/// form (with its CSRF token) to the header.
pub fn page(title: &str, main: &str, sign_out_csrf: Option<&str>) -> String {
    let mut out = String::with_capacity(main.len() + 2048);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title} · Tollgate</title>\n<link rel=\"stylesheet\" href=\"/settings/style.css\">\n</head>\n<body>\n\
         <a class=\"skip\" href=\"#main\">Skip to main content</a>\n\
         <header><p class=\"brand\">Tollgate · your AI settings</p>",
        title = esc(title)
    );
    if let Some(csrf) = sign_out_csrf {
        let _ = write!(
            out,
            "<form method=\"post\" action=\"/settings/sign-out\" class=\"sign-out\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <button type=\"submit\">Sign out</button></form>",
            esc(csrf)
        );
    }
    let _ = write!(out, "</header>\n<main id=\"main\" tabindex=\"-1\">\n{main}</main>\n</body>\n</html>\n");
    out
}

/// The stylesheet: system fonts, colours of at least 4.5:1 contrast (WCAG
/// AA) against their backgrounds, and a focus ring on every control that
/// the keyboard reaches.
pub const STYLE: &str = "\
:root { color: #1a1a1a; background: #ffffff; font-family: system-ui, sans-serif; line-height: 1.5; }
body { margin: 0 auto; max-width: 60rem; padding: 0 1rem 3rem; }
a { color: #0b4fb3; }
a:visited { color: #5a2d91; }
:focus-visible { outline: 3px solid #0b4fb3; outline-offset: 2px; }
.skip { position: absolute; left: -10000px; top: 0; background: #ffffff; padding: 0.5rem 1rem; }
.skip:focus { left: 1rem; }
header { display: flex; flex-wrap: wrap; justify-content: space-between; align-items: center;
  border-bottom: 1px solid #6b6b6b; margin-bottom: 1rem; }
.brand { font-weight: 600; }
main:focus { outline: none; }
fieldset { border: 1px solid #6b6b6b; margin: 0 0 1rem; padding: 0.5rem 1rem 0.75rem; }
legend { font-weight: 600; padding: 0 0.25rem; }
label { cursor: pointer; }
.choice { display: block; padding: 0.15rem 0; }
.hint { color: #4a4a4a; margin: 0.25rem 0; }
.field { margin: 0.5rem 0 1rem; }
.field label { display: block; font-weight: 600; }
input[type=date] { font: inherit; padding: 0.25rem; border: 1px solid #4a4a4a; }
input[aria-invalid=true] { border: 2px solid #a40000; }
button { font: inherit; padding: 0.4rem 1rem; border: 2px solid #0b4fb3; background: #0b4fb3; color: #ffffff;
  border-radius: 4px; cursor: pointer; }
.sign-out button { background: #ffffff; color: #0b4fb3; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; width: 100%; }
caption { text-align: left; font-weight: 600; padding: 0.25rem 0; }
th, td { border: 1px solid #6b6b6b; padding: 0.35rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
.status { border-left: 6px solid #1d6b2f; background: #eef7f0; padding: 0.5rem 1rem; }
.errors { border-left: 6px solid #a40000; background: #fdf0f0; padding: 0.5rem 1rem; }
.error { color: #a40000; font-weight: 600; margin: 0.25rem 0; }
.note { border-left: 6px solid #6b6b6b; background: #f5f5f5; padding: 0.5rem 1rem; }
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn esc_escapes_markup_and_both_quotes() {
        assert_eq!(
            esc("<script>alert('x') & \"y\"</script>"),
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;"
        );
        assert_eq!(esc("plain ünïcode"), "plain ünïcode");
    }

    #[test]
    fn page_escapes_its_title_and_csrf_token() {
        let html = page("<b>", "<p>body</p>", Some("\"><script>"));
        assert!(html.contains("<title>&lt;b&gt; · Tollgate</title>"));
        assert!(html.contains("value=\"&quot;&gt;&lt;script&gt;\""));
        assert!(!html.contains("<script>"));
        assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
    }
}
