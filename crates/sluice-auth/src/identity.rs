//! Who is calling: [`Identity`].

use sluice_mcp::Extensions;

use crate::policy::Permission;

/// The caller of a request: what the pattern guide called the "props" of a session.
///
/// Transports put it in the request's [`Extensions`]: the stdio server from its
/// `--user` flag, the HTTP transport from a verified bearer token.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct Identity {
    /// The login (a GitHub login, a database user name, …), compared case-insensitively.
    pub login: String,
    /// A stable identifier from the identity provider, `github:12345` for GitHub's numeric
    /// user id. Policies may name it instead of the login; logins can be renamed and
    /// re-registered by someone else, ids cannot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The display name, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The e-mail address, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The most the caller's credential allows, whatever the policy says: an OAuth
    /// access token granted only the read scope carries `Some(Permission::Read)`. `None`
    /// means the credential sets no ceiling (stdio, static tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ceiling: Option<Permission>,
}

impl Identity {
    /// An identity with only a login.
    pub fn new(login: impl Into<String>) -> Self {
        Identity {
            login: login.into(),
            id: None,
            name: None,
            email: None,
            ceiling: None,
        }
    }

    /// Sets the provider's stable identifier (`github:12345`).
    #[must_use]
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Sets the display name.
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the e-mail address.
    #[must_use]
    pub fn with_email(mut self, email: impl Into<String>) -> Self {
        self.email = Some(email.into());
        self
    }

    /// Caps what this caller may do at `ceiling` (the scopes of its token).
    #[must_use]
    pub fn with_ceiling(mut self, ceiling: Permission) -> Self {
        self.ceiling = Some(ceiling);
        self
    }

    /// The identity carried in `extensions`, if any.
    pub fn of(extensions: &Extensions) -> Option<&Identity> {
        extensions.get::<Identity>()
    }

    /// Extensions holding just this identity, ready to open a session with.
    pub fn into_extensions(self) -> Extensions {
        let mut extensions = Extensions::new();
        extensions.insert(self);
        extensions
    }
}
