//! `explainQuery`: a read's plan, and a short summary a model can act on.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use serde::Deserialize;
use serde_json::{Value, json};
use sluice_auth::{Permission, PermissionPolicy};
use sluice_mcp::{
    CallToolResult, RequestContext, Tool, ToolAnnotations, ToolError, ToolHandler, input_schema,
    typed_handler,
};

use super::shared::{Authorised, audit, authorise_on, database_argument};
use super::statements::bind;
use crate::ValueRef;
use crate::databases::Databases;

/// Arguments of `explainQuery`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ExplainArgs {
    /// One plain read (SELECT, WITH … SELECT, VALUES, TABLE), as queryDatabase takes it.
    pub sql: String,
    /// Also run it (inside a read-only transaction that is rolled back, under the time
    /// limit) to get actual rows and times. Default false: the plan only.
    #[serde(default)]
    pub analyze: bool,
    /// Values for $1, $2, … as queryDatabase takes them.
    #[serde(default)]
    pub params: Option<Vec<Value>>,
    /// Which database, when the server has several (default: the first).
    #[serde(default)]
    pub database: Option<String>,
}

/// `explainQuery {sql, analyze?, params?}`: the plan in PostgreSQL's JSON format and a
/// summary (total cost, estimated against actual rows, the most expensive steps). The SQL
/// passes the read guard first; only plain reads can be explained. Needs
/// [`Permission::Read`].
pub fn explain_query(
    databases: impl Into<Databases>,
    policy: Arc<PermissionPolicy>,
) -> (Tool, impl ToolHandler) {
    let databases = databases.into();
    let tool = Tool::new(
        "explainQuery",
        "Shows how PostgreSQL would run one read-only query: its plan (JSON) and a summary \
         with the total cost, estimated rows and the most expensive steps. With analyze: \
         true it runs the query (read-only, rolled back, time-limited) and reports actual \
         rows and times. Use it before running a query that may be slow.",
        database_argument(input_schema::<ExplainArgs>(), &databases),
    )
    .with_title("Explain a query")
    .with_annotations(ToolAnnotations::new().read_only(true).open_world(false));
    let handler = typed_handler(move |args: ExplainArgs, ctx: RequestContext| {
        let (dbs, pol) = (databases.clone(), Arc::clone(&policy));
        async move {
            let tool = "explainQuery";
            let place = args.database.as_deref();
            let Authorised {
                who,
                name,
                database: db,
                ..
            } = authorise_on(&dbs, &pol, &ctx, Permission::Read, tool, place).await?;
            let params = bind(args.params.as_ref())?;
            let start = Instant::now();
            let outcome = db.explain(&args.sql, &params, args.analyze).await;
            audit(
                &who.login,
                tool,
                &name,
                &args.sql,
                &params,
                outcome.as_ref(),
                start,
            );
            let output = outcome?;
            let plan = output
                .rows
                .get(0)
                .and_then(|row| row.get(0))
                .map(ValueRef::to_value)
                .and_then(|plans| plans.get(0).cloned())
                .ok_or_else(|| ToolError::new("PostgreSQL returned no plan"))?;
            let summary = Summary::of(&plan);
            let text = summary.text(args.analyze);
            Ok(CallToolResult::text(text)
                .with_structured(json!({"plan": plan, "summary": summary.to_json()})))
        }
    });
    (tool, handler)
}

/// What the summary says about a plan.
#[derive(Debug)]
struct Summary {
    total_cost: Option<f64>,
    estimated_rows: Option<f64>,
    actual_rows: Option<f64>,
    planning_ms: Option<f64>,
    execution_ms: Option<f64>,
    /// The costliest steps: description and their own cost (or own time with analyze).
    costliest: Vec<(String, f64)>,
}

impl Summary {
    fn of(explained: &Value) -> Summary {
        let plan = &explained["Plan"];
        let mut nodes = Vec::new();
        walk(plan, &mut nodes);
        nodes.sort_by(|a, b| b.1.total_cmp(&a.1));
        nodes.truncate(3);
        Summary {
            total_cost: plan["Total Cost"].as_f64(),
            estimated_rows: plan["Plan Rows"].as_f64(),
            actual_rows: plan["Actual Rows"].as_f64(),
            planning_ms: explained["Planning Time"].as_f64(),
            execution_ms: explained["Execution Time"].as_f64(),
            costliest: nodes,
        }
    }

    fn text(&self, analyze: bool) -> String {
        let mut text = String::new();
        if let Some(cost) = self.total_cost {
            let _ = write!(text, "Total cost {cost:.2}");
        }
        if let Some(rows) = self.estimated_rows {
            let _ = write!(text, ", estimated rows {rows:.0}");
        }
        if let Some(rows) = self.actual_rows {
            let _ = write!(text, ", actual rows {rows:.0}");
        }
        if let (Some(planning), Some(execution)) = (self.planning_ms, self.execution_ms) {
            let _ = write!(
                text,
                "; planning {planning:.3} ms, execution {execution:.3} ms"
            );
        }
        text.push_str(".\n");
        if !self.costliest.is_empty() {
            let _ = writeln!(
                text,
                "Most expensive steps ({}):",
                if analyze { "own time, ms" } else { "own cost" }
            );
            for (node, cost) in &self.costliest {
                let _ = writeln!(text, "- {node}: {cost:.2}");
            }
        }
        text.push_str("The full plan is in structuredContent.plan (PostgreSQL's EXPLAIN JSON).");
        text
    }

    fn to_json(&self) -> Value {
        json!({
            "totalCost": self.total_cost,
            "estimatedRows": self.estimated_rows,
            "actualRows": self.actual_rows,
            "planningMs": self.planning_ms,
            "executionMs": self.execution_ms,
            "costliest": self.costliest.iter().map(|(node, cost)| json!({"node": node, "ownCost": cost})).collect::<Vec<_>>(),
        })
    }
}

/// Each node with what it costs itself: its total less its children's (with analyze, its
/// actual time less its children's, times its loops).
fn walk(node: &Value, out: &mut Vec<(String, f64)>) {
    let children = node["Plans"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let measure = |n: &Value| match n["Actual Total Time"].as_f64() {
        Some(time) => time * n["Actual Loops"].as_f64().unwrap_or(1.0),
        None => n["Total Cost"].as_f64().unwrap_or(0.0),
    };
    let own = measure(node) - children.iter().map(measure).sum::<f64>();
    let mut name = node["Node Type"].as_str().unwrap_or("step").to_owned();
    if let Some(relation) = node["Relation Name"].as_str() {
        let _ = write!(name, " on {relation}");
    }
    if let Some(index) = node["Index Name"].as_str() {
        let _ = write!(name, " using {index}");
    }
    if let (Some(estimated), Some(actual)) =
        (node["Plan Rows"].as_f64(), node["Actual Rows"].as_f64())
    {
        let _ = write!(
            name,
            " (rows: estimated {estimated:.0}, actual {actual:.0})"
        );
    }
    out.push((name, own.max(0.0)));
    for child in children {
        walk(child, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_costliest_steps_are_their_own_cost() {
        let plan = json!({"Plan": {"Node Type": "Hash Join", "Total Cost": 100.0, "Plan Rows": 10,
            "Plans": [
                {"Node Type": "Seq Scan", "Relation Name": "orders", "Total Cost": 70.0, "Plan Rows": 1000},
                {"Node Type": "Hash", "Total Cost": 20.0, "Plans": [
                    {"Node Type": "Index Scan", "Relation Name": "customers", "Index Name": "customers_pkey", "Total Cost": 15.0}]}
            ]}, "Planning Time": 0.1});
        let summary = Summary::of(&plan);
        assert_eq!(summary.total_cost, Some(100.0));
        assert_eq!(
            summary.costliest[0],
            ("Seq Scan on orders".to_owned(), 70.0)
        );
        assert_eq!(
            summary.costliest[1].0,
            "Index Scan on customers using customers_pkey"
        );
        assert!(
            summary
                .text(false)
                .starts_with("Total cost 100.00, estimated rows 10.")
        );
    }
}
