//! The guard decides only on text that sqlparser and PostgreSQL read the same way.
//!
//! sqlparser's tokens are compared with those of [`crate::lexer`], which follows
//! PostgreSQL's scanner: every string, quoted name, comment, number, parameter and name
//! must begin and end at the same byte in both readings. Where they differ, a piece of
//! text is data to one and code to the other, and the statement is refused
//! ([`RefusalReason::Ambiguous`]) rather than judged on a reading PostgreSQL will not do.

use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::{Location, Token, TokenWithSpan, Whitespace};

use crate::lexer::{self, Class, Lexeme};
use crate::verdict::{Refusal, RefusalReason};

/// `Ok` when both readings agree on every significant token of `sql`.
pub(crate) fn check(sql: &str, tokens: &[TokenWithSpan]) -> Result<(), Refusal> {
    let postgres = match lexer::lex(sql) {
        Ok(lexemes) => lexemes,
        Err(e) => {
            return Err(Refusal::new(
                RefusalReason::Unparsable,
                format!(
                    "PostgreSQL would reject the SQL: {} (at {}). Only statements the guard \
                     can parse are run.",
                    e.message,
                    position(sql, e.at)
                ),
            ));
        }
    };
    let mut offsets = Offsets::new(sql);
    let mut parser = Vec::with_capacity(postgres.len());
    for token in tokens {
        let Some(class) = class_of(&token.token) else {
            continue;
        };
        if let Token::Word(word) = &token.token
            && word.keyword != Keyword::NoKeyword
            && !word.value.is_ascii()
        {
            // PostgreSQL's key words are ASCII; a key word read from other letters
            // (`ſELECT`) is a name to PostgreSQL.
            return Err(ambiguous(sql, offsets.byte(token.span.start), None));
        }
        let start = offsets.byte(token.span.start);
        let end = offsets.byte(token.span.end);
        parser.push(Lexeme { class, start, end });
    }
    let trim = |sql: &str, l: &Lexeme| {
        let mut end = l.end;
        if l.class == Class::Comment {
            end = l.start + sql[l.start..end].trim_end_matches(['\n', '\r']).len();
        }
        (l.class, l.start, end)
    };
    for (i, ours) in postgres.iter().enumerate() {
        match parser.get(i) {
            Some(theirs) if trim(sql, theirs) == trim(sql, ours) => {}
            _ => return Err(ambiguous(sql, ours.start, Some(ours))),
        }
    }
    if let Some(extra) = parser.get(postgres.len()) {
        return Err(ambiguous(sql, extra.start, None));
    }
    Ok(())
}

/// The class of a sqlparser token, or `None` for operators, punctuation and whitespace.
fn class_of(token: &Token) -> Option<Class> {
    Some(match token {
        Token::Word(word) => match word.quote_style {
            None => Class::Word,
            Some('"') => Class::QuotedIdentifier,
            // Any other quoting (`[…]`, backticks) is nothing PostgreSQL has; the
            // comparison reports it, as PostgreSQL's lexer has no such token.
            Some(_) => Class::String,
        },
        Token::Number(..) => Class::Number,
        Token::Placeholder(p) if p.starts_with('$') => Class::Parameter,
        Token::Whitespace(
            Whitespace::SingleLineComment { .. } | Whitespace::MultiLineComment(_),
        ) => Class::Comment,
        Token::Whitespace(_) => return None,
        Token::SingleQuotedString(_)
        | Token::DoubleQuotedString(_)
        | Token::TripleSingleQuotedString(_)
        | Token::TripleDoubleQuotedString(_)
        | Token::DollarQuotedString(_)
        | Token::SingleQuotedByteStringLiteral(_)
        | Token::DoubleQuotedByteStringLiteral(_)
        | Token::TripleSingleQuotedByteStringLiteral(_)
        | Token::TripleDoubleQuotedByteStringLiteral(_)
        | Token::SingleQuotedRawStringLiteral(_)
        | Token::DoubleQuotedRawStringLiteral(_)
        | Token::TripleSingleQuotedRawStringLiteral(_)
        | Token::TripleDoubleQuotedRawStringLiteral(_)
        | Token::NationalStringLiteral(_)
        | Token::QuoteDelimitedStringLiteral(_)
        | Token::NationalQuoteDelimitedStringLiteral(_)
        | Token::EscapedStringLiteral(_)
        | Token::UnicodeStringLiteral(_)
        | Token::HexStringLiteral(_)
        | Token::CopyData { .. } => Class::String,
        _ => return None,
    })
}

fn ambiguous(sql: &str, at: usize, postgres: Option<&Lexeme>) -> Refusal {
    let excerpt: String = sql.get(at..).unwrap_or("").chars().take(24).collect();
    let seen = match postgres {
        Some(lexeme) => format!(" PostgreSQL reads {} there", lexeme.class.describe()),
        None => String::new(),
    };
    Refusal::new(
        RefusalReason::Ambiguous,
        format!(
            "the guard's parser and PostgreSQL would read the SQL differently at {} \
             (near {excerpt:?}).{seen} Write strings as plain '…' literals (or $$…$$), \
             names plainly or in \"…\", and avoid backslashes, unusual quoting and \
             characters outside ASCII in names.",
            position(sql, at)
        ),
    )
}

/// "line L, column C" for a byte offset, counted in characters as editors do.
fn position(sql: &str, at: usize) -> String {
    let before = sql.get(..at).unwrap_or(sql);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("line {line}, column {column}")
}

/// Turns sqlparser's locations (line and column in characters, lines ended by `\n`)
/// into byte offsets. Tokens come in order, so the walk only moves forward.
pub(crate) struct Offsets<'a> {
    text: &'a str,
    byte: usize,
    line: u64,
    column: u64,
}

impl<'a> Offsets<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Offsets {
            text,
            byte: 0,
            line: 1,
            column: 1,
        }
    }

    pub(crate) fn byte(&mut self, at: Location) -> usize {
        if (at.line, at.column) < (self.line, self.column) {
            *self = Offsets::new(self.text);
        }
        while (self.line, self.column) < (at.line, at.column) {
            let Some(c) = self.text[self.byte..].chars().next() else {
                break;
            };
            self.byte += c.len_utf8();
            if c == '\n' {
                self.line += 1;
                self.column = 1;
            } else {
                self.column += 1;
            }
        }
        self.byte
    }
}
