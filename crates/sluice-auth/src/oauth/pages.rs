//! The pages a person sees in the browser: the consent form and error pages. Plain
//! server-rendered HTML, every value escaped, framing denied.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::config::{SCOPE_READ, SCOPE_WRITE};

/// Escapes text for HTML element content and double-quoted attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;\
padding:0 1rem;line-height:1.5;color:#1b1f24}h1{font-size:1.4rem}code{background:#f2f4f7;\
padding:0 .2rem}.scopes li{margin:.3rem 0}button{font-size:1rem;padding:.5rem 1.2rem;\
margin-right:.6rem}.warn{color:#9a3412}";

/// A complete page with the headers every page of ours carries.
pub(crate) fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>{}</title>\
         <style>{STYLE}</style></head><body>{body}</body></html>",
        escape(title)
    );
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    secure_headers(headers);
    response
}

/// No framing (clickjacking), no caching, no referrer, no scripts.
pub(crate) fn secure_headers(headers: &mut axum::http::HeaderMap) {
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
}

/// An error page: what went wrong, in words, and what to do.
pub(crate) fn error_page(status: StatusCode, what: &str, detail: &str) -> Response {
    let body = format!(
        "<h1>{}</h1><p>{}</p><p>Close this window and start the sign-in again from your \
         MCP client.</p>",
        escape(what),
        escape(detail)
    );
    page(status, what, &body)
}

/// What a scope lets the client do, in words.
fn scope_words(scope: &str) -> &'static str {
    match scope {
        SCOPE_READ => "list tables and run read-only queries on the database",
        SCOPE_WRITE => "change data in the database, if an administrator has named you a writer",
        _ => "an unknown permission",
    }
}

/// The consent form.
pub(crate) struct Consent<'a> {
    pub(crate) client_name: &'a str,
    pub(crate) client_id: &'a str,
    pub(crate) redirect_host: &'a str,
    pub(crate) loopback_redirect: bool,
    pub(crate) scopes: &'a [String],
    pub(crate) sealed_request: &'a str,
    pub(crate) csrf: &'a str,
    pub(crate) upstream: &'a str,
}

pub(crate) fn consent(c: &Consent<'_>) -> Response {
    let scopes: String = c
        .scopes
        .iter()
        .map(|s| format!("<li><code>{}</code>: {}</li>", escape(s), scope_words(s)))
        .collect();
    let warning = if c.loopback_redirect {
        "<p class=\"warn\">This client runs on your own computer (it receives the answer \
         on a local address). Approve only if you started it yourself just now.</p>"
    } else {
        ""
    };
    let body = format!(
        "<h1>Allow {name} to use this database?</h1>\
         <p><strong>{name}</strong> (<code>{id}</code>) asks to act for you. After you \
         approve and sign in with {upstream}, it will be sent back to \
         <strong>{host}</strong>.</p>{warning}\
         <p>It will be able to:</p><ul class=\"scopes\">{scopes}</ul>\
         <form method=\"post\" action=\"/authorize\">\
         <input type=\"hidden\" name=\"request\" value=\"{request}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <button type=\"submit\" name=\"decision\" value=\"approve\">Approve and sign in</button>\
         <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></form>",
        name = escape(c.client_name),
        id = escape(c.client_id),
        host = escape(c.redirect_host),
        upstream = escape(c.upstream),
        request = escape(c.sealed_request),
        csrf = escape(c.csrf),
    );
    page(StatusCode::OK, "Allow access?", &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_leaves_no_markup() {
        assert_eq!(
            escape("<script>\"x\"&'y'</script>"),
            "&lt;script&gt;&quot;x&quot;&amp;&#39;y&#39;&lt;/script&gt;"
        );
    }
}
