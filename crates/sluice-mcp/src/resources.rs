//! Resources: static ones and URI templates, and the handlers that read them.

use crate::error::ResourceError;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use crate::context::RequestContext;
use crate::protocol::ResourceContents;

/// The future a resource handler returns.
pub type ResourceFuture =
    Pin<Box<dyn Future<Output = Result<Vec<ResourceContents>, ResourceError>> + Send>>;

/// Reads a resource. `variables` holds what a URI template matched (empty for a static
/// resource).
pub trait ResourceHandler: Send + Sync + 'static {
    /// Reads the resource at `uri`.
    fn read(
        &self,
        uri: String,
        variables: HashMap<String, String>,
        context: RequestContext,
    ) -> ResourceFuture;
}

impl<F, Fut> ResourceHandler for F
where
    F: Fn(String, HashMap<String, String>, RequestContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Vec<ResourceContents>, ResourceError>> + Send + 'static,
{
    fn read(
        &self,
        uri: String,
        variables: HashMap<String, String>,
        context: RequestContext,
    ) -> ResourceFuture {
        Box::pin(self(uri, variables, context))
    }
}

/// Matches `uri` against an RFC 6570 level-1 template: literal text, and `{name}` parts
/// that each match a non-empty run of characters other than `/`. Returns the variables.
pub(crate) fn match_template(template: &str, uri: &str) -> Option<HashMap<String, String>> {
    let mut variables = HashMap::new();
    let mut rest = uri;
    let mut pattern = template;
    while !pattern.is_empty() {
        if let Some(after_brace) = pattern.strip_prefix('{') {
            let end = after_brace.find('}')?;
            let name = after_brace.get(..end)?;
            pattern = after_brace.get(end + 1..)?;
            // The variable runs to the next literal character of the template (or '/').
            let stop = pattern.chars().next();
            let len = rest
                .char_indices()
                .find(|(_, c)| *c == '/' || Some(*c) == stop)
                .map_or(rest.len(), |(i, _)| i);
            if len == 0 {
                return None;
            }
            variables.insert(name.to_owned(), rest.get(..len)?.to_owned());
            rest = rest.get(len..)?;
        } else {
            let literal_len = pattern.find('{').unwrap_or(pattern.len());
            let literal = pattern.get(..literal_len)?;
            rest = rest.strip_prefix(literal)?;
            pattern = pattern.get(literal_len..)?;
        }
    }
    rest.is_empty().then_some(variables)
}

#[cfg(test)]
mod tests {
    use super::match_template;

    #[test]
    fn templates_match_segments() {
        let vars = match_template("db://table/{schema}/{name}", "db://table/public/users").unwrap();
        assert_eq!(vars["schema"], "public");
        assert_eq!(vars["name"], "users");
        let vars = match_template("test://template/{id}/data", "test://template/42/data").unwrap();
        assert_eq!(vars["id"], "42");
        assert!(match_template("db://table/{schema}/{name}", "db://table/public").is_none());
        assert!(match_template("db://table/{schema}/{name}", "db://table/a/b/c").is_none());
        assert!(match_template("db://table/{name}", "db://table/").is_none());
        assert!(match_template("db://x", "db://y").is_none());
    }
}
