//! The rows of a result, each value kept once, in the form it is sent in.
//!
//! A result of a thousand rows is four thousand values; as `serde_json::Value`s each
//! text would be its own allocation, each row a vector, and the whole built again as a
//! JSON tree for the answer. [`RowSet`] keeps the values in one buffer instead: numbers
//! as numbers (a float also with its text, formatted once), texts side by side in one
//! string, only JSON arrays and objects as `Value`s. The text table and the structured
//! result are written from it directly ([`RowSet`] is [`Serialize`]), and
//! [`Row::to_values`] gives `Value`s to whoever wants them.

use std::fmt;

use serde::ser::{Serialize, SerializeSeq, Serializer};
use serde_json::{Number, Value};

use crate::convert;
use crate::database::SEPARATORS;

/// Where a text lies in the set's buffer.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
}

/// One value.
#[derive(Debug, Clone, Copy)]
enum Cell {
    Null,
    Bool(bool),
    Int(i64),
    /// A finite float and its text as JSON writes it.
    Float(f64, Span),
    /// A text, and whether it is [`convert::plain`] (known when it was written).
    Text(Span, bool),
    /// An array or object, at this index of [`RowSet::json`].
    Json(usize),
    /// A value still to be filled in ([`RowSet::fill`]); it costs nothing until then.
    Pending,
}

/// The rows of a result ([`QueryOutput::rows`](crate::QueryOutput::rows)): a list of rows,
/// each a list of values in column order.
///
/// Read it row by row ([`RowSet::iter`], [`RowSet::get`]) as [`ValueRef`]s, which borrow
/// from the set, or as `serde_json::Value`s ([`RowSet::to_values`]); it serialises as an
/// array of arrays and compares equal to the `Vec<Vec<Value>>` of the same values.
///
/// ```
/// use serde_json::json;
/// use sluice_postgres::{RowSet, ValueRef};
///
/// let rows = RowSet::from(vec![vec![json!(1), json!("one")], vec![json!(2), json!(null)]]);
/// assert_eq!(rows.len(), 2);
/// assert_eq!(rows.get(0).and_then(|row| row.get(1)), Some(ValueRef::Text("one")));
/// assert_eq!(serde_json::to_string(&rows).unwrap(), r#"[[1,"one"],[2,null]]"#);
/// assert_eq!(rows, vec![vec![json!(1), json!("one")], vec![json!(2), json!(null)]]);
/// ```
#[derive(Clone, Default)]
pub struct RowSet {
    cells: Vec<Cell>,
    /// Where each row's cells end.
    row_ends: Vec<usize>,
    text: String,
    json: Vec<Value>,
    /// Where the row being written started, in `text` and `json`.
    open_text: usize,
    open_json: usize,
}

/// One value of a row, borrowed from its [`RowSet`].
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum ValueRef<'a> {
    /// SQL `NULL`.
    Null,
    /// A `boolean`.
    Bool(bool),
    /// An integer (`smallint`, `integer`, `bigint`, `oid`).
    Int(i64),
    /// A finite `real` or `double precision` (`NaN` and the infinities are texts).
    Float(f64),
    /// A JSON string: text, `numeric`, dates and times, … as
    /// [`convert`](crate::convert) describes.
    Text(&'a str),
    /// A JSON array or object (arrays, `json`, `jsonb`).
    Json(&'a Value),
}

impl ValueRef<'_> {
    /// The value as a `serde_json::Value`.
    pub fn to_value(self) -> Value {
        match self {
            ValueRef::Null => Value::Null,
            ValueRef::Bool(b) => Value::Bool(b),
            ValueRef::Int(i) => Value::from(i),
            ValueRef::Float(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
            ValueRef::Text(s) => Value::String(s.to_owned()),
            ValueRef::Json(value) => value.clone(),
        }
    }
}

impl Serialize for ValueRef<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match *self {
            ValueRef::Null => serializer.serialize_unit(),
            ValueRef::Bool(b) => serializer.serialize_bool(b),
            ValueRef::Int(i) => serializer.serialize_i64(i),
            ValueRef::Float(f) => serializer.serialize_f64(f),
            ValueRef::Text(s) => serializer.serialize_str(s),
            ValueRef::Json(value) => value.serialize(serializer),
        }
    }
}

/// One row of a [`RowSet`].
#[derive(Clone, Copy)]
pub struct Row<'a> {
    set: &'a RowSet,
    cells: &'a [Cell],
}

impl<'a> Row<'a> {
    /// How many values it holds.
    pub fn len(&self) -> usize {
        self.cells.len()
    }

    /// True when it holds none (`SELECT FROM t`).
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// The value in column `column`.
    pub fn get(&self, column: usize) -> Option<ValueRef<'a>> {
        self.cells.get(column).map(|cell| self.set.value(cell))
    }

    /// Its values in column order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = ValueRef<'a>> + 'a {
        let set = self.set;
        self.cells.iter().map(move |cell| set.value(cell))
    }

    /// Its values as `serde_json::Value`s.
    pub fn to_values(&self) -> Vec<Value> {
        self.iter().map(ValueRef::to_value).collect()
    }

    /// The text of the value in `column` when it shows in the text table as it is: a
    /// float's (written once, when it was read) or a [`convert::plain`] text.
    #[cfg(any(test, feature = "tools"))]
    pub(crate) fn shown_as_is(&self, column: usize) -> Option<&'a str> {
        match self.cells.get(column) {
            Some(Cell::Float(_, span) | Cell::Text(span, true)) => {
                self.set.text.get(span.start..span.end)
            }
            _ => None,
        }
    }
}

impl fmt::Debug for Row<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Serialize for Row<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.len()))?;
        for value in self.iter() {
            seq.serialize_element(&value)?;
        }
        seq.end()
    }
}

impl RowSet {
    /// No rows.
    pub fn new() -> Self {
        RowSet::default()
    }

    /// How many rows it holds.
    pub fn len(&self) -> usize {
        self.row_ends.len()
    }

    /// True when it holds none.
    pub fn is_empty(&self) -> bool {
        self.row_ends.is_empty()
    }

    /// Row `row`.
    pub fn get(&self, row: usize) -> Option<Row<'_>> {
        let end = *self.row_ends.get(row)?;
        let start = self.row_start(row)?;
        Some(Row {
            set: self,
            cells: self.cells.get(start..end)?,
        })
    }

    /// The first row.
    pub fn first(&self) -> Option<Row<'_>> {
        self.get(0)
    }

    /// The rows in order.
    pub fn iter(&self) -> impl Iterator<Item = Row<'_>> + '_ {
        let mut start = 0;
        self.row_ends.iter().map(move |&end| {
            let cells = self.cells.get(start..end).unwrap_or(&[]);
            start = end;
            Row { set: self, cells }
        })
    }

    /// Every row as `serde_json::Value`s.
    pub fn to_values(&self) -> Vec<Vec<Value>> {
        self.iter().map(|row| row.to_values()).collect()
    }

    /// Appends a row of `values`.
    pub fn push_row(&mut self, values: impl IntoIterator<Item = Value>) {
        for value in values {
            self.push_value(value);
        }
        self.end_row();
    }

    /// About how many bytes the rows take as text: what the set holds as text and a
    /// few bytes per value besides (for a buffer sized before the rows are written out).
    #[cfg(any(test, feature = "tools"))]
    pub(crate) fn text_size_hint(&self) -> usize {
        self.text
            .len()
            .saturating_add(self.cells.len().saturating_mul(8))
    }

    fn value(&self, cell: &Cell) -> ValueRef<'_> {
        match *cell {
            Cell::Null | Cell::Pending => ValueRef::Null,
            Cell::Bool(b) => ValueRef::Bool(b),
            Cell::Int(i) => ValueRef::Int(i),
            Cell::Float(f, _) => ValueRef::Float(f),
            Cell::Text(span, _) => {
                ValueRef::Text(self.text.get(span.start..span.end).unwrap_or(""))
            }
            Cell::Json(i) => self.json.get(i).map_or(ValueRef::Null, ValueRef::Json),
        }
    }

    // Writing, a row at a time: values are pushed to the open row, which `end_row`
    // closes or `discard_row` takes back.

    pub(crate) fn push_null(&mut self) {
        self.cells.push(Cell::Null);
    }

    pub(crate) fn push_bool(&mut self, b: bool) {
        self.cells.push(Cell::Bool(b));
    }

    pub(crate) fn push_int(&mut self, i: i64) {
        self.cells.push(Cell::Int(i));
    }

    /// A float: a number when finite, else the text PostgreSQL prints (`NaN`,
    /// `Infinity`, `-Infinity`).
    pub(crate) fn push_float(&mut self, f: f64) {
        if f.is_nan() {
            self.push_str("NaN");
        } else if f.is_infinite() {
            self.push_str(if f < 0.0 { "-Infinity" } else { "Infinity" });
        } else {
            let cell = self.float_cell(f);
            self.cells.push(cell);
        }
    }

    pub(crate) fn push_str(&mut self, s: &str) {
        let cell = self.text_cell(s);
        self.cells.push(cell);
    }

    /// A finite float, its text written once into the buffer.
    fn float_cell(&mut self, f: f64) -> Cell {
        let start = self.text.len();
        self.text.push_str(zmij::Buffer::new().format_finite(f));
        Cell::Float(
            f,
            Span {
                start,
                end: self.text.len(),
            },
        )
    }

    fn text_cell(&mut self, s: &str) -> Cell {
        let start = self.text.len();
        self.text.push_str(s);
        Cell::Text(
            Span {
                start,
                end: self.text.len(),
            },
            convert::plain(s),
        )
    }

    /// A text written by `write` straight into the buffer; nothing is pushed (and
    /// nothing it wrote kept) when it gives `None`.
    pub(crate) fn push_text_with(
        &mut self,
        write: impl FnOnce(&mut String) -> Option<()>,
    ) -> Option<()> {
        let start = self.text.len();
        match write(&mut self.text) {
            Some(()) => {
                let end = self.text.len();
                let plain = convert::plain(self.text.get(start..end).unwrap_or("\\"));
                self.cells.push(Cell::Text(Span { start, end }, plain));
                Some(())
            }
            None => {
                self.text.truncate(start);
                None
            }
        }
    }

    /// A value to be filled in later ([`RowSet::fill`]).
    pub(crate) fn push_pending(&mut self) {
        self.cells.push(Cell::Pending);
    }

    pub(crate) fn push_value(&mut self, value: Value) {
        let cell = self.cell_of(value);
        self.cells.push(cell);
    }

    fn cell_of(&mut self, value: Value) -> Cell {
        match value {
            Value::Null => Cell::Null,
            Value::Bool(b) => Cell::Bool(b),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Cell::Int(i)
                } else if let Some(f) = n.as_f64().filter(|_| !n.is_u64()) {
                    self.float_cell(f)
                } else {
                    // A u64 beyond i64: kept as JSON has it.
                    self.json.push(Value::Number(n));
                    Cell::Json(self.json.len() - 1)
                }
            }
            Value::String(s) => self.text_cell(&s),
            other => {
                self.json.push(other);
                Cell::Json(self.json.len() - 1)
            }
        }
    }

    /// Where row `row`'s cells start, when there is such a row or it is the next one.
    fn row_start(&self, row: usize) -> Option<usize> {
        match row.checked_sub(1) {
            Some(before) => self.row_ends.get(before).copied(),
            None => Some(0),
        }
    }

    /// Marks where the open row's text and arrays start: what `discard_row` takes back.
    fn mark(&mut self) {
        self.open_text = self.text.len();
        self.open_json = self.json.len();
    }

    /// Closes the open row.
    pub(crate) fn end_row(&mut self) {
        self.row_ends.push(self.cells.len());
        self.mark();
    }

    /// Takes the open row back.
    pub(crate) fn discard_row(&mut self) {
        let start = self.row_ends.last().copied().unwrap_or(0);
        self.cells.truncate(start);
        self.text.truncate(self.open_text);
        self.json.truncate(self.open_json);
    }

    /// The bytes the open row costs in a result (see [`convert::sent_len`]).
    pub(crate) fn open_row_cost(&self) -> usize {
        let start = self.row_ends.last().copied().unwrap_or(0);
        self.cost(self.cells.get(start..).unwrap_or(&[]))
    }

    /// The bytes row `row` costs.
    pub(crate) fn row_cost(&self, row: usize) -> usize {
        self.get(row).map_or(0, |row| self.cost(row.cells))
    }

    fn cost(&self, cells: &[Cell]) -> usize {
        cells
            .iter()
            .map(|cell| {
                let json = match *cell {
                    Cell::Pending => return 0,
                    Cell::Null => 4,
                    Cell::Bool(true) => 4,
                    Cell::Bool(false) => 5,
                    Cell::Int(i) => convert::int_len(i),
                    Cell::Float(_, span) => span.end - span.start,
                    Cell::Text(span, true) => span.end - span.start + 2,
                    Cell::Text(span, false) => {
                        convert::string_len(self.text.get(span.start..span.end).unwrap_or(""))
                    }
                    Cell::Json(i) => self.json.get(i).map_or(4, convert::json_len),
                };
                2 * json + SEPARATORS
            })
            .fold(0usize, usize::saturating_add)
    }

    /// Keeps the first `rows` rows.
    pub(crate) fn truncate(&mut self, rows: usize) {
        if rows >= self.len() {
            return;
        }
        self.row_ends.truncate(rows);
        let end = self.row_ends.last().copied().unwrap_or(0);
        self.cells.truncate(end);
        self.mark();
    }

    /// Puts `value` in row `row`, column `column` (a value that was pending).
    pub(crate) fn fill(&mut self, row: usize, column: usize, value: Value) {
        let Some(at) = self
            .row_start(row)
            .and_then(|start| start.checked_add(column))
        else {
            return;
        };
        if row >= self.len() || at >= self.row_ends.get(row).copied().unwrap_or(0) {
            return;
        }
        let cell = self.cell_of(value);
        if let Some(slot) = self.cells.get_mut(at) {
            *slot = cell;
        }
        self.mark();
    }
}

impl From<Vec<Vec<Value>>> for RowSet {
    fn from(rows: Vec<Vec<Value>>) -> Self {
        rows.into_iter().collect()
    }
}

impl FromIterator<Vec<Value>> for RowSet {
    fn from_iter<I: IntoIterator<Item = Vec<Value>>>(rows: I) -> Self {
        let mut set = RowSet::new();
        for row in rows {
            set.push_row(row);
        }
        set
    }
}

impl Serialize for RowSet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.len()))?;
        for row in self.iter() {
            seq.serialize_element(&row)?;
        }
        seq.end()
    }
}

impl fmt::Debug for RowSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl PartialEq for RowSet {
    fn eq(&self, other: &RowSet) -> bool {
        self.len() == other.len()
            && self
                .iter()
                .zip(other.iter())
                .all(|(a, b)| a.len() == b.len() && a.iter().eq(b.iter()))
    }
}

impl RowSet {
    /// True when the rows hold exactly `rows`' values.
    fn holds<R: AsRef<[Value]>>(&self, rows: &[R]) -> bool {
        self.len() == rows.len()
            && self.iter().zip(rows).all(|(row, values)| {
                let values = values.as_ref();
                row.len() == values.len() && row.iter().zip(values).all(|(a, b)| a.to_value() == *b)
            })
    }
}

impl<R: AsRef<[Value]>> PartialEq<Vec<R>> for RowSet {
    fn eq(&self, other: &Vec<R>) -> bool {
        self.holds(other)
    }
}

impl<R: AsRef<[Value]>, const N: usize> PartialEq<[R; N]> for RowSet {
    fn eq(&self, other: &[R; N]) -> bool {
        self.holds(other)
    }
}

impl PartialEq<RowSet> for Vec<Vec<Value>> {
    fn eq(&self, other: &RowSet) -> bool {
        other == self
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn sample() -> Vec<Vec<Value>> {
        vec![
            vec![json!(1), json!("a\"b\n"), json!(1.5), json!(null)],
            vec![json!(-7), json!(""), json!(1e300), json!(true)],
            vec![
                json!(u64::MAX),
                json!([1, "x"]),
                json!({"k": [null]}),
                json!(false),
            ],
            vec![],
        ]
    }

    /// Values go in and come out as they were, serialised as serde_json would.
    #[test]
    fn values_round_trip() {
        let values = sample();
        let set = RowSet::from(values.clone());
        assert_eq!(set.len(), 4);
        assert_eq!(set.to_values(), values);
        assert_eq!(set, values);
        assert_eq!(
            serde_json::to_string(&set).unwrap(),
            serde_json::to_string(&values).unwrap()
        );
        assert_eq!(set.get(0).unwrap().shown_as_is(2), Some("1.5"));
        assert!(set.get(4).is_none());
        assert!(set.get(3).unwrap().is_empty());
    }

    /// A row's cost is what the JSON of its values costs, each counted as
    /// `convert::sent_len` does.
    #[test]
    fn costs_are_the_sent_lengths() {
        let values = sample();
        let set = RowSet::from(values.clone());
        for (i, row) in values.iter().enumerate() {
            let expected: usize = row
                .iter()
                .map(|value| convert::sent_len(value) + SEPARATORS)
                .sum();
            assert_eq!(set.row_cost(i), expected, "row {i}");
        }
    }

    /// A discarded row leaves nothing behind; a filled value replaces its placeholder.
    #[test]
    fn rows_are_taken_back_and_filled_in() {
        let mut set = RowSet::new();
        set.push_int(1);
        set.push_pending();
        set.end_row();
        set.push_str("gone");
        set.push_value(json!([1]));
        assert!(set.open_row_cost() > 0);
        set.discard_row();
        assert_eq!(set.open_row_cost(), 0);
        assert_eq!(set.row_cost(0), 2 + SEPARATORS);
        set.fill(0, 1, json!("printed"));
        set.fill(3, 0, json!("nowhere"));
        set.fill(0, 9, json!("nowhere"));
        assert_eq!(set, vec![vec![json!(1), json!("printed")]]);
        assert!(set.text.len() < 20, "{}", set.text);
        set.push_text_with(|out| {
            out.push_str("half");
            None
        });
        set.push_float(f64::NAN);
        set.push_float(f64::NEG_INFINITY);
        set.end_row();
        assert_eq!(
            set.get(1).unwrap().to_values(),
            vec![json!("NaN"), json!("-Infinity")]
        );
        set.truncate(1);
        assert_eq!(set.len(), 1);
    }
}
