//! Who may do what: [`PermissionPolicy`], [`Permission`] and the tool filter built from
//! them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use sluice_mcp::Extensions;

use crate::identity::Identity;

/// What a caller may do. Ordered: `None < Read < Write`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Permission {
    /// Nothing at all: no tools.
    None,
    /// Read-only tools.
    Read,
    /// Read and write tools.
    Write,
}

/// Why a call was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The request carries no identity.
    #[error("this request carries no identity; the server cannot tell who is calling")]
    Anonymous,
    /// The caller's credential (its token's scopes) does not cover what the tool needs,
    /// whatever the policy says.
    #[error(
        "{login}'s access token was not granted the {} scope; sign in again and approve it",
        needed.scope()
    )]
    ScopeMissing {
        /// The caller's login.
        login: String,
        /// What the tool needs; [`Permission::scope`] names the scope that grants it.
        needed: Permission,
    },
    /// The caller lacks the permission the tool needs.
    #[error(
        "{login} may not {needed}: ask an administrator to add this login to the {} list",
        needed.list()
    )]
    Forbidden {
        /// The caller's login.
        login: String,
        /// What the tool needs.
        needed: Permission,
    },
}

impl Permission {
    /// The OAuth scope that grants it: `db:read`, `db:write` (empty for
    /// [`Permission::None`]).
    pub fn scope(self) -> &'static str {
        match self {
            Permission::None => "",
            Permission::Read => "db:read",
            Permission::Write => "db:write",
        }
    }

    /// The policy list that grants it: `readers`, `writers`.
    pub fn list(self) -> &'static str {
        match self {
            Permission::None => "",
            Permission::Read => "readers",
            Permission::Write => "writers",
        }
    }
}

impl std::fmt::Display for Permission {
    /// In words: `nothing`, `read`, `write`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Permission::None => "nothing",
            Permission::Read => "read",
            Permission::Write => "write",
        })
    }
}

/// A policy file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyFileError {
    /// The file could not be read.
    #[error("cannot read policy file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a valid policy.
    #[error("policy file {path} is not valid: {source}")]
    Parse {
        /// The file.
        path: String,
        /// Why.
        source: serde_json::Error,
    },
}

/// Who may read and who may write. Fail closed: a caller with no identity, or whose
/// login is on no list when a readers list is set, gets [`Permission::None`].
///
/// - `writers`: logins allowed to write (the pattern guide's `ALLOWED_USERNAMES`); they
///   may read too.
/// - `readers`: when set, the only other logins allowed to read; when unset, every
///   authenticated caller may read.
///
/// ```
/// use sluice_auth::{Identity, Permission, PermissionPolicy};
///
/// let policy = PermissionPolicy::new().with_writers(["alice"]).with_readers(["bob"]);
/// assert_eq!(policy.permission(Some(&Identity::new("Alice"))), Permission::Write);
/// assert_eq!(policy.permission(Some(&Identity::new("bob"))), Permission::Read);
/// assert_eq!(policy.permission(Some(&Identity::new("mallory"))), Permission::None);
/// assert_eq!(policy.permission(None), Permission::None);
/// ```
///
/// A server with several databases may grant differently per database:
/// [`with_database`](Self::with_database) (or a `databases` section in the file, see
/// [`from_file`](Self::from_file)) and [`for_database`](Self::for_database).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "crate::policy_sections::PolicyFile")]
pub struct PermissionPolicy {
    pub(crate) readers: Option<BTreeSet<String>>,
    pub(crate) writers: BTreeSet<String>,
    /// Per-database policies, by database name; each complete (no sections of its own).
    pub(crate) databases: BTreeMap<String, PermissionPolicy>,
}

pub(crate) fn normalise(login: &str) -> String {
    login.trim().to_lowercase()
}

impl PermissionPolicy {
    /// A policy with no writers and no readers list: everyone authenticated reads,
    /// nobody writes.
    pub fn new() -> Self {
        PermissionPolicy::default()
    }

    /// Sets the logins allowed to write.
    #[must_use]
    pub fn with_writers<I, S>(mut self, logins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.writers = logins
            .into_iter()
            .map(|l| normalise(l.as_ref()))
            .filter(|l| !l.is_empty())
            .collect();
        self
    }

    /// Sets the allow-list of readers (unset: every authenticated caller reads).
    #[must_use]
    pub fn with_readers<I, S>(mut self, logins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.readers = Some(
            logins
                .into_iter()
                .map(|l| normalise(l.as_ref()))
                .filter(|l| !l.is_empty())
                .collect(),
        );
        self
    }

    /// Builds a policy from comma-separated lists, as flags and environment variables
    /// give them (`SLUICE_WRITERS=alice,bob`). `readers: None` leaves reading open to
    /// every authenticated caller; an empty string is an empty list.
    pub fn from_lists(writers: &str, readers: Option<&str>) -> Self {
        let split = |list: &str| -> Vec<String> {
            list.split(',')
                .map(normalise)
                .filter(|l| !l.is_empty())
                .collect()
        };
        let policy = PermissionPolicy::new().with_writers(split(writers));
        match readers {
            Some(readers) => policy.with_readers(split(readers)),
            None => policy,
        }
    }

    /// Reads a policy from a JSON file: `{"writers": ["alice"], "readers": ["bob"]}`
    /// (`readers` optional). Unknown keys are refused, so a typo cannot open access.
    ///
    /// A server with several databases may add a section per database, whose lists
    /// replace the top-level ones for that database (a list the section leaves out is
    /// the top-level one):
    ///
    /// ```json
    /// {"writers": ["github:42"],
    ///  "databases": {"billing": {"writers": [], "readers": ["github:42", "github:7"]}}}
    /// ```
    ///
    /// # Errors
    ///
    /// When the file cannot be read or is not a valid policy.
    pub fn from_file(path: &Path) -> Result<Self, PolicyFileError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| PolicyFileError::Read {
            path: shown.clone(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| PolicyFileError::Parse {
            path: shown,
            source,
        })
    }

    /// What `identity` may do: what the policy grants its login or id, capped by the
    /// identity's [`ceiling`](Identity::ceiling) (the scopes of its token).
    pub fn permission(&self, identity: Option<&Identity>) -> Permission {
        let Some(identity) = identity else {
            return Permission::None;
        };
        let granted = self.granted(identity);
        match identity.ceiling {
            Some(ceiling) => granted.min(ceiling),
            None => granted,
        }
    }

    /// What the policy alone grants `identity`, ignoring its ceiling.
    fn granted(&self, identity: &Identity) -> Permission {
        let login = normalise(&identity.login);
        if login.is_empty() {
            return Permission::None;
        }
        let id = identity.id.as_deref().map(normalise);
        let named = |list: &BTreeSet<String>| {
            list.contains(&login) || id.as_ref().is_some_and(|id| list.contains(id))
        };
        if named(&self.writers) {
            return Permission::Write;
        }
        match &self.readers {
            None => Permission::Read,
            Some(readers) if named(readers) => Permission::Read,
            Some(_) => Permission::None,
        }
    }

    /// Checks that the caller described by `extensions` has at least `needed`; returns
    /// its identity. Call this inside every tool: hiding a tool is never the only
    /// protection.
    ///
    /// # Errors
    ///
    /// [`AuthError::Anonymous`] without an identity, [`AuthError::Forbidden`] without the
    /// permission.
    pub fn require<'e>(
        &self,
        extensions: &'e Extensions,
        needed: Permission,
    ) -> Result<&'e Identity, AuthError> {
        let identity = Identity::of(extensions).ok_or(AuthError::Anonymous)?;
        if self.permission(Some(identity)) >= needed {
            return Ok(identity);
        }
        if self.granted(identity) >= needed {
            // The policy allows it; the token's scopes do not.
            return Err(AuthError::ScopeMissing {
                login: identity.login.clone(),
                needed,
            });
        }
        Err(AuthError::Forbidden {
            login: identity.login.clone(),
            needed: needed.max(Permission::Read),
        })
    }

    /// The logins allowed to write.
    pub fn writers(&self) -> impl Iterator<Item = &str> {
        self.writers.iter().map(String::as_str)
    }

    /// The readers allow-list, when one is set.
    pub fn readers(&self) -> Option<impl Iterator<Item = &str>> {
        self.readers.as_ref().map(|r| r.iter().map(String::as_str))
    }

    /// Grants for the database named `name` what `policy` grants, instead of what this
    /// policy's own lists grant (`policy`'s own database sections are ignored).
    ///
    /// ```
    /// use sluice_auth::{Identity, Permission, PermissionPolicy};
    ///
    /// let policy = PermissionPolicy::new()
    ///     .with_writers(["alice"])
    ///     .with_database("billing", PermissionPolicy::new().with_readers(["alice"]));
    /// let alice = Identity::new("alice");
    /// assert_eq!(policy.for_database("shop").permission(Some(&alice)), Permission::Write);
    /// assert_eq!(policy.for_database("billing").permission(Some(&alice)), Permission::Read);
    /// ```
    #[must_use]
    pub fn with_database(mut self, name: impl Into<String>, mut policy: PermissionPolicy) -> Self {
        policy.databases.clear();
        self.databases.insert(name.into(), policy);
        self
    }

    /// The policy for the database named `name`: its section, else this policy.
    pub fn for_database(&self, name: &str) -> &PermissionPolicy {
        self.databases.get(name).unwrap_or(self)
    }

    /// The databases this policy has a section for (to check them against the
    /// databases a server has: a section for none of them is likely a typo).
    pub fn database_sections(&self) -> impl Iterator<Item = &str> {
        self.databases.keys().map(String::as_str)
    }

    /// The most `identity` may do on any of `databases` (each judged by
    /// [`for_database`](Self::for_database)); with no names, what this policy grants.
    pub fn widest<'a>(
        &self,
        identity: Option<&Identity>,
        databases: impl IntoIterator<Item = &'a str>,
    ) -> Permission {
        let mut names = databases.into_iter().peekable();
        if names.peek().is_none() {
            return self.permission(identity);
        }
        names
            .map(|name| self.for_database(name).permission(identity))
            .max()
            .unwrap_or(Permission::None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_from_flags_fail_closed() {
        let policy = PermissionPolicy::from_lists(" Alice, ,bob ", Some("carol"));
        let who = |login: &str| policy.permission(Some(&Identity::new(login)));
        assert_eq!(who("alice"), Permission::Write);
        assert_eq!(who("BOB"), Permission::Write);
        assert_eq!(who("carol"), Permission::Read);
        assert_eq!(who("dave"), Permission::None);
        assert_eq!(who(""), Permission::None);
        assert_eq!(who("   "), Permission::None);
        // An empty readers list means nobody but the writers.
        let closed = PermissionPolicy::from_lists("", Some(""));
        assert_eq!(
            closed.permission(Some(&Identity::new("anyone"))),
            Permission::None
        );
        // No readers list: every authenticated caller reads, nobody writes.
        let open = PermissionPolicy::from_lists("", None);
        assert_eq!(
            open.permission(Some(&Identity::new("anyone"))),
            Permission::Read
        );
        assert_eq!(open.permission(None), Permission::None);
    }

    #[test]
    fn require_explains_the_refusal() {
        let policy = PermissionPolicy::new().with_writers(["alice"]);
        let bob = Identity::new("bob").into_extensions();
        assert_eq!(policy.require(&bob, Permission::Read).unwrap().login, "bob");
        let err = policy.require(&bob, Permission::Write).unwrap_err();
        assert_eq!(
            err.to_string(),
            "bob may not write: ask an administrator to add this login to the writers list"
        );
        assert_eq!(
            policy.require(&Extensions::new(), Permission::Read),
            Err(AuthError::Anonymous)
        );
    }

    #[test]
    fn ids_name_people_and_ceilings_cap_them() {
        let policy = PermissionPolicy::from_lists("github:42", Some("github:7"));
        let alice = Identity::new("alice").with_id("github:42");
        let renamed = Identity::new("alice-new").with_id("GitHub:42");
        let squatter = Identity::new("alice").with_id("github:99");
        let bob = Identity::new("bob").with_id("github:7");
        assert_eq!(policy.permission(Some(&alice)), Permission::Write);
        assert_eq!(policy.permission(Some(&renamed)), Permission::Write);
        // Someone who registered the login later is not the person the policy names.
        assert_eq!(policy.permission(Some(&squatter)), Permission::None);
        assert_eq!(policy.permission(Some(&bob)), Permission::Read);
        // A token granted only reading caps a writer at reading, and says why.
        let capped = alice.clone().with_ceiling(Permission::Read);
        assert_eq!(policy.permission(Some(&capped)), Permission::Read);
        let err = policy
            .require(&capped.into_extensions(), Permission::Write)
            .unwrap_err();
        assert!(
            matches!(
                err,
                AuthError::ScopeMissing {
                    needed: Permission::Write,
                    ..
                }
            ),
            "{err}"
        );
        // A ceiling never raises what the policy grants.
        let raised = bob.with_ceiling(Permission::Write);
        assert_eq!(policy.permission(Some(&raised)), Permission::Read);
    }

    #[test]
    fn policy_files_refuse_unknown_keys() {
        let dir = std::env::temp_dir().join(format!("sluice-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.json");
        std::fs::write(&good, r#"{"writers": ["Alice"], "readers": ["bob"]}"#).unwrap();
        let policy = PermissionPolicy::from_file(&good).unwrap();
        assert_eq!(
            policy,
            PermissionPolicy::new()
                .with_writers(["alice"])
                .with_readers(["bob"])
        );
        let typo = dir.join("typo.json");
        std::fs::write(&typo, r#"{"writer": ["alice"]}"#).unwrap();
        assert!(matches!(
            PermissionPolicy::from_file(&typo),
            Err(PolicyFileError::Parse { .. })
        ));
        assert!(matches!(
            PermissionPolicy::from_file(&dir.join("missing.json")),
            Err(PolicyFileError::Read { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
