//! Names as PostgreSQL folds them, and the relations a statement writes.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use sqlparser::ast::{
    FromTable, ObjectName, ObjectNamePart, Statement, TableFactor, TableObject, Visit, Visitor,
};

/// An identifier as PostgreSQL sees it: unquoted names fold to lower case, quoted names
/// keep their case exactly.
pub(crate) fn fold(ident: &sqlparser::ast::Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        // PostgreSQL folds ASCII letters only (in UTF-8): `ᴋ` and the Kelvin sign stay.
        None => ident.value.to_ascii_lowercase(),
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
