//! Constant expressions that PostgreSQL would build while planning.
//!
//! The planner folds calls of immutable functions whose arguments are constants, so
//! `repeat(repeat(repeat('x', 1000), 1000), 1000)` becomes a gigabyte string before the
//! statement starts to run, in the backend's memory, whatever the row caps say. The
//! guard estimates, from the text, an upper bound of the size of every constant
//! expression (literals, casts, `||`, and calls of the functions that grow their input:
//! `repeat`, `lpad`, `rpad`, `replace`, `overlay`, `format`, `concat`, `array_fill`, …)
//! and refuses one above the policy's bound. A count written as a constant above the
//! bound is refused even when the rest is not constant (`repeat(name, 500000000)`),
//! since it builds that much for every row.

use sqlparser::ast::{
    Array, BinaryOperator, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments,
    UnaryOperator, Value,
};

use crate::names::fold;

/// Names of functions whose result can be much larger than their arguments.
const GROWING: &[&str] = &[
    "repeat",
    "lpad",
    "rpad",
    "replace",
    "regexp_replace",
    "overlay",
    "format",
    "concat",
    "concat_ws",
    "array_fill",
    "string_agg",
    "translate",
    "encode",
];

/// Growing functions whose integer arguments are lengths or counts.
const COUNTED: &[&str] = &["repeat", "lpad", "rpad"];

/// The size in bytes a constant expression can reach, or `None` when the expression is
/// not constant (PostgreSQL evaluates it per row, under the statement timeout).
pub(crate) fn constant_size(expr: &Expr) -> Option<u128> {
    match expr {
        Expr::Value(value) => Some(match &value.value {
            Value::Number(n, _) => n.len() as u128,
            Value::SingleQuotedString(s)
            | Value::EscapedStringLiteral(s)
            | Value::NationalStringLiteral(s)
            | Value::UnicodeStringLiteral(s)
            | Value::HexStringLiteral(s)
            | Value::SingleQuotedByteStringLiteral(s) => s.len() as u128,
            Value::DollarQuotedString(d) => d.value.len() as u128,
            _ => 8,
        }),
        Expr::Nested(inner)
        | Expr::Cast { expr: inner, .. }
        | Expr::UnaryOp { expr: inner, .. }
        | Expr::Collate { expr: inner, .. } => constant_size(inner),
        Expr::BinaryOp { left, op, right } => {
            let (l, r) = (constant_size(left)?, constant_size(right)?);
            Some(match op {
                BinaryOperator::StringConcat => l.saturating_add(r),
                _ => l.max(r),
            })
        }
        Expr::Array(Array { elem, .. }) => elem
            .iter()
            .try_fold(0u128, |sum, e| Some(sum.saturating_add(constant_size(e)?))),
        Expr::Function(function) => function_size(function),
        _ => None,
    }
}

/// A constant count argument above `bound`, written anywhere in a growing function's
/// arguments (`repeat(x, 500000000)`, `lpad(x, 500000000)`).
pub(crate) fn oversized_count(function: &Function, bound: u128) -> Option<u128> {
    let name = bare_name(function)?;
    let args = arguments(function)?;
    if name == "array_fill" {
        return args
            .get(1)
            .map(|dims| array_product(dims))
            .filter(|n| *n > bound);
    }
    if !COUNTED.contains(&name.as_str()) {
        return None;
    }
    args.iter()
        .skip(1)
        .filter_map(|arg| integer(arg))
        .map(i128::unsigned_abs)
        .find(|n| *n > bound)
}

/// True for the functions whose size [`constant_size`] estimates by a formula.
pub(crate) fn is_growing(function: &Function) -> bool {
    bare_name(function).is_some_and(|name| GROWING.contains(&name.as_str()))
}

fn bare_name(function: &Function) -> Option<String> {
    function
        .name
        .0
        .last()
        .and_then(|part| part.as_ident())
        .map(fold)
}

/// [`constant_size`] of a call.
pub(crate) fn function_size(function: &Function) -> Option<u128> {
    let args = arguments(function)?;
    let sizes: Vec<u128> = args
        .iter()
        .map(|a| constant_size(a))
        .collect::<Option<_>>()?;
    let name = bare_name(function)?;
    let count = |i: usize| args.get(i).and_then(|a| integer(a)).map(i128::unsigned_abs);
    let total: u128 = sizes.iter().fold(0u128, |sum, s| sum.saturating_add(*s));
    Some(match name.as_str() {
        "repeat" => sizes.first()?.saturating_mul(count(1).unwrap_or(u128::MAX)),
        "lpad" | "rpad" => count(1).unwrap_or(u128::MAX).max(*sizes.first()?),
        // Every character may be replaced by the whole replacement.
        "replace" | "regexp_replace" | "translate" | "overlay" => sizes
            .first()?
            .saturating_mul(sizes.iter().skip(1).copied().max().unwrap_or(1).max(1))
            .saturating_add(total),
        // A width in the format string pads up to it.
        "format" => total.saturating_add(widths(args.first()?)),
        "array_fill" => sizes.first()?.saturating_mul(array_product(args.get(1)?)),
        "encode" => total.saturating_mul(4),
        _ => total,
    })
}

fn arguments(function: &Function) -> Option<Vec<&Expr>> {
    let FunctionArguments::List(list) = &function.args else {
        return match &function.args {
            FunctionArguments::None => Some(Vec::new()),
            _ => None,
        };
    };
    list.args
        .iter()
        .map(|arg| match arg {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e))
            | FunctionArg::Named {
                arg: FunctionArgExpr::Expr(e),
                ..
            }
            | FunctionArg::ExprNamed {
                arg: FunctionArgExpr::Expr(e),
                ..
            } => Some(e),
            _ => None,
        })
        .collect()
}

/// The value of an integer constant written with literals, `+`, `-` and `*`.
fn integer(expr: &Expr) -> Option<i128> {
    match expr {
        Expr::Value(value) => match &value.value {
            Value::Number(n, _) => n.parse::<i128>().ok(),
            _ => None,
        },
        Expr::Nested(inner) | Expr::Cast { expr: inner, .. } => integer(inner),
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => integer(expr).map(|n| -n),
        Expr::BinaryOp { left, op, right } => {
            let (l, r) = (integer(left)?, integer(right)?);
            match op {
                BinaryOperator::Plus => l.checked_add(r),
                BinaryOperator::Minus => l.checked_sub(r),
                BinaryOperator::Multiply => l.checked_mul(r),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The product of an `ARRAY[…]` of integer constants (`array_fill`'s dimensions).
fn array_product(expr: &Expr) -> u128 {
    let Expr::Array(Array { elem, .. }) = expr else {
        return integer(expr).map_or(u128::MAX, i128::unsigned_abs);
    };
    elem.iter().fold(1u128, |product, e| {
        product.saturating_mul(integer(e).map_or(u128::MAX, i128::unsigned_abs))
    })
}

/// The widths written in a format string (`%1000000s`), summed.
fn widths(format: &Expr) -> u128 {
    let Expr::Value(value) = format else {
        return 0;
    };
    let text = match &value.value {
        Value::SingleQuotedString(s) | Value::EscapedStringLiteral(s) => s.as_str(),
        Value::DollarQuotedString(d) => d.value.as_str(),
        _ => return 0,
    };
    text.split(|c: char| !c.is_ascii_digit())
        .filter_map(|digits| digits.parse::<u128>().ok())
        .fold(0u128, u128::saturating_add)
}
