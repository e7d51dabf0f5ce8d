//! The syntax of nats-server configuration files: the syntax tree ([`Entry`], [`Node`],
//! [`Value`], each located by a [`Loc`]), the hand-written recursive-descent [`Parser`] that
//! builds it (resolving `include`s and `$NAME` variables as it goes), and the classification of
//! bare values (booleans, numbers, sizes, dates) plus Go duration strings.
//!
//! Kept apart from the mapping onto `Options` (`apply.rs`) so that the grammar, which mirrors
//! nats-server's `conf` package, can be read and tested without the broker's key semantics.
//! The syntax itself is described in the parent module's documentation.

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use super::ConfigError;

/// Deepest nesting of `include`s (and of environment variables referring to variables).
const MAX_DEPTH: usize = 16;

// ---------------------------------------------------------------------------------------------
// Syntax tree
// ---------------------------------------------------------------------------------------------

/// Where a key or value was written.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Loc {
    pub(super) file: Option<Rc<Path>>,
    pub(super) line: usize,
}

impl Loc {
    /// Attaches the file name, if known, to an error at this location.
    fn wrap(&self, err: ConfigError) -> ConfigError {
        match &self.file {
            Some(path) => ConfigError::InFile {
                path: path.to_path_buf(),
                source: Box::new(err),
            },
            None => err,
        }
    }

    fn syntax(&self, message: impl Into<String>) -> ConfigError {
        self.wrap(ConfigError::Syntax {
            line: self.line,
            message: message.into(),
        })
    }

    pub(super) fn bad(&self, key: &str, message: impl Into<String>) -> ConfigError {
        self.wrap(ConfigError::BadValue {
            line: self.line,
            key: key.to_string(),
            message: message.into(),
        })
    }

    pub(super) fn unknown(&self, key: &str) -> ConfigError {
        self.wrap(ConfigError::UnknownField {
            line: self.line,
            key: key.to_string(),
        })
    }

    /// `file:line` or `line N`, for warnings.
    pub(super) fn prefix(&self) -> String {
        match &self.file {
            Some(path) => format!("{}:{}", path.display(), self.line),
            None => format!("line {}", self.line),
        }
    }
}

/// A parsed value.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Value {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Date(String),
    Array(Vec<Node>),
    Map(Vec<Entry>),
}

impl Value {
    /// The value's type and content, for error messages.
    pub(super) fn describe(&self) -> String {
        match self {
            Value::Str(s) => format!("string {s:?}"),
            Value::Int(n) => format!("integer {n}"),
            Value::Float(x) => format!("float {x}"),
            Value::Bool(b) => format!("boolean {b}"),
            Value::Date(d) => format!("date {d}"),
            Value::Array(_) => "an array".to_string(),
            Value::Map(_) => "a map".to_string(),
        }
    }
}

/// A value and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Node {
    pub(super) value: Value,
    pub(super) loc: Loc,
}

/// One `key: value` of a map (the top level is a map too).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Entry {
    pub(super) key: String,
    pub(super) loc: Loc,
    pub(super) node: Node,
    /// Referenced as `$key`: then it is a variable, not an unknown field.
    pub(super) used_as_var: bool,
}

// ---------------------------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------------------------

/// Parses one file (or text) into its top-level entries, resolving includes and variables.
pub(super) fn parse_text(
    text: &str,
    file: Option<Rc<Path>>,
    base: &Path,
    depth: usize,
) -> Result<Vec<Entry>, ConfigError> {
    let mut parser = Parser::new(text, file, base, depth);
    parser.document()?;
    Ok(parser.scopes.pop().unwrap_or_default())
}

/// Recursive-descent parser over the characters of one file.
pub(super) struct Parser {
    chars: Vec<char>,
    pos: usize,
    line: usize,
    file: Option<Rc<Path>>,
    /// Directory `include` paths are relative to.
    base: PathBuf,
    depth: usize,
    /// Entries of the maps being parsed, outermost first: the scopes of `$NAME` lookups.
    scopes: Vec<Vec<Entry>>,
}

impl Parser {
    /// A parser at the start of `text`, with the top-level scope open.
    pub(super) fn new(text: &str, file: Option<Rc<Path>>, base: &Path, depth: usize) -> Self {
        Parser {
            chars: text.chars().collect(),
            pos: 0,
            line: 1,
            file,
            base: base.to_path_buf(),
            depth,
            scopes: vec![Vec::new()],
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn loc(&self) -> Loc {
        Loc {
            file: self.file.clone(),
            line: self.line,
        }
    }

    fn error(&self, message: impl Into<String>) -> ConfigError {
        self.loc().syntax(message)
    }

    /// Skips spaces and tabs (not newlines).
    fn skip_blanks(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.bump();
        }
    }

    fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
    }

    fn at_comment(&self) -> bool {
        match self.peek() {
            Some('#') => true,
            Some('/') => self.peek_at(1) == Some('/'),
            _ => false,
        }
    }

    /// Skips to the end of the line (the newline itself is left).
    fn skip_comment(&mut self) {
        while !matches!(self.peek(), None | Some('\n' | '\r')) {
            self.bump();
        }
    }

    /// Skips whitespace, newlines, comments and any of `extra`.
    fn skip_filler(&mut self, extra: &[char]) {
        loop {
            match self.peek() {
                Some(c) if c.is_whitespace() || extra.contains(&c) => {
                    self.bump();
                }
                _ if self.at_comment() => self.skip_comment(),
                _ => return,
            }
        }
    }

    /// The top level: entries, optionally wrapped in `{ }` (JSON style).
    fn document(&mut self) -> Result<(), ConfigError> {
        loop {
            self.skip_filler(&['{', '}', ';', ',']);
            if self.peek().is_none() {
                return Ok(());
            }
            self.entry()?;
            self.entry_end(true)?;
        }
    }

    /// What may follow an entry: a newline, `;`, `,`, a comment, the end, or `}`.
    fn entry_end(&mut self, top: bool) -> Result<(), ConfigError> {
        self.skip_blanks();
        if self.at_comment() {
            self.skip_comment();
            return Ok(());
        }
        match self.peek() {
            None | Some('\n' | '\r' | ';' | ',') => {
                self.bump();
                Ok(())
            }
            Some('}') => {
                if top {
                    self.bump();
                }
                Ok(())
            }
            Some(c) if top => Err(self.error(format!(
                "Expected a top-level value to end with a new line, comment or EOF, \
                 but got '{}' instead.",
                shown(c)
            ))),
            Some(c) => Err(self.error(format!(
                "Expected a map value terminator ',' or a map terminator '}}', \
                 but got '{}' instead.",
                shown(c)
            ))),
        }
    }

    /// One `key [:=] value` or `include FILE`, added to the innermost scope.
    fn entry(&mut self) -> Result<(), ConfigError> {
        let loc = self.loc();
        let (key, quoted) = self.key()?;
        if !quoted
            && key.eq_ignore_ascii_case("include")
            && self.peek().is_some_and(char::is_whitespace)
        {
            return self.include(&loc);
        }
        self.skip_whitespace();
        if matches!(self.peek(), Some('=' | ':')) {
            self.bump();
        }
        self.skip_blanks();
        let node = self.value()?;
        self.push_entry(Entry {
            key,
            loc,
            node,
            used_as_var: false,
        });
        Ok(())
    }

    fn push_entry(&mut self, entry: Entry) {
        if let Some(scope) = self.scopes.last_mut() {
            scope.push(entry);
        }
    }

    /// A key; the flag tells whether it was quoted.
    fn key(&mut self) -> Result<(String, bool), ConfigError> {
        match self.peek() {
            Some(q @ ('"' | '\'')) => {
                self.bump();
                Ok((self.until_quote(q, "key")?, true))
            }
            Some(c @ ('=' | ':')) => Err(self.error(format!("Unexpected key separator '{c}'"))),
            _ => {
                let mut key = String::new();
                while let Some(c) = self.peek().filter(|&c| !is_key_end(c)) {
                    key.push(c);
                    self.bump();
                }
                Ok((key, false))
            }
        }
    }

    /// Text up to the closing quote `q` (already past the opening one); no escapes.
    fn until_quote(&mut self, q: char, what: &str) -> Result<String, ConfigError> {
        let mut text = String::new();
        loop {
            match self.bump() {
                None => return Err(self.error(format!("Unexpected EOF in quoted {what}"))),
                Some(c) if c == q => return Ok(text),
                Some(c) => text.push(c),
            }
        }
    }

    /// Any value.
    fn value(&mut self) -> Result<Node, ConfigError> {
        let loc = self.loc();
        let value = match self.peek() {
            None => return Err(self.error("Unexpected EOF: expected a value")),
            Some('\n' | '\r') => return Err(self.error("Expected value but found new line")),
            Some(c @ (',' | ';' | ']' | '}')) => {
                return Err(self.error(format!("Expected a value but got '{c}'")))
            }
            Some('.') => return Err(self.error("Floats must start with a digit")),
            Some('[') => self.after_bump(Self::array)?,
            Some('{') => self.after_bump(Self::map)?,
            Some('"') => Value::Str(self.after_bump(Self::dq_string)?),
            Some('\'') => Value::Str(self.after_bump(|p| p.until_quote('\'', "string"))?),
            Some('(') => Value::Str(self.after_bump(Self::block)?),
            Some('-') => self.after_bump(Self::negative)?,
            Some(c) if c.is_ascii_digit() => self.number()?,
            Some(_) => return self.bare(loc),
        };
        Ok(Node { value, loc })
    }

    /// Skips the opening character, then runs `f`.
    fn after_bump<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, ConfigError>,
    ) -> Result<T, ConfigError> {
        self.bump();
        f(self)
    }

    /// A double-quoted string (past the opening quote), with escapes.
    fn dq_string(&mut self) -> Result<String, ConfigError> {
        let mut out = Vec::new();
        loop {
            match self.bump() {
                None => return Err(self.error("Unexpected EOF in quoted string")),
                Some('"') => return Ok(String::from_utf8_lossy(&out).into_owned()),
                Some('\\') => self.escape(&mut out)?,
                Some(c) => push_char(&mut out, c),
            }
        }
    }

    /// An escape sequence (past the backslash), appended to `out`.
    fn escape(&mut self, out: &mut Vec<u8>) -> Result<(), ConfigError> {
        match self.bump() {
            Some('t') => out.push(b'\t'),
            Some('n') => out.push(b'\n'),
            Some('r') => out.push(b'\r'),
            Some('"') => out.push(b'"'),
            Some('\\') => out.push(b'\\'),
            Some('x') => out.push(self.hex_byte()?),
            Some(c) => {
                return Err(self.error(format!(
                    "Invalid escape character '{}'. Only the following escape characters \
                     are allowed: \\xXX, \\t, \\n, \\r, \\\", \\\\.",
                    shown(c)
                )))
            }
            None => return Err(self.error("Unexpected EOF in escape sequence")),
        }
        Ok(())
    }

    /// The two hex digits of `\xHH`.
    fn hex_byte(&mut self) -> Result<u8, ConfigError> {
        let mut digits = String::new();
        for _ in 0..2 {
            match self.peek() {
                None | Some('\n' | '\r') => {
                    return Err(self
                        .error("Expected two hexadecimal digits after '\\x', but hit end of line"))
                }
                Some(c) => {
                    digits.push(c);
                    self.bump();
                }
            }
        }
        match u8::from_str_radix(&digits, 16) {
            Ok(byte) if digits.chars().all(|c| c.is_ascii_hexdigit()) => Ok(byte),
            _ => Err(self.error(format!(
                "Expected two hexadecimal digits after '\\x', but got '{digits}'"
            ))),
        }
    }

    /// A `( ... )` block (past the `(`): raw text up to a `)` on a line by itself.
    fn block(&mut self) -> Result<String, ConfigError> {
        let mut text = String::new();
        loop {
            if self.peek() == Some('\n')
                && self.peek_at(1) == Some(')')
                && matches!(self.peek_at(2), None | Some('\n' | '\r'))
            {
                self.bump();
                self.bump();
                return Ok(text);
            }
            match self.bump() {
                None => {
                    return Err(self.error("Unexpected EOF in block: expected ')' alone on a line"))
                }
                Some(c) => text.push(c),
            }
        }
    }

    /// An unquoted token: a boolean, a `$variable` or a string.
    fn bare(&mut self, loc: Loc) -> Result<Node, ConfigError> {
        let (text, escaped) = self.bare_token()?;
        let value = if escaped {
            Value::Str(text)
        } else if let Some(b) = parse_bool(&text) {
            Value::Bool(b)
        } else if let Some(name) = text.strip_prefix('$') {
            return self.variable(name, loc);
        } else {
            Value::Str(text)
        };
        Ok(Node { value, loc })
    }

    /// The text of an unquoted token (escapes applied); the flag tells whether it had escapes.
    fn bare_token(&mut self) -> Result<(String, bool), ConfigError> {
        let mut out = Vec::new();
        let mut escaped = false;
        while let Some(c) = self.peek().filter(|&c| !is_bare_end(c)) {
            self.bump();
            match c {
                '\'' => break,
                '\\' => {
                    escaped = true;
                    self.escape(&mut out)?;
                }
                _ => push_char(&mut out, c),
            }
        }
        Ok((String::from_utf8_lossy(&out).into_owned(), escaped))
    }

    /// The raw text of a token that starts like a number.
    fn number_token(&mut self) -> String {
        let mut raw = String::new();
        while let Some(c) = self.peek().filter(|&c| !is_bare_end(c)) {
            raw.push(c);
            self.bump();
        }
        raw
    }

    /// A token starting with a digit: integer, size, float, IP address, date or string.
    fn number(&mut self) -> Result<Value, ConfigError> {
        let raw = self.number_token();
        classify_number(&raw).map_err(|message| self.error(message))
    }

    /// A negative integer or float (past the `-`).
    fn negative(&mut self) -> Result<Value, ConfigError> {
        match self.peek() {
            Some(c) if c.is_ascii_digit() => {}
            Some(c) => return Err(self.error(format!("Expected a digit but got '{}'.", shown(c)))),
            None => return Err(self.error("Expected a digit but got EOF.")),
        }
        let raw = self.number_token();
        match classify_number(&raw).map_err(|message| self.error(message))? {
            Value::Int(n) => Ok(Value::Int(-n)),
            Value::Float(x) => Ok(Value::Float(-x)),
            _ => Err(self.error(format!("Invalid number '-{raw}'"))),
        }
    }

    /// An array (past the `[`): values separated by commas and/or newlines.
    fn array(&mut self) -> Result<Value, ConfigError> {
        let mut items = Vec::new();
        loop {
            self.skip_filler(&[]);
            match self.peek() {
                None => return Err(self.error("Unexpected EOF in array")),
                Some(']') => {
                    self.bump();
                    return Ok(Value::Array(items));
                }
                Some(',') => return Err(self.error("Unexpected array value terminator ','.")),
                Some(_) => items.push(self.value()?),
            }
            if self.array_item_end()? {
                return Ok(Value::Array(items));
            }
        }
    }

    /// Consumes what follows an array element; true if that was the closing `]`.
    fn array_item_end(&mut self) -> Result<bool, ConfigError> {
        self.skip_blanks();
        if self.at_comment() {
            self.skip_comment();
        }
        match self.peek() {
            None => Err(self.error("Unexpected EOF in array")),
            Some(c @ (',' | '\n' | '\r' | ']')) => {
                self.bump();
                Ok(c == ']')
            }
            Some(c) => Err(self.error(format!(
                "Expected an array value terminator ',' or an array terminator ']', \
                 but got '{}' instead.",
                shown(c)
            ))),
        }
    }

    /// A map (past the `{`); its entries form a new variable scope while it is parsed.
    fn map(&mut self) -> Result<Value, ConfigError> {
        self.scopes.push(Vec::new());
        let result = self.map_body();
        let entries = self.scopes.pop().unwrap_or_default();
        result.map(|()| Value::Map(entries))
    }

    fn map_body(&mut self) -> Result<(), ConfigError> {
        loop {
            self.skip_filler(&[]);
            match self.peek() {
                None => return Err(self.error("Unexpected EOF in map")),
                Some('}') => {
                    self.bump();
                    return Ok(());
                }
                Some(c @ ('=' | ':' | ',' | ']')) => {
                    return Err(self.error(format!("Unexpected '{c}' where a map key was expected")))
                }
                Some(_) => {}
            }
            self.entry()?;
            self.entry_end(false)?;
        }
    }

    /// `include FILE` (past the keyword): parses FILE and merges its entries into this scope.
    fn include(&mut self, loc: &Loc) -> Result<(), ConfigError> {
        self.skip_blanks();
        let name = self.include_target()?;
        let path = self.base.join(&name);
        if self.depth >= MAX_DEPTH {
            let message = format!("{} is nested too deeply (include loop?)", path.display());
            return Err(loc.bad("include", message));
        }
        let text = std::fs::read_to_string(&path)
            .map_err(|e| loc.bad("include", format!("cannot read {}: {e}", path.display())))?;
        let base = path.parent().unwrap_or(Path::new("")).to_path_buf();
        let file = Some(Rc::from(path.as_path()));
        let entries = parse_text(&text, file, &base, self.depth + 1)?;
        if let Some(scope) = self.scopes.last_mut() {
            scope.extend(entries);
        }
        Ok(())
    }

    /// The file name after `include`: quoted or bare.
    fn include_target(&mut self) -> Result<String, ConfigError> {
        let found = match self.peek() {
            Some(q @ ('"' | '\'')) => return self.after_bump(|p| p.until_quote(q, "include path")),
            None | Some('\n' | '\r') => "new line",
            Some('[') => "start of an array",
            Some('{') => "start of a map",
            Some('(') => "start of a block",
            Some('\\') => "escape sequence",
            Some(c) if c.is_ascii_digit() || c == '-' => "start of a number",
            Some(_) => {
                let mut name = String::new();
                while let Some(c) =
                    self.bump_if(|c| !matches!(c, ' ' | '\t' | '\n' | '\r' | ';' | '}'))
                {
                    if c == '\'' {
                        break;
                    }
                    name.push(c);
                }
                return Ok(name);
            }
        };
        Err(self.error(format!("Expected include value but found {found}")))
    }

    /// Consumes and returns the next character if it satisfies `accept`.
    fn bump_if(&mut self, accept: impl Fn(char) -> bool) -> Option<char> {
        if self.peek().is_some_and(accept) {
            self.bump()
        } else {
            None
        }
    }

    /// Resolves `$name`: an earlier key in an enclosing map, else an environment variable.
    fn variable(&mut self, name: &str, loc: Loc) -> Result<Node, ConfigError> {
        if name.starts_with("2a$") {
            // A bcrypt hash, which nats-server lets users leave unquoted.
            let value = Value::Str(format!("${name}"));
            return Ok(Node { value, loc });
        }
        if let Some(value) = self.lookup(name) {
            return Ok(Node { value, loc });
        }
        match std::env::var(name) {
            Ok(text) => self.env_value(name, &text, loc),
            Err(_) => Err(loc.syntax(format!(
                "variable reference for '{name}' on line {} can not be found",
                loc.line
            ))),
        }
    }

    /// Finds `name` in the open maps, innermost first, and marks it as used.
    fn lookup(&mut self, name: &str) -> Option<Value> {
        for scope in self.scopes.iter_mut().rev() {
            if let Some(entry) = scope.iter_mut().rev().find(|e| e.key == name) {
                entry.used_as_var = true;
                return Some(entry.node.value.clone());
            }
        }
        None
    }

    /// An environment variable's text, parsed as a configuration value would be.
    pub(super) fn env_value(&self, name: &str, text: &str, loc: Loc) -> Result<Node, ConfigError> {
        let parsed = if self.depth >= MAX_DEPTH {
            Err(loc.syntax("variables are nested too deeply"))
        } else {
            parse_text(&format!("pk={text}"), None, &self.base, self.depth + 1)
        };
        match parsed.map(|entries| entries.into_iter().next()) {
            Ok(Some(entry)) => Ok(Node {
                value: entry.node.value,
                loc,
            }),
            Ok(None) => Err(loc.syntax(format!("variable reference for '{name}' is empty"))),
            Err(e) => Err(loc.syntax(format!(
                "variable reference for '{name}' on line {} could not be parsed: {e}",
                loc.line
            ))),
        }
    }
}

/// Ends an unquoted key.
fn is_key_end(c: char) -> bool {
    c.is_whitespace() || c == '=' || c == ':'
}

/// Ends an unquoted value.
fn is_bare_end(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | ';' | ',' | ']' | '}')
}

/// A character for an error message: control characters escaped, others as they are.
fn shown(c: char) -> String {
    if c.is_control() {
        c.escape_debug().to_string()
    } else {
        c.to_string()
    }
}

fn push_char(out: &mut Vec<u8>, c: char) {
    let mut buf = [0; 4];
    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
}

// ---------------------------------------------------------------------------------------------
// Value classification: booleans, numbers, sizes, dates, Go durations
// ---------------------------------------------------------------------------------------------

fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" => Some(true),
        "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// Classifies a token starting with a digit, as nats-server 2.9 does.
fn classify_number(raw: &str) -> Result<Value, String> {
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (digits, rest) = raw.split_at(split);
    match rest.chars().next() {
        None => parse_int(digits, raw).map(Value::Int),
        Some('-') => parse_date(raw),
        Some('.') => float_or_ip(raw, &rest[1..]),
        Some(_) if is_size_suffix(rest) => sized(digits, rest, raw).map(Value::Int),
        Some(_) => Ok(Value::Str(raw.to_string())),
    }
}

fn parse_int(digits: &str, raw: &str) -> Result<i64, String> {
    digits
        .parse()
        .map_err(|_| format!("integer '{raw}' is out of the range"))
}

/// `YYYY-MM-DDTHH:MM:SSZ`, the only date form nats-server accepts.
fn parse_date(raw: &str) -> Result<Value, String> {
    const PATTERN: &str = "0000-00-00T00:00:00Z";
    let ok = raw.len() == PATTERN.len()
        && raw.chars().zip(PATTERN.chars()).all(|(c, p)| match p {
            '0' => c.is_ascii_digit(),
            _ => c == p,
        });
    if ok {
        Ok(Value::Date(raw.to_string()))
    } else {
        Err(format!(
            "'{raw}': all ISO8601 dates must be in full Zulu form (YYYY-MM-DDTHH:MM:SSZ)"
        ))
    }
}

/// `1.5` is a float, `127.0.0.1:4222` an address string; anything else is an error.
fn float_or_ip(raw: &str, after_dot: &str) -> Result<Value, String> {
    let frac = after_dot
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(after_dot.len());
    if frac == 0 {
        return Err(format!(
            "Floats must have a digit after the '.', in '{raw}'"
        ));
    }
    let tail = &after_dot[frac..];
    let address_chars = |c: char| c.is_ascii_digit() || matches!(c, '.' | ':' | '-');
    match tail.chars().next() {
        None => raw
            .parse()
            .map(Value::Float)
            .map_err(|_| format!("invalid float '{raw}'")),
        Some('.') if tail.chars().all(address_chars) => Ok(Value::Str(raw.to_string())),
        Some(_) => Err(format!("Invalid number '{raw}'")),
    }
}

/// A unit letter followed only by `b`/`i` letters: the shape nats-server reads as a size.
fn is_size_suffix(rest: &str) -> bool {
    let mut chars = rest.chars();
    chars.next().is_some_and(|c| "kmgtpeKMGTPE".contains(c)) && chars.all(|c| "bBiI".contains(c))
}

/// Digits times the multiplier of a size suffix (`k` = 1000, `kb`/`ki`/`kib` = 1024, ...).
fn sized(digits: &str, suffix: &str, raw: &str) -> Result<i64, String> {
    let lower = suffix.to_ascii_lowercase();
    let (unit, binary) = lower.split_at(1);
    let power = "kmgtpe".find(unit).map_or(0, |i| i as u32 + 1);
    let base: i64 = match binary {
        "" => 1000,
        "b" | "i" | "ib" => 1024,
        _ => return Err(format!("invalid size suffix '{suffix}' in '{raw}'")),
    };
    let out_of_range = || format!("integer '{raw}' is out of the range");
    let n = parse_int(digits, raw)?;
    base.checked_pow(power)
        .and_then(|m| n.checked_mul(m))
        .ok_or_else(out_of_range)
}

/// Go's `time.ParseDuration` for non-negative durations: `"2s"`, `"1m"`, `"500ms"`, `"2m30s"`.
pub(super) fn parse_go_duration(s: &str) -> Result<Duration, String> {
    let (negative, mut rest) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(format!("time: invalid duration {s:?}"));
    }
    let mut nanos = 0f64;
    while !rest.is_empty() {
        let (part, next) = duration_part(rest, s)?;
        nanos += part;
        rest = next;
    }
    if nanos > i64::MAX as f64 {
        return Err(format!("time: invalid duration {s:?}"));
    }
    if negative && nanos > 0.0 {
        return Err(format!("negative duration {s:?}"));
    }
    Ok(Duration::from_nanos(nanos.round() as u64))
}

/// The nanoseconds of one `<number><unit>` at the start of `rest`, and what follows it.
fn duration_part<'a>(rest: &'a str, whole: &str) -> Result<(f64, &'a str), String> {
    let number_len = rest
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(rest.len());
    let (number, after) = rest.split_at(number_len);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("time: invalid duration {whole:?}"))?;
    let unit_len = after
        .find(|c: char| c.is_ascii_digit() || c == '.')
        .unwrap_or(after.len());
    let (unit, next) = after.split_at(unit_len);
    let scale = unit_nanos(unit).ok_or_else(|| match unit {
        "" => format!("time: missing unit in duration {whole:?}"),
        _ => format!("time: unknown unit {unit:?} in duration {whole:?}"),
    })?;
    Ok((value * scale, next))
}

fn unit_nanos(unit: &str) -> Option<f64> {
    Some(match unit {
        "ns" => 1.0,
        "us" | "µs" | "μs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" => 60e9,
        "h" => 3600e9,
        _ => return None,
    })
}
