//! Names as PostgreSQL folds them, and the relations a statement writes.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use sqlparser::ast::{
    AccessExpr, DataType, Expr, FromTable, ObjectName, ObjectNamePart, Statement, TableFactor,
    TableObject, TypedString, Visit, Visitor,
};

use crate::verdict::Names;

/// An identifier as PostgreSQL sees it: unquoted names fold to lower case, quoted names
/// keep their case exactly.
pub(crate) fn fold(ident: &sqlparser::ast::Ident) -> String {
    let mut name = match ident.quote_style {
        Some(_) => ident.value.clone(),
        // PostgreSQL folds ASCII letters only (in UTF-8): `ᴋ` and the Kelvin sign stay.
        None => ident.value.to_ascii_lowercase(),
    };
    truncate_identifier(&mut name);
    name
}

/// PostgreSQL keeps the first 63 bytes of a longer name (`NAMEDATALEN - 1`), cut at a
/// character boundary, and resolves that: a 70-character call names the function whose
/// name is its first 63 bytes.
fn truncate_identifier(name: &mut String) {
    const MAX: usize = 63;
    if name.len() > MAX {
        let mut end = MAX;
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        name.truncate(end);
    }
}

pub(crate) fn relation_name(name: &ObjectName) -> String {
    name.0
        .iter()
        .map(|part| match part {
            ObjectNamePart::Identifier(ident) => fold(ident),
            ObjectNamePart::Function(f) => f.name.value.clone(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// The relations a statement (and the statements nested in it) writes.
pub(crate) fn write_targets(statement: &Statement, out: &mut BTreeSet<String>) {
    struct Targets<'a>(&'a mut BTreeSet<String>);
    impl Visitor for Targets<'_> {
        type Break = ();
        fn pre_visit_statement(&mut self, statement: &Statement) -> ControlFlow<()> {
            match statement {
                Statement::Insert(insert) => {
                    if let TableObject::TableName(name) = &insert.table {
                        self.0.insert(relation_name(name));
                    }
                }
                Statement::Update(update) => table_factor_name(&update.table.relation, self.0),
                Statement::Delete(delete) => {
                    let (FromTable::WithFromKeyword(tables) | FromTable::WithoutKeyword(tables)) =
                        &delete.from;
                    for table in tables {
                        table_factor_name(&table.relation, self.0);
                    }
                }
                Statement::Merge(merge) => table_factor_name(&merge.table, self.0),
                Statement::CreateTable(create) => {
                    self.0.insert(relation_name(&create.name));
                }
                Statement::CreateView(create) => {
                    self.0.insert(relation_name(&create.name));
                }
                Statement::CreateIndex(create) => {
                    self.0.insert(relation_name(&create.table_name));
                }
                Statement::AlterTable(alter) => {
                    self.0.insert(relation_name(&alter.name));
                }
                Statement::Drop { names, .. } => {
                    self.0.extend(names.iter().map(relation_name));
                }
                _ => {}
            }
            ControlFlow::Continue(())
        }
    }
    fn table_factor_name(factor: &TableFactor, out: &mut BTreeSet<String>) {
        if let TableFactor::Table { name, .. } = factor {
            out.insert(relation_name(name));
        }
    }
    let _ = statement.visit(&mut Targets(out));
}

/// PostgreSQL's reserved key words (`RESERVED_KEYWORD` in its `kwlist.h`): never a bare
/// name to PostgreSQL. sqlparser reads some of them as names where PostgreSQL reports a
/// syntax error (`SELECT 'x' + FROM t` is a column `FROM` to sqlparser); the guard
/// refuses them there too, so that its reading never has a name PostgreSQL's lacks.
/// (The reserved words that are values to PostgreSQL — `current_user`, `user`,
/// `current_date`, `true`, `null`, … — are left out: both read them as expressions.)
const RESERVED: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "both",
    "case",
    "cast",
    "check",
    "collate",
    "column",
    "constraint",
    "create",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "fetch",
    "for",
    "foreign",
    "from",
    "grant",
    "group",
    "having",
    "in",
    "initially",
    "intersect",
    "into",
    "lateral",
    "leading",
    "limit",
    "not",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "placing",
    "primary",
    "references",
    "returning",
    "select",
    "some",
    "symmetric",
    "table",
    "then",
    "to",
    "trailing",
    "union",
    "unique",
    "using",
    "variadic",
    "when",
    "where",
    "window",
    "with",
];

/// True for an unquoted name PostgreSQL reserves as a key word.
pub(crate) fn is_reserved(ident: &sqlparser::ast::Ident) -> bool {
    ident.quote_style.is_none() && RESERVED.contains(&ident.value.to_ascii_lowercase().as_str())
}

/// What a statement names that only the catalog can resolve: relations (a view runs
/// its body), routines (a user overload can out-rank a built-in, `t.f` may call `f(t)`),
/// operators and the types of casts. Gathered during the walk, handed out as [`Names`].
#[derive(Debug, Default)]
pub(crate) struct Collected {
    relations: BTreeSet<Vec<String>>,
    routines: BTreeSet<String>,
    operators: BTreeSet<String>,
    types: BTreeSet<String>,
}

/// The comparisons PostgreSQL applies without an operator in the text: `IN`, `BETWEEN`,
/// `CASE x WHEN`, `ORDER BY`, `GROUP BY`, `DISTINCT`, joins, `IS DISTINCT FROM`.
const IMPLICIT_OPERATORS: &[&str] = &["=", "<>", "<", ">", "<=", ">="];

impl Collected {
    pub(crate) fn relation(&mut self, name: &ObjectName) {
        self.relations.insert(parts(name));
    }

    pub(crate) fn routine(&mut self, name: &ObjectName) {
        if let Some(last) = parts(name).pop() {
            self.routines.insert(last);
        }
    }

    pub(crate) fn expr(&mut self, expr: &Expr) {
        match expr {
            // `t.f` is a column, or a call of `f(t)` when `t` has no column `f`.
            Expr::CompoundIdentifier(idents) => {
                if let Some(last) = idents.last() {
                    self.routines.insert(fold(last));
                }
            }
            Expr::CompoundFieldAccess { access_chain, .. } => {
                for access in access_chain {
                    if let AccessExpr::Dot(Expr::Identifier(ident)) = access {
                        self.routines.insert(fold(ident));
                    }
                }
            }
            Expr::BinaryOp { op, .. } => self.operator(&op.to_string()),
            Expr::UnaryOp { op, .. } => self.operator(&op.to_string()),
            Expr::AnyOp { compare_op, .. } | Expr::AllOp { compare_op, .. } => {
                self.operator(&compare_op.to_string());
            }
            Expr::Like { negated, .. } => self.operator(if *negated { "!~~" } else { "~~" }),
            Expr::ILike { negated, .. } => self.operator(if *negated { "!~~*" } else { "~~*" }),
            Expr::SimilarTo { negated, .. } => self.operator(if *negated { "!~" } else { "~" }),
            Expr::Cast { data_type, .. } | Expr::TypedString(TypedString { data_type, .. }) => {
                self.data_type(data_type);
            }
            _ => {}
        }
    }

    /// An operator's symbol: `OPERATOR(schema.+)` is `+`; words (`AND`, `NOT`) are not
    /// operators to PostgreSQL.
    fn operator(&mut self, shown: &str) {
        let symbol = shown
            .strip_prefix("OPERATOR(")
            .and_then(|rest| rest.strip_suffix(')'))
            .map_or(shown, |inner| inner.rsplit('.').next().unwrap_or(inner));
        if !symbol.is_empty() && !symbol.chars().any(char::is_alphanumeric) {
            self.operators.insert(symbol.to_owned());
        }
    }

    /// A type's bare name, lower case, without modifiers or array brackets.
    fn data_type(&mut self, data_type: &DataType) {
        let shown = data_type.to_string();
        let bare = shown
            .split(['(', '['])
            .next()
            .unwrap_or(&shown)
            .rsplit('.')
            .next()
            .unwrap_or(&shown)
            .trim()
            .trim_matches('"');
        if !bare.is_empty() {
            self.types.insert(bare.to_ascii_lowercase());
        }
    }

    /// The public form, leaving out the statement's own CTE names.
    pub(crate) fn into_names(self, ctes: &BTreeSet<String>) -> Names {
        let mut operators = self.operators;
        operators.extend(IMPLICIT_OPERATORS.iter().map(|op| (*op).to_owned()));
        Names {
            relations: self
                .relations
                .into_iter()
                .filter(|parts| !(parts.len() == 1 && ctes.contains(&parts[0])))
                .collect(),
            routines: self.routines.into_iter().collect(),
            operators: operators.into_iter().collect(),
            types: self.types.into_iter().collect(),
        }
    }
}

/// A name's parts, each folded as PostgreSQL folds it.
fn parts(name: &ObjectName) -> Vec<String> {
    name.0
        .iter()
        .map(|part| match part {
            ObjectNamePart::Identifier(ident) => fold(ident),
            ObjectNamePart::Function(f) => f.name.value.clone(),
        })
        .collect()
}
