//! PostgreSQL's own tokenisation rules, written down independently of sqlparser.
//!
//! The guard decides on sqlparser's reading of the text, but PostgreSQL runs its own
//! reading. Where the two disagree on where a string, an identifier or a comment begins
//! and ends, text that the guard took for data is code to PostgreSQL (`X'\' , pg_sleep(4)
//! --'` was one literal to sqlparser and a function call to PostgreSQL). This module
//! lexes the text the way PostgreSQL's scanner (`scan.l`) does, with the settings that
//! `sluice-postgres` pins in every transaction (`standard_conforming_strings = on`,
//! `client_encoding = UTF8`), so [`crate::check`] can refuse any text on which the two
//! readings differ.
//!
//! Only boundaries matter here, not values: the lexer reports each significant token's
//! class and byte span. Operators and punctuation are skipped but scanned exactly as
//! PostgreSQL does, because an operator that contains `--` or `/*` ends there.

/// What a significant token is. Operators and punctuation are not reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// An unquoted identifier or key word.
    Word,
    /// A quoted identifier: `"…"` or `U&"…"`.
    QuotedIdentifier,
    /// Any string constant: `'…'`, `E'…'`, `N'…'`, `U&'…'`, `B'…'`, `X'…'`, `$tag$…$tag$`.
    String,
    /// A numeric constant.
    Number,
    /// A positional parameter, `$1`.
    Parameter,
    /// A `--` or `/* … */` comment.
    Comment,
}

impl Class {
    /// How the class is named in messages.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Class::Word => "a name or key word",
            Class::QuotedIdentifier => "a quoted name",
            Class::String => "a string constant",
            Class::Number => "a number",
            Class::Parameter => "a parameter",
            Class::Comment => "a comment",
        }
    }
}

/// A significant token: its class and where it lies in the text (byte offsets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Lexeme {
    pub(crate) class: Class,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// Text PostgreSQL's scanner would reject, with a message and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LexError {
    pub(crate) message: String,
    pub(crate) at: usize,
}

/// Lexes `sql` as PostgreSQL would (with `standard_conforming_strings = on`).
pub(crate) fn lex(sql: &str) -> Result<Vec<Lexeme>, LexError> {
    Lexer {
        text: sql.as_bytes(),
        pos: 0,
        out: Vec::new(),
    }
    .run()
}

/// `[ \t\n\r\f]`: PostgreSQL's `space`. PostgreSQL 16 added the vertical tab, which 15
/// rejects as a syntax error; it is refused here, so no version reads it differently.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0c)
}

fn is_newline(b: u8) -> bool {
    matches!(b, b'\n' | b'\r')
}

/// `ident_start`: letters, `_` and every byte of a non-ASCII character.
fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

/// `ident_cont`: `ident_start`, digits and `$`.
fn is_ident_cont(b: u8) -> bool {
    is_ident_start(b) || b.is_ascii_digit() || b == b'$'
}

/// `dolq_cont`: like `ident_cont` without `$`.
fn is_dollar_tag_cont(b: u8) -> bool {
    is_ident_start(b) || b.is_ascii_digit()
}

/// `op_chars`.
fn is_op_char(b: u8) -> bool {
    matches!(
        b,
        b'~' | b'!'
            | b'@'
            | b'#'
            | b'^'
            | b'&'
            | b'|'
            | b'`'
            | b'?'
            | b'+'
            | b'-'
            | b'*'
            | b'/'
            | b'%'
            | b'<'
            | b'>'
            | b'='
    )
}

/// `self` characters that are not operator characters.
fn is_punctuation(b: u8) -> bool {
    matches!(b, b',' | b'(' | b')' | b'[' | b']' | b'.' | b';' | b':')
}

/// How the body of a quoted string is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quoting {
    /// `'…'`, `N'…'`, `U&'…'`: `''` is a quote, a backslash is an ordinary character.
    Standard,
    /// `E'…'`: `''` is a quote and a backslash escapes the next character.
    Escape,
    /// `B'…'`, `X'…'`: no escape at all; the first quote ends the body.
    Bits,
}

struct Lexer<'a> {
    text: &'a [u8],
    pos: usize,
    out: Vec<Lexeme>,
}

impl Lexer<'_> {
    fn peek(&self, ahead: usize) -> Option<u8> {
        self.text.get(self.pos + ahead).copied()
    }

    fn starts_with(&self, at: usize, what: &[u8]) -> bool {
        self.text
            .get(at..)
            .is_some_and(|rest| rest.starts_with(what))
    }

    fn error(&self, at: usize, message: impl Into<String>) -> LexError {
        LexError {
            message: message.into(),
            at,
        }
    }

    fn push(&mut self, class: Class, start: usize) {
        self.out.push(Lexeme {
            class,
            start,
            end: self.pos,
        });
    }

    fn run(mut self) -> Result<Vec<Lexeme>, LexError> {
        while let Some(b) = self.peek(0) {
            let start = self.pos;
            match b {
                0 => return Err(self.error(start, "the SQL contains a NUL character")),
                _ if is_space(b) => self.pos += 1,
                b'-' if self.peek(1) == Some(b'-') => {
                    self.line_comment();
                    self.push(Class::Comment, start);
                }
                b'/' if self.peek(1) == Some(b'*') => {
                    self.block_comment()?;
                    self.push(Class::Comment, start);
                }
                b'\'' => {
                    self.pos += 1;
                    self.quoted_string(start, Quoting::Standard)?;
                }
                b'"' => {
                    self.pos += 1;
                    self.quoted_identifier(start)?;
                }
                b'$' => self.dollar(start)?,
                b'0'..=b'9' => self.number(start)?,
                // `..` is one token (PL/pgSQL's range), never `.` and a number `.5`.
                b'.' if self.peek(1) == Some(b'.') => self.pos += 2,
                b'.' if self.peek(1).is_some_and(|d| d.is_ascii_digit()) => self.number(start)?,
                _ if is_ident_start(b) => self.word(start)?,
                _ if is_op_char(b) => self.operator(),
                _ if is_punctuation(b) => self.pos += 1,
                _ => {
                    return Err(self.error(
                        start,
                        format!(
                            "the character {:?} is not valid here",
                            char_at(self.text, start)
                        ),
                    ));
                }
            }
        }
        Ok(self.out)
    }

    /// `--` to the end of the line (`\n` or `\r`), which is not part of it.
    fn line_comment(&mut self) {
        while let Some(b) = self.peek(0) {
            if is_newline(b) {
                break;
            }
            self.pos += 1;
        }
    }

    /// `/* … */`, nested as PostgreSQL nests them.
    fn block_comment(&mut self) -> Result<(), LexError> {
        let start = self.pos;
        self.pos += 2;
        let mut depth = 1usize;
        while depth > 0 {
            if self.starts_with(self.pos, b"/*") {
                depth += 1;
                self.pos += 2;
            } else if self.starts_with(self.pos, b"*/") {
                depth -= 1;
                self.pos += 2;
            } else if self.peek(0).is_some() {
                self.pos += 1;
            } else {
                return Err(self.error(start, "unterminated /* comment"));
            }
        }
        Ok(())
    }

    /// An operator: a run of operator characters, cut where a comment starts inside it.
    /// (Whether PostgreSQL then trims a trailing `+` or `-` does not move a boundary that
    /// matters here: the trimmed character is lexed as an operator again.)
    fn operator(&mut self) {
        let start = self.pos;
        let mut end = start;
        while self.text.get(end).copied().is_some_and(is_op_char) {
            end += 1;
        }
        let run = &self.text[start..end];
        let cut = [b"--".as_slice(), b"/*".as_slice()]
            .iter()
            .filter_map(|marker| run.windows(2).position(|w| w == *marker))
            .min();
        // A run that starts with a comment marker was handled as a comment already.
        self.pos = match cut {
            Some(at) if at > 0 => start + at,
            _ => end,
        };
    }

    /// The body of a quoted string whose opening quote has been read, including
    /// PostgreSQL's continuation: `'a'` + whitespace holding a newline + `'b'` is one
    /// string, `'ab'`.
    fn quoted_string(&mut self, start: usize, quoting: Quoting) -> Result<(), LexError> {
        loop {
            let Some(b) = self.peek(0) else {
                return Err(self.error(start, "unterminated quoted string"));
            };
            match b {
                0 => return Err(self.error(self.pos, "the SQL contains a NUL character")),
                b'\\' if quoting == Quoting::Escape => {
                    // The backslash and the character after it, whatever it is.
                    self.pos += 1;
                    match self.peek(0) {
                        None => return Err(self.error(start, "unterminated quoted string")),
                        Some(0) => {
                            return Err(self.error(self.pos, "the SQL contains a NUL character"));
                        }
                        Some(_) => self.pos += 1,
                    }
                }
                b'\'' => {
                    if quoting != Quoting::Bits && self.peek(1) == Some(b'\'') {
                        self.pos += 2;
                        continue;
                    }
                    self.pos += 1;
                    match self.continuation() {
                        Some(next) => self.pos = next + 1,
                        None => break,
                    }
                }
                _ => self.pos += 1,
            }
        }
        self.push(Class::String, start);
        Ok(())
    }

    /// After a closing quote: where the quote that continues the string is, if one does
    /// (`{horiz_whitespace}*{newline}{special_whitespace}*{quote}` in `scan.l`).
    fn continuation(&self) -> Option<usize> {
        let mut at = self.pos;
        // Horizontal whitespace and `--` comments, then a newline.
        loop {
            match self.text.get(at).copied() {
                Some(b' ' | b'\t' | 0x0c) => at += 1,
                Some(b'-') if self.text.get(at + 1) == Some(&b'-') => {
                    while self.text.get(at).is_some_and(|b| !is_newline(*b)) {
                        at += 1;
                    }
                }
                _ => break,
            }
        }
        if !self.text.get(at).copied().is_some_and(is_newline) {
            return None;
        }
        // Any whitespace, and `--` comments each followed by a newline.
        loop {
            match self.text.get(at).copied() {
                Some(b) if is_space(b) => at += 1,
                Some(b'-') if self.text.get(at + 1) == Some(&b'-') => {
                    let mut end = at;
                    while self.text.get(end).is_some_and(|b| !is_newline(*b)) {
                        end += 1;
                    }
                    if end >= self.text.len() {
                        return None;
                    }
                    at = end + 1;
                }
                _ => break,
            }
        }
        (self.text.get(at) == Some(&b'\'')).then_some(at)
    }

    /// `"…"` (or `U&"…"`) whose opening quote has been read; `""` is a quote.
    fn quoted_identifier(&mut self, start: usize) -> Result<(), LexError> {
        let body = self.pos;
        loop {
            match self.peek(0) {
                None => return Err(self.error(start, "unterminated quoted identifier")),
                Some(0) => return Err(self.error(self.pos, "the SQL contains a NUL character")),
                Some(b'"') if self.peek(1) == Some(b'"') => self.pos += 2,
                Some(b'"') => {
                    if self.pos == body {
                        return Err(self.error(start, "zero-length delimited identifier"));
                    }
                    self.pos += 1;
                    break;
                }
                Some(_) => self.pos += 1,
            }
        }
        self.push(Class::QuotedIdentifier, start);
        Ok(())
    }

    /// `$1` (a parameter) or `$tag$…$tag$` (a dollar-quoted string).
    fn dollar(&mut self, start: usize) -> Result<(), LexError> {
        if self.peek(1).is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
            while self.peek(0).is_some_and(|b| b.is_ascii_digit()) {
                self.pos += 1;
            }
            if self.peek(0).is_some_and(is_ident_cont) {
                return Err(self.error(start, "trailing junk after parameter"));
            }
            self.push(Class::Parameter, start);
            return Ok(());
        }
        // The delimiter: `$`, an optional tag that does not start with a digit, `$`.
        let mut end = start + 1;
        if self.text.get(end).copied().is_some_and(is_ident_start) {
            while self.text.get(end).copied().is_some_and(is_dollar_tag_cont) {
                end += 1;
            }
        }
        if self.text.get(end) != Some(&b'$') {
            return Err(self.error(start, "a $ that starts neither a parameter nor a quote"));
        }
        let delimiter = &self.text[start..=end];
        let body = end + 1;
        // Every `$` inside is tried as a delimiter, so the first occurrence ends it.
        let Some(close) = self.text[body..]
            .windows(delimiter.len())
            .position(|w| w == delimiter)
        else {
            return Err(self.error(start, "unterminated dollar-quoted string"));
        };
        if self.text[body..body + close].contains(&0) {
            return Err(self.error(start, "the SQL contains a NUL character"));
        }
        self.pos = body + close + delimiter.len();
        self.push(Class::String, start);
        Ok(())
    }

    /// A numeric constant. Anything that makes PostgreSQL 15 and later complain of
    /// "trailing junk" (or that older versions split into a number and a name, such as
    /// `0x1F` or `1_000`) is refused, so no version reads it differently.
    fn number(&mut self, start: usize) -> Result<(), LexError> {
        let digits = |lexer: &mut Self| {
            let from = lexer.pos;
            while lexer.peek(0).is_some_and(|b| b.is_ascii_digit()) {
                lexer.pos += 1;
            }
            lexer.pos > from
        };
        let integer = digits(self);
        // `1..2` is an integer followed by `..`.
        if self.peek(0) == Some(b'.') && self.peek(1) != Some(b'.') {
            self.pos += 1;
            let fraction = digits(self);
            if !integer && !fraction {
                return Err(self.error(start, "a lone ."));
            }
        }
        if matches!(self.peek(0), Some(b'e' | b'E')) {
            let mark = self.pos;
            self.pos += 1;
            if matches!(self.peek(0), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if !digits(self) {
                return Err(self.error(mark, "trailing junk after numeric literal"));
            }
        }
        if self.peek(0).is_some_and(|b| is_ident_cont(b) || b == b'.') && self.peek(1) != Some(b'.')
        {
            if self.peek(0) == Some(b'.') {
                // `1.2.3`: PostgreSQL reads `1.2` then `.3`.
                self.push(Class::Number, start);
                return Ok(());
            }
            return Err(self.error(start, "trailing junk after numeric literal"));
        }
        self.push(Class::Number, start);
        Ok(())
    }

    /// A name or key word, or one of the prefixed constants that start like one:
    /// `E'…'`, `B'…'`, `X'…'`, `N'…'`, `U&'…'`, `U&"…"`.
    fn word(&mut self, start: usize) -> Result<(), LexError> {
        let first = self.text[start].to_ascii_lowercase();
        match (first, self.peek(1), self.peek(2)) {
            (b'e', Some(b'\''), _) => {
                self.pos += 2;
                return self.quoted_string(start, Quoting::Escape);
            }
            (b'b' | b'x', Some(b'\''), _) => {
                self.pos += 2;
                return self.quoted_string(start, Quoting::Bits);
            }
            (b'n', Some(b'\''), _) => {
                self.pos += 2;
                return self.quoted_string(start, Quoting::Standard);
            }
            (b'u', Some(b'&'), Some(b'\'')) => {
                self.pos += 3;
                return self.quoted_string(start, Quoting::Standard);
            }
            (b'u', Some(b'&'), Some(b'"')) => {
                self.pos += 3;
                return self.quoted_identifier(start);
            }
            _ => {}
        }
        while self.peek(0).is_some_and(is_ident_cont) {
            self.pos += 1;
        }
        if std::str::from_utf8(&self.text[start..self.pos]).is_err() {
            // Only possible if a character was cut, which the byte loop above cannot do.
            return Err(self.error(start, "invalid UTF-8"));
        }
        self.push(Class::Word, start);
        Ok(())
    }
}

/// The character at a byte offset that starts one, for messages.
fn char_at(text: &[u8], at: usize) -> char {
    std::str::from_utf8(&text[at..])
        .ok()
        .and_then(|s| s.chars().next())
        .or_else(|| {
            // `at` may be inside a character: find the one it belongs to.
            (0..=at.min(3))
                .filter_map(|back| std::str::from_utf8(text.get(at - back..)?).ok())
                .find_map(|s| s.chars().next())
        })
        .unwrap_or(char::REPLACEMENT_CHARACTER)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classes(sql: &str) -> Vec<(Class, &str)> {
        lex(sql)
            .unwrap_or_else(|e| panic!("{sql:?}: {e:?}"))
            .into_iter()
            .map(|l| (l.class, &sql[l.start..l.end]))
            .collect()
    }

    #[test]
    fn boundaries_follow_postgres() {
        use Class::*;
        let table: &[(&str, &[(Class, &str)])] = &[
            ("SELECT 1", &[(Word, "SELECT"), (Number, "1")]),
            (
                r"SELECT X'\' , pg_sleep(4) --'",
                &[
                    (Word, "SELECT"),
                    (String, r"X'\'"),
                    (Word, "pg_sleep"),
                    (Number, "4"),
                    (Comment, "--'"),
                ],
            ),
            (
                r"SELECT '\' || 1",
                &[(Word, "SELECT"), (String, r"'\'"), (Number, "1")],
            ),
            (
                r"SELECT E'\'' x",
                &[(Word, "SELECT"), (String, r"E'\''"), (Word, "x")],
            ),
            ("SELECT 'a'\n'b'", &[(Word, "SELECT"), (String, "'a'\n'b'")]),
            (
                "SELECT 'a' -- c\n-- d\n 'b'",
                &[(Word, "SELECT"), (String, "'a' -- c\n-- d\n 'b'")],
            ),
            (
                "SELECT 'a' 'b'",
                &[(Word, "SELECT"), (String, "'a'"), (String, "'b'")],
            ),
            (
                "SELECT X'ab''cd'",
                &[(Word, "SELECT"), (String, "X'ab'"), (String, "'cd'")],
            ),
            (
                "SELECT 1 /* a /* b */ c */ , 2",
                &[
                    (Word, "SELECT"),
                    (Number, "1"),
                    (Comment, "/* a /* b */ c */"),
                    (Number, "2"),
                ],
            ),
            (
                "SELECT 2 */* c */ 3",
                &[
                    (Word, "SELECT"),
                    (Number, "2"),
                    (Comment, "/* c */"),
                    (Number, "3"),
                ],
            ),
            (
                "SELECT 1 +-- c\n2",
                &[
                    (Word, "SELECT"),
                    (Number, "1"),
                    (Comment, "-- c"),
                    (Number, "2"),
                ],
            ),
            (
                "SELECT $a$ x $b$ $a$, $1, a$b",
                &[
                    (Word, "SELECT"),
                    (String, "$a$ x $b$ $a$"),
                    (Parameter, "$1"),
                    (Word, "a$b"),
                ],
            ),
            (
                "SELECT U&\"\\0070g\"(1), U&'x'",
                &[
                    (Word, "SELECT"),
                    (QuotedIdentifier, "U&\"\\0070g\""),
                    (Number, "1"),
                    (String, "U&'x'"),
                ],
            ),
            (
                "SELECT\u{a0}pg_sleep(1)",
                &[(Word, "SELECT\u{a0}pg_sleep"), (Number, "1")],
            ),
            (
                "SELECT 1.5e3, .5, 1..2",
                &[
                    (Word, "SELECT"),
                    (Number, "1.5e3"),
                    (Number, ".5"),
                    (Number, "1"),
                    (Number, "2"),
                ],
            ),
            (
                "SELECT xe'a'",
                &[(Word, "SELECT"), (Word, "xe"), (String, "'a'")],
            ),
            ("SELECT N'a'", &[(Word, "SELECT"), (String, "N'a'")]),
            (
                "SELECT \"a\"\"b\"",
                &[(Word, "SELECT"), (QuotedIdentifier, "\"a\"\"b\"")],
            ),
        ];
        for (sql, expected) in table {
            assert_eq!(classes(sql), *expected, "{sql:?}");
        }
    }

    #[test]
    fn what_postgres_rejects_is_an_error() {
        for sql in [
            "SELECT 'a",
            "SELECT E'a\\'",
            "SELECT /* a /* b */",
            "SELECT \"\"",
            "SELECT \"a",
            "SELECT $a$ x",
            "SELECT $ 1",
            "SELECT 0x1F",
            "SELECT 1_000",
            "SELECT 123abc",
            "SELECT 1e",
            "SELECT $1a",
            "SELECT 1 \\ 2",
            "SELECT {1}",
            "SELECT 'a\0'",
            "SELECT \0",
        ] {
            assert!(lex(sql).is_err(), "{sql:?}");
        }
    }
}
