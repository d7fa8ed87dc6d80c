//! The policy file's form: top-level lists and per-database sections, resolved into a
//! [`PermissionPolicy`].

use std::collections::{BTreeMap, BTreeSet};

use crate::policy::{PermissionPolicy, normalise};

/// A policy file as written. Unknown keys are refused, so a typo cannot open access.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PolicyFile {
    #[serde(default)]
    readers: Option<Vec<String>>,
    #[serde(default)]
    writers: Option<Vec<String>>,
    #[serde(default)]
    databases: BTreeMap<String, Section>,
}

/// One database's lists; a list left out is the top-level one.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Section {
    #[serde(default)]
    readers: Option<Vec<String>>,
    #[serde(default)]
    writers: Option<Vec<String>>,
}

fn logins(list: &[String]) -> BTreeSet<String> {
    list.iter()
        .map(|l| normalise(l))
        .filter(|l| !l.is_empty())
        .collect()
}

impl TryFrom<PolicyFile> for PermissionPolicy {
    type Error = String;

    fn try_from(file: PolicyFile) -> Result<Self, String> {
        let readers = file.readers.as_deref().map(logins);
        let writers = file.writers.as_deref().map(logins).unwrap_or_default();
        let mut databases = BTreeMap::new();
        for (name, section) in file.databases {
            if name.trim().is_empty() {
                return Err("a database section needs a name".to_owned());
            }
            let policy = PermissionPolicy {
                readers: section.readers.as_deref().map(logins).or(readers.clone()),
                writers: section
                    .writers
                    .as_deref()
                    .map(logins)
                    .unwrap_or_else(|| writers.clone()),
                databases: BTreeMap::new(),
            };
            databases.insert(name, policy);
        }
        Ok(PermissionPolicy {
            readers,
            writers,
            databases,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::{Identity, Permission, PermissionPolicy};

    fn parse(json: &str) -> Result<PermissionPolicy, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn sections_replace_the_lists_they_name_and_inherit_the_rest() {
        let policy = parse(
            r#"{"writers": ["Alice"], "readers": ["bob"],
                "databases": {"billing": {"writers": []},
                              "reports": {"readers": ["carol"]}}}"#,
        )
        .unwrap();
        let may = |db: &str, login: &str| {
            policy
                .for_database(db)
                .permission(Some(&Identity::new(login)))
        };
        assert_eq!(may("shop", "alice"), Permission::Write);
        assert_eq!(
            may("billing", "alice"),
            Permission::None,
            "no writer, not a reader"
        );
        assert_eq!(may("billing", "bob"), Permission::Read);
        assert_eq!(may("reports", "alice"), Permission::Write);
        assert_eq!(may("reports", "carol"), Permission::Read);
        assert_eq!(may("reports", "bob"), Permission::None);
        let names: Vec<&str> = policy.database_sections().collect();
        assert_eq!(names, ["billing", "reports"]);
        let bob = Identity::new("bob");
        assert_eq!(
            policy.widest(Some(&bob), ["billing", "reports"]),
            Permission::Read
        );
        assert_eq!(
            policy.widest(Some(&Identity::new("carol")), ["billing"]),
            Permission::None
        );
        assert_eq!(
            policy.widest(Some(&Identity::new("alice")), []),
            Permission::Write
        );
    }

    #[test]
    fn sections_refuse_unknown_keys_and_empty_names() {
        assert!(parse(r#"{"databases": {"billing": {"writer": ["alice"]}}}"#).is_err());
        assert!(parse(r#"{"databases": {"": {}}}"#).is_err());
        assert!(parse(r#"{"database": {}}"#).is_err());
        // Without sections the file reads as before.
        assert_eq!(
            parse(r#"{"writers": ["alice"]}"#).unwrap(),
            PermissionPolicy::new().with_writers(["alice"])
        );
    }
}
