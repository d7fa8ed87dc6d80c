//! Who is calling: [`Identity`].

use sluice_mcp::Extensions;

/// The caller of a request: what the pattern guide called the "props" of a session.
///
/// Transports put it in the request's [`Extensions`]: the stdio server from its
/// `--user` flag, the HTTP transport from a verified bearer token.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Identity {
    /// The login (a GitHub login, a database user name, …), compared case-insensitively.
    pub login: String,
    /// The display name, when known.
    pub name: Option<String>,
    /// The e-mail address, when known.
    pub email: Option<String>,
}

impl Identity {
    /// An identity with only a login.
    pub fn new(login: impl Into<String>) -> Self {
        Identity {
            login: login.into(),
            name: None,
            email: None,
        }
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
