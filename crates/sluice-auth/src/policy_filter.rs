//! A per-caller [`Filter`] from a [`PermissionPolicy`]: [`PolicyFilter`].

use std::collections::HashMap;

use sluice_mcp::{Extensions, Filter, Item};

use crate::identity::Identity;
use crate::policy::{Permission, PermissionPolicy};

/// A [`Filter`] from a policy: each tool, resource (by URI or URI template) and prompt
/// it names needs a permission, and a caller sees and may use only what its permission
/// covers.
///
/// What the filter does not name needs [`Permission::Read`] by default, so a new tool is
/// never open to callers with no permission; [`judge_only_named`](Self::judge_only_named)
/// leaves everything else to the server's other filters instead (for a filter that
/// guards one set of tools among others, as `sluice-postgres`'s database tools do).
///
/// ```
/// use serde_json::json;
/// use sluice_auth::{Identity, Permission, PermissionPolicy, PolicyFilter};
/// use sluice_mcp::{Filter, Item, Tool};
///
/// let filter = PolicyFilter::new(PermissionPolicy::new().with_writers(["alice"]))
///     .tool("executeDatabase", Permission::Write);
/// let execute = Tool::new("executeDatabase", "Writes.", json!({"type": "object"}));
/// assert!(filter.allows(Item::Tool(&execute), &Identity::new("alice").into_extensions()));
/// assert!(!filter.allows(Item::Tool(&execute), &Identity::new("bob").into_extensions()));
/// ```
#[derive(Debug, Clone)]
pub struct PolicyFilter {
    policy: PermissionPolicy,
    tools: HashMap<String, Permission>,
    /// By URI or template: what it needs, and the one database it belongs to.
    resources: HashMap<String, (Permission, Option<String>)>,
    prompts: HashMap<String, Permission>,
    otherwise: Option<Permission>,
    /// The databases whose widest grant judges what belongs to none of them.
    databases: Vec<String>,
}

impl PolicyFilter {
    /// A filter enforcing `policy`.
    pub fn new(policy: PermissionPolicy) -> Self {
        PolicyFilter {
            policy,
            tools: HashMap::new(),
            resources: HashMap::new(),
            prompts: HashMap::new(),
            otherwise: Some(Permission::Read),
            databases: Vec::new(),
        }
    }

    /// Declares the permission the tool `name` needs.
    #[must_use]
    pub fn tool(mut self, name: impl Into<String>, needed: Permission) -> Self {
        self.tools.insert(name.into(), needed);
        self
    }

    /// Declares the permission a resource needs, by its URI, or a resource template, by
    /// its URI template (then every URI it matches).
    #[must_use]
    pub fn resource(mut self, uri_or_template: impl Into<String>, needed: Permission) -> Self {
        self.resources
            .insert(uri_or_template.into(), (needed, None));
        self
    }

    /// Declares the permission a resource of one database needs: judged by that
    /// database's policy ([`PermissionPolicy::for_database`]).
    #[must_use]
    pub fn resource_in(
        mut self,
        database: impl Into<String>,
        uri_or_template: impl Into<String>,
        needed: Permission,
    ) -> Self {
        self.resources
            .insert(uri_or_template.into(), (needed, Some(database.into())));
        self
    }

    /// Judges tools, prompts and resources that belong to no one database by the most
    /// the caller may do on any of `names` ([`PermissionPolicy::widest`]): a server with
    /// several databases shows `executeDatabase` to whoever may write on one of them.
    #[must_use]
    pub fn databases<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.databases = names.into_iter().map(Into::into).collect();
        self
    }

    /// Declares the permission the prompt `name` needs.
    #[must_use]
    pub fn prompt(mut self, name: impl Into<String>, needed: Permission) -> Self {
        self.prompts.insert(name.into(), needed);
        self
    }

    /// Judges only what was declared; everything else passes this filter (the server's
    /// other filters still apply).
    #[must_use]
    pub fn judge_only_named(mut self) -> Self {
        self.otherwise = None;
        self
    }

    /// The policy behind the filter.
    pub fn policy(&self) -> &PermissionPolicy {
        &self.policy
    }

    /// What `item` needs (declared, or the default), and the database it belongs to.
    fn needs(&self, item: Item<'_>) -> Option<(Permission, Option<&str>)> {
        let declared = match item {
            Item::Tool(_) => self.tools.get(item.name()).map(|p| (*p, None)),
            Item::Resource(_) | Item::ResourceTemplate(_) => self
                .resources
                .get(item.name())
                .map(|(p, db)| (*p, db.as_deref())),
            Item::Prompt(_) => self.prompts.get(item.name()).map(|p| (*p, None)),
            _ => None,
        };
        declared.or(self.otherwise.map(|p| (p, None)))
    }
}

impl Filter for PolicyFilter {
    fn allows(&self, item: Item<'_>, extensions: &Extensions) -> bool {
        let Some((needed, database)) = self.needs(item) else {
            return true;
        };
        let identity = Identity::of(extensions);
        let has = match database {
            Some(name) => self.policy.for_database(name).permission(identity),
            None => self
                .policy
                .widest(identity, self.databases.iter().map(String::as_str)),
        };
        has != Permission::None && has >= needed
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use sluice_mcp::{Prompt, ResourceTemplate, Tool};

    use super::*;

    #[test]
    fn the_filter_hides_by_permission_and_defaults_to_read() {
        let filter = PolicyFilter::new(PermissionPolicy::from_lists("alice", Some("bob")))
            .tool("executeDatabase", Permission::Write)
            .tool("queryDatabase", Permission::Read);
        let tool = |name: &str| Tool::new(name, "t", json!({"type": "object"}));
        let sees = |login: &str, name: &str| {
            filter.allows(
                Item::Tool(&tool(name)),
                &Identity::new(login).into_extensions(),
            )
        };
        assert!(sees("alice", "executeDatabase"));
        assert!(sees("alice", "queryDatabase"));
        assert!(!sees("bob", "executeDatabase"));
        assert!(sees("bob", "queryDatabase"));
        assert!(sees("bob", "someNewTool"));
        assert!(!sees("mallory", "queryDatabase"));
        assert!(!sees("mallory", "someNewTool"));
        assert!(!filter.allows(Item::Tool(&tool("queryDatabase")), &Extensions::new()));
    }

    #[test]
    fn resources_and_prompts_are_judged_and_the_rest_can_be_left_alone() {
        let filter = PolicyFilter::new(PermissionPolicy::from_lists("alice", Some("bob")))
            .resource("postgres://table/{schema}/{table}", Permission::Read)
            .prompt("migrate", Permission::Write)
            .judge_only_named();
        let template = ResourceTemplate::new("postgres://table/{schema}/{table}", "table");
        let migrate = Prompt::new("migrate", "Plans a migration.");
        let other = Tool::new("theirTool", "t", json!({"type": "object"}));
        let (bob, mallory) = (
            Identity::new("bob").into_extensions(),
            Identity::new("mallory").into_extensions(),
        );
        assert!(filter.allows(Item::ResourceTemplate(&template), &bob));
        assert!(!filter.allows(Item::ResourceTemplate(&template), &mallory));
        assert!(!filter.allows(Item::Prompt(&migrate), &bob));
        assert!(filter.allows(
            Item::Prompt(&migrate),
            &Identity::new("alice").into_extensions()
        ));
        // Not named: this filter leaves it to the others.
        assert!(filter.allows(Item::Tool(&other), &mallory));
    }

    #[test]
    fn several_databases_judge_by_the_widest_grant_and_their_own_resources_by_theirs() {
        let policy = PermissionPolicy::from_lists("", None)
            .with_database("billing", PermissionPolicy::from_lists("alice", Some("")));
        let filter = PolicyFilter::new(policy)
            .tool("executeDatabase", Permission::Write)
            .tool("queryDatabase", Permission::Read)
            .resource_in("billing", "postgres://db/billing/posture", Permission::Read)
            .resource_in("shop", "postgres://db/shop/posture", Permission::Read)
            .databases(["shop", "billing"]);
        let tool = |name: &str| Tool::new(name, "t", json!({"type": "object"}));
        let (alice, bob) = (
            Identity::new("alice").into_extensions(),
            Identity::new("bob").into_extensions(),
        );
        // Alice writes on billing only, and sees the write tool; bob writes nowhere.
        assert!(filter.allows(Item::Tool(&tool("executeDatabase")), &alice));
        assert!(!filter.allows(Item::Tool(&tool("executeDatabase")), &bob));
        assert!(filter.allows(Item::Tool(&tool("queryDatabase")), &bob));
        let posture =
            |db: &str| sluice_mcp::Resource::new(format!("postgres://db/{db}/posture"), "p");
        assert!(filter.allows(Item::Resource(&posture("shop")), &bob));
        assert!(!filter.allows(Item::Resource(&posture("billing")), &bob));
        assert!(filter.allows(Item::Resource(&posture("billing")), &alice));
    }
}
