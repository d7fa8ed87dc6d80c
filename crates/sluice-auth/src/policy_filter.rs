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
    resources: HashMap<String, Permission>,
    prompts: HashMap<String, Permission>,
    otherwise: Option<Permission>,
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
        self.resources.insert(uri_or_template.into(), needed);
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

    /// What `item` needs: declared, or the default.
    fn needs(&self, item: Item<'_>) -> Option<Permission> {
        let declared = match item {
            Item::Tool(_) => self.tools.get(item.name()),
            Item::Resource(_) | Item::ResourceTemplate(_) => self.resources.get(item.name()),
            Item::Prompt(_) => self.prompts.get(item.name()),
            _ => None,
        };
        declared.copied().or(self.otherwise)
    }
}

impl Filter for PolicyFilter {
    fn allows(&self, item: Item<'_>, extensions: &Extensions) -> bool {
        let Some(needed) = self.needs(item) else {
            return true;
        };
        let has = self.policy.permission(Identity::of(extensions));
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
}
