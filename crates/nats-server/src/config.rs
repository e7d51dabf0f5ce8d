//! Reader for nats-server configuration files (`cfsim nats-server -c FILE`).
//!
//! The bundled broker is a drop-in for `nats-server` in development setups, so it reads
//! nats-server's own configuration syntax (the relaxed, HOCON-like format of nats-server's
//! `conf` package) and maps the keys it implements onto [`Options`]. The parser is written by
//! hand; its behaviour was checked against Debian's nats-server 2.9.10 (`nats-server -c FILE -t`
//! and by starting it).
//!
//! Syntax:
//! * `key: value`, `key = value` and `key value`; keys may be quoted; keys are case-insensitive.
//! * Values: `"..."` strings (escapes `\t \n \r \" \\ \xHH`, may span lines), `'...'` raw
//!   strings, bare strings (ending at whitespace, `,`, `;`, `]`, `}`), integers with optional
//!   size suffix (`k` = 1000, `kb`/`ki`/`kib` = 1024, likewise `m`, `g`, `t`, `p`, `e`), floats,
//!   booleans (`true/false/yes/no/on/off`), ISO-8601 dates, `( ... )` blocks, maps `{ ... }`
//!   (separator before `{` optional) and arrays `[ ... ]` (commas and/or newlines).
//!   As in nats-server, a bare token that starts with digits but is not a number (`5s`, `2m30s`)
//!   is a string, while `2m` is the integer 2,000,000.
//! * `#` and `//` comments; `;` and `,` are optional terminators; the whole file may be wrapped
//!   in `{ }` (JSON style).
//! * `include FILE` merges another file in place (relative to the including file's directory).
//! * `$NAME` is the value of an earlier key `NAME` in an enclosing block, else of the
//!   environment variable `NAME`; a key used this way is not reported as unknown.
//!
//! Semantics follow nats-server: unknown keys are errors (with their line); keys nats-server
//! knows but the bundled broker does not implement (`cluster`, `jetstream`, `tls`, `accounts`,
//! ...) are logged with `tracing::warn!` and ignored. Port `-1` means a random port; a zero limit
//! or duration means the default; `ping_interval` and `write_deadline` take duration strings (a
//! bare integer is seconds, with a warning); `authorization { timeout }` is seconds (integer or
//! float); `max_payload` may not exceed `max_pending`. [`apply`] and [`apply_file`] change the
//! given `Options` only if the whole file is valid.
//!
//! Deliberate differences from nats-server 2.9.10: a size with an unknown suffix (`1kbb`), a
//! negative limit or duration and a key left without a value at the end of the file are errors
//! (nats-server ignores or misreads them); nkey users are refused rather than ignored (ignoring
//! them would leave the broker open); `authorization { timeout }` also takes a duration string
//! (nats-server 2.9 silently reads one as 1 s); `http_host`, not a nats-server key, sets the
//! monitoring host, which otherwise follows the client host as in nats-server.

use std::fmt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use crate::options::{Auth, Options, User, DEFAULT_PORT};

/// Deepest nesting of `include`s (and of environment variables referring to variables).
const MAX_DEPTH: usize = 16;
/// nats-server keeps `max_payload` and `max_control_line` in an int32.
const MAX_INT32: i64 = i32::MAX as i64;
/// nats-server warns about a `max_payload` above 8 MiB.
const PAYLOAD_WARN: usize = 8 * 1024 * 1024;

/// Top-level keys nats-server knows but the bundled broker does not implement.
const UNSUPPORTED_TOP_LEVEL: &[&str] = &[
    "accounts",
    "account_resolver",
    "accounts_resolver",
    "allow_non_tls",
    "client_advertise",
    "cluster",
    "connect_error_reports",
    "default_js_domain",
    "disable_sublist_cache",
    "gateway",
    "http_base_path",
    "https",
    "https_port",
    "jetstream",
    "lame_duck_duration",
    "lame_duck_grace_period",
    "leaf",
    "leafnodes",
    "log_size_limit",
    "logfile_max_num",
    "logfile_size_limit",
    "logtime",
    "logtime_utc",
    "mappings",
    "maps",
    "max_closed_clients",
    "max_sub_tokens",
    "max_subs",
    "max_subscription_tokens",
    "max_subscriptions",
    "max_traced_msg_len",
    "mqtt",
    "no_auth_user",
    "no_header_support",
    "no_sublist_cache",
    "no_sys_acc",
    "no_system",
    "no_system_account",
    "ocsp",
    "ocsp_cache",
    "operator",
    "operators",
    "ports_file_dir",
    "prof_port",
    "reconnect_error_reports",
    "remote_syslog",
    "resolver",
    "resolver_pinned_accounts",
    "resolver_preload",
    "resolver_tls",
    "root",
    "root_operator",
    "root_operators",
    "roots",
    "server_tags",
    "store_dir",
    "storedir",
    "syslog",
    "system",
    "system_account",
    "tls",
    "trusted",
    "trusted_keys",
    "websocket",
    "write_timeout",
    "ws",
];
/// `authorization` keys nats-server knows but the bundled broker does not implement.
const UNSUPPORTED_AUTH: &[&str] = &[
    "auth_callout",
    "default_permission",
    "default_permissions",
    "permissions",
];
/// Keys of a `users` entry that the bundled broker does not implement.
const UNSUPPORTED_USER: &[&str] = &[
    "account",
    "allowed_connection_type",
    "allowed_connection_types",
    "permission",
    "permissions",
];

/// What went wrong reading a configuration file.
#[derive(Debug)]
pub enum ConfigError {
    /// The configuration file itself could not be read.
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The text is not valid nats-server configuration syntax.
    Syntax { line: usize, message: String },
    /// A key nats-server does not know (nats-server rejects these too).
    UnknownField { line: usize, key: String },
    /// A known key whose value has the wrong type, is out of range or conflicts with another.
    BadValue {
        line: usize,
        key: String,
        message: String,
    },
    /// One of the errors above, in the named file (the main file or an included one).
    InFile {
        path: PathBuf,
        source: Box<ConfigError>,
    },
}

impl ConfigError {
    /// The 1-based line the error refers to (in the innermost file), if any.
    pub fn line(&self) -> Option<usize> {
        match self {
            ConfigError::Io { .. } => None,
            ConfigError::Syntax { line, .. }
            | ConfigError::UnknownField { line, .. }
            | ConfigError::BadValue { line, .. } => Some(*line),
            ConfigError::InFile { source, .. } => source.line(),
        }
    }

    /// The message without its location.
    fn describe(&self) -> String {
        match self {
            ConfigError::Io { path, source } => {
                format!("cannot read config file {}: {source}", path.display())
            }
            ConfigError::Syntax { message, .. } => message.clone(),
            ConfigError::UnknownField { key, .. } => format!("unknown field \"{key}\""),
            ConfigError::BadValue { key, message, .. } => format!("{key}: {message}"),
            ConfigError::InFile { source, .. } => source.describe(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self, self.line()) {
            (ConfigError::InFile { source, .. }, _) if matches!(**source, Self::InFile { .. }) => {
                source.fmt(f)
            }
            (ConfigError::InFile { path, .. }, Some(line)) => {
                write!(f, "{}:{line}: {}", path.display(), self.describe())
            }
            (ConfigError::InFile { path, .. }, None) => {
                write!(f, "{}: {}", path.display(), self.describe())
            }
            (_, Some(line)) => write!(f, "line {line}: {}", self.describe()),
            (_, None) => f.write_str(&self.describe()),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Io { source, .. } => Some(source),
            ConfigError::InFile { source, .. } => source.source(),
            _ => None,
        }
    }
}

/// Applies the configuration `text` to `opts`; `include` paths are relative to the current
/// directory. Warnings go to `tracing::warn!`. On error `opts` is left unchanged.
pub fn apply(opts: &mut Options, text: &str) -> Result<(), ConfigError> {
    let entries = parse_text(text, None, Path::new(""), 0)?;
    log_warnings(&apply_entries(opts, &entries)?);
    Ok(())
}

/// Reads the configuration file at `path` and applies it to `opts`; `include` paths are
/// relative to the directory of the file that contains them. Warnings go to `tracing::warn!`.
/// On error `opts` is left unchanged.
pub fn apply_file(opts: &mut Options, path: &Path) -> Result<(), ConfigError> {
    log_warnings(&apply_file_with_warnings(opts, path)?);
    Ok(())
}

/// Like [`apply_file`], but returns the warnings (`"file:line: ..."`) instead of logging them,
/// for callers that set up logging only after reading the configuration: `tracing` drops
/// events emitted before a subscriber is installed.
pub fn apply_file_with_warnings(
    opts: &mut Options,
    path: &Path,
) -> Result<Vec<String>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let base = path.parent().unwrap_or(Path::new(""));
    let entries = parse_text(&text, Some(Rc::from(path)), base, 0)?;
    apply_entries(opts, &entries)
}

/// Maps parsed entries onto a copy of `opts`, commits it if all went well, returns warnings.
fn apply_entries(opts: &mut Options, entries: &[Entry]) -> Result<Vec<String>, ConfigError> {
    let mut applier = Applier::new(opts.clone());
    applier.entries(entries)?;
    *opts = applier.opts;
    Ok(applier.warnings)
}

fn log_warnings(warnings: &[String]) {
    for warning in warnings {
        tracing::warn!("{warning}");
    }
}

// ---------------------------------------------------------------------------------------------
// Syntax tree
// ---------------------------------------------------------------------------------------------

/// Where a key or value was written.
#[derive(Debug, Clone, PartialEq)]
struct Loc {
    file: Option<Rc<Path>>,
    line: usize,
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

    fn bad(&self, key: &str, message: impl Into<String>) -> ConfigError {
        self.wrap(ConfigError::BadValue {
            line: self.line,
            key: key.to_string(),
            message: message.into(),
        })
    }

    fn unknown(&self, key: &str) -> ConfigError {
        self.wrap(ConfigError::UnknownField {
            line: self.line,
            key: key.to_string(),
        })
    }

    /// `file:line` or `line N`, for warnings.
    fn prefix(&self) -> String {
        match &self.file {
            Some(path) => format!("{}:{}", path.display(), self.line),
            None => format!("line {}", self.line),
        }
    }
}

/// A parsed value.
#[derive(Debug, Clone, PartialEq)]
enum Value {
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
    fn describe(&self) -> String {
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
struct Node {
    value: Value,
    loc: Loc,
}

/// One `key: value` of a map (the top level is a map too).
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    key: String,
    loc: Loc,
    node: Node,
    /// Referenced as `$key`: then it is a variable, not an unknown field.
    used_as_var: bool,
}

// ---------------------------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------------------------

/// Parses one file (or text) into its top-level entries, resolving includes and variables.
fn parse_text(
    text: &str,
    file: Option<Rc<Path>>,
    base: &Path,
    depth: usize,
) -> Result<Vec<Entry>, ConfigError> {
    let mut parser = Parser {
        chars: text.chars().collect(),
        pos: 0,
        line: 1,
        file,
        base: base.to_path_buf(),
        depth,
        scopes: vec![Vec::new()],
    };
    parser.document()?;
    Ok(parser.scopes.pop().unwrap_or_default())
}

/// Recursive-descent parser over the characters of one file.
struct Parser {
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
    fn env_value(&self, name: &str, text: &str, loc: Loc) -> Result<Node, ConfigError> {
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
fn parse_go_duration(s: &str) -> Result<Duration, String> {
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

// ---------------------------------------------------------------------------------------------
// Mapping onto Options
// ---------------------------------------------------------------------------------------------

/// Handles one top-level key.
type Handler = fn(&mut Applier, &Entry) -> Result<(), ConfigError>;

/// Top-level keys the bundled broker implements, with their nats-server aliases.
const TOP_LEVEL: &[(&[&str], Handler)] = &[
    (&["listen"], Applier::listen),
    (&["port"], Applier::port),
    (&["host", "net"], Applier::host),
    (&["server_name"], Applier::server_name),
    (&["http"], Applier::http),
    (&["http_port", "monitor_port"], Applier::http_port),
    (&["http_host"], Applier::http_host),
    (&["max_payload"], Applier::max_payload),
    (&["max_control_line"], Applier::max_control_line),
    (&["max_pending"], Applier::max_pending),
    (&["max_connections", "max_conn"], Applier::max_connections),
    (&["ping_interval"], Applier::ping_interval),
    (&["ping_max"], Applier::ping_max),
    (&["write_deadline"], Applier::write_deadline),
    (&["debug"], Applier::debug),
    (&["trace", "trace_verbose"], Applier::trace),
    (&["logfile", "log_file"], Applier::log_file),
    (&["pidfile", "pid_file"], Applier::pid_file),
    (&["authorization"], Applier::authorization),
];

/// Fills in a copy of the options from parsed entries, collecting warnings.
struct Applier {
    opts: Options,
    /// What a zero limit or duration falls back to.
    defaults: Options,
    warnings: Vec<String>,
    host_set: bool,
    http_host_set: bool,
    http_port_set: bool,
    payload_at: Option<Loc>,
    pending_at: Option<Loc>,
}

impl Applier {
    fn new(opts: Options) -> Self {
        Applier {
            opts,
            defaults: Options::default(),
            warnings: Vec::new(),
            host_set: false,
            http_host_set: false,
            http_port_set: false,
            payload_at: None,
            pending_at: None,
        }
    }

    fn entries(&mut self, entries: &[Entry]) -> Result<(), ConfigError> {
        for entry in entries {
            self.top_level(entry)?;
        }
        self.finish()
    }

    fn top_level(&mut self, entry: &Entry) -> Result<(), ConfigError> {
        let key = entry.key.to_ascii_lowercase();
        match TOP_LEVEL
            .iter()
            .find(|(names, _)| names.contains(&key.as_str()))
        {
            Some((_, handler)) => handler(self, entry),
            None => self.unsupported_or_unknown(entry, "", UNSUPPORTED_TOP_LEVEL),
        }
    }

    /// Warns about a key in `known` (not implemented here); rejects one nats-server does not
    /// know either, unless it was used as a variable.
    fn unsupported_or_unknown(
        &mut self,
        entry: &Entry,
        parent: &str,
        known: &[&str],
    ) -> Result<(), ConfigError> {
        if known.contains(&entry.key.to_ascii_lowercase().as_str()) {
            let message = format!(
                "\"{parent}{}\" ignored: not supported by the bundled broker",
                entry.key
            );
            self.warn(&entry.loc, message);
            Ok(())
        } else if entry.used_as_var {
            Ok(())
        } else {
            Err(entry.loc.unknown(&entry.key))
        }
    }

    fn warn(&mut self, loc: &Loc, message: impl fmt::Display) {
        self.warnings.push(format!("{}: {message}", loc.prefix()));
    }

    /// Checks that need the whole file; the monitor follows the client host, as in nats-server.
    fn finish(&mut self) -> Result<(), ConfigError> {
        if !self.http_host_set && (self.host_set || self.http_port_set) {
            self.opts.http_host = self.opts.host.clone();
        }
        let Some(loc) = self.payload_at.clone().or_else(|| self.pending_at.clone()) else {
            return Ok(());
        };
        let (payload, pending) = (self.opts.max_payload, self.opts.max_pending);
        if payload > pending {
            let message = format!("value {payload} cannot be higher than max_pending ({pending})");
            return Err(loc.bad("max_payload", message));
        }
        if self.payload_at.is_some() && payload > PAYLOAD_WARN {
            self.warn(
                &loc,
                "Maximum payloads over 8.00 MB are generally discouraged and could lead to poor performance",
            );
        }
        Ok(())
    }

    fn listen(&mut self, e: &Entry) -> Result<(), ConfigError> {
        let (host, port) = host_port(e)?;
        self.opts.port = client_port(e, port)?;
        self.opts.host = host.unwrap_or_else(|| self.defaults.host.clone());
        self.host_set = true;
        Ok(())
    }

    fn port(&mut self, e: &Entry) -> Result<(), ConfigError> {
        self.opts.port = client_port(e, integer(e)?)?;
        Ok(())
    }

    fn host(&mut self, e: &Entry) -> Result<(), ConfigError> {
        self.opts.host = non_empty(string(e)?).unwrap_or_else(|| self.defaults.host.clone());
        self.host_set = true;
        Ok(())
    }

    fn server_name(&mut self, e: &Entry) -> Result<(), ConfigError> {
        self.opts.server_name = non_empty(string(e)?);
        Ok(())
    }

    fn http(&mut self, e: &Entry) -> Result<(), ConfigError> {
        let (host, port) = host_port(e)?;
        self.opts.http_port = monitor_port(e, port)?;
        self.http_port_set = true;
        if let Some(host) = host {
            self.opts.http_host = host;
            self.http_host_set = true;
        }
        Ok(())
    }

    fn http_port(&mut self, e: &Entry) -> Result<(), ConfigError> {
        self.opts.http_port = monitor_port(e, integer(e)?)?;
        self.http_port_set = true;
        Ok(())
    }

    /// Not a nats-server key (it binds the monitor to the client host): a cfsim extension.
    fn http_host(&mut self, e: &Entry) -> Result<(), ConfigError> {
        self.opts.http_host = non_empty(string(e)?).unwrap_or_else(|| self.defaults.host.clone());
        self.http_host_set = true;
        Ok(())
    }

    fn max_payload(&mut self, e: &Entry) -> Result<(), ConfigError> {
        self.opts.max_payload = limit(e, MAX_INT32, self.defaults.max_payload)?;
        self.payload_at = Some(e.loc.clone());
        Ok(())
    }

    fn max_control_line(&mut self, e: &Entry) -> Result<(), ConfigError> {
        self.opts.max_control_line = limit(e, MAX_INT32, self.defaults.max_control_line)?;
        Ok(())
    }

    fn max_pending(&mut self, e: &Entry) -> Result<(), ConfigError> {
        self.opts.max_pending = limit(e, i64::MAX, self.defaults.max_pending)?;
        self.pending_at = Some(e.loc.clone());
        Ok(())
    }

    /// A negative value means no limit, as in nats-server 2.9.
    fn max_connections(&mut self, e: &Entry) -> Result<(), ConfigError> {
        self.opts.max_connections = match integer(e)? {
            n if n < 0 => usize::MAX,
            _ => limit(e, i64::MAX, self.defaults.max_connections)?,
        };
        Ok(())
    }

    fn ping_interval(&mut self, e: &Entry) -> Result<(), ConfigError> {
        self.opts.ping_interval = self.duration(e, self.defaults.ping_interval)?;
        Ok(())
    }

    fn write_deadline(&mut self, e: &Entry) -> Result<(), ConfigError> {
        self.opts.write_deadline = self.duration(e, self.defaults.write_deadline)?;
        Ok(())
    }

    fn ping_max(&mut self, e: &Entry) -> Result<(), ConfigError> {
        let n = limit(e, i64::from(u32::MAX), self.defaults.ping_max as usize)?;
        self.opts.ping_max = u32::try_from(n).map_err(|_| e.loc.bad(&e.key, "value is too big"))?;
        Ok(())
    }

    fn debug(&mut self, e: &Entry) -> Result<(), ConfigError> {
        self.opts.debug = boolean(e)?;
        Ok(())
    }

    fn trace(&mut self, e: &Entry) -> Result<(), ConfigError> {
        self.opts.trace = boolean(e)?;
        Ok(())
    }

    fn log_file(&mut self, e: &Entry) -> Result<(), ConfigError> {
        self.opts.log_file = non_empty(string(e)?);
        Ok(())
    }

    fn pid_file(&mut self, e: &Entry) -> Result<(), ConfigError> {
        self.opts.pid_file = non_empty(string(e)?);
        Ok(())
    }

    /// A duration string; a bare integer is seconds (with nats-server's warning); 0 = default.
    fn duration(&mut self, e: &Entry, default: Duration) -> Result<Duration, ConfigError> {
        let d = match &e.node.value {
            Value::Str(s) => parse_go_duration(s).map_err(|m| e.loc.bad(&e.key, m))?,
            Value::Int(n) => {
                let secs = u64::try_from(*n)
                    .map_err(|_| e.loc.bad(&e.key, "a duration must not be negative"))?;
                self.warn(
                    &e.loc,
                    format!(
                        "{} should be converted to a duration: the integer {n} is read as \
                         {n} seconds (write e.g. \"{n}s\" or \"2m\")",
                        e.key
                    ),
                );
                Duration::from_secs(secs)
            }
            other => {
                let message = format!(
                    "expected a duration such as \"2m\", got {}",
                    other.describe()
                );
                return Err(e.loc.bad(&e.key, message));
            }
        };
        Ok(if d.is_zero() { default } else { d })
    }

    /// `authorization { user, password, token, timeout, users }`: replaces the client auth.
    fn authorization(&mut self, e: &Entry) -> Result<(), ConfigError> {
        let mut auth = Auth::default();
        let mut timeout = None;
        let mut users = None;
        for f in map(e)? {
            match f.key.to_ascii_lowercase().as_str() {
                "user" | "username" => auth.user = non_empty(string(f)?),
                "pass" | "password" => auth.password = non_empty(self.password(f)?),
                "token" => auth.token = non_empty(string(f)?),
                "timeout" => timeout = Some(auth_timeout(f)?),
                "users" => users = Some(self.users(f)?),
                _ => self.unsupported_or_unknown(f, "authorization.", UNSUPPORTED_AUTH)?,
            }
        }
        check_auth(e, &auth, users.is_some())?;
        if auth.user.is_none() && auth.password.is_some() {
            self.warn(
                &e.loc,
                "authorization: a password without a user has no effect",
            );
        }
        auth.users = users.unwrap_or_default();
        self.opts.auth = auth;
        self.opts.auth_timeout = timeout
            .filter(|t: &Duration| !t.is_zero())
            .unwrap_or(self.defaults.auth_timeout);
        Ok(())
    }

    /// `users = [ {user, password}, ... ]`; user names must be unique.
    fn users(&mut self, f: &Entry) -> Result<Vec<User>, ConfigError> {
        let Value::Array(items) = &f.node.value else {
            let message = format!(
                "expected an array of users, got {}",
                f.node.value.describe()
            );
            return Err(f.loc.bad(&f.key, message));
        };
        let mut users: Vec<User> = Vec::new();
        for item in items {
            let user = self.user(item)?;
            if users.iter().any(|u| u.user == user.user) {
                let message = format!("Duplicate user {:?} detected", user.user);
                return Err(item.loc.bad("users", message));
            }
            users.push(user);
        }
        Ok(users)
    }

    fn user(&mut self, item: &Node) -> Result<User, ConfigError> {
        let Value::Map(fields) = &item.value else {
            let message = format!(
                "expected a user entry {{user, password}}, got {}",
                item.value.describe()
            );
            return Err(item.loc.bad("users", message));
        };
        let (mut name, mut password) = (None, String::new());
        for f in fields {
            match f.key.to_ascii_lowercase().as_str() {
                "user" | "username" => name = non_empty(string(f)?),
                "pass" | "password" => password = self.password(f)?,
                "nkey" => {
                    return Err(f
                        .loc
                        .bad(&f.key, "nkey users are not supported by the bundled broker"))
                }
                _ => self.unsupported_or_unknown(f, "authorization.users.", UNSUPPORTED_USER)?,
            }
        }
        let user = name.ok_or_else(|| item.loc.bad("users", "User entry requires a user"))?;
        Ok(User { user, password })
    }

    /// A password; bcrypt hashes are accepted but compared as plain text, with a warning.
    fn password(&mut self, f: &Entry) -> Result<String, ConfigError> {
        let password = string(f)?;
        if password.starts_with("$2") {
            self.warn(
                &f.loc,
                "bcrypt password hashes are not supported by the bundled broker: \
                 the hash is compared as plain text",
            );
        }
        Ok(password)
    }
}

/// nats-server's rules on combining user/password, token and a users list.
fn check_auth(e: &Entry, auth: &Auth, has_users: bool) -> Result<(), ConfigError> {
    let message = if (auth.user.is_some() || auth.password.is_some()) && auth.token.is_some() {
        "Cannot have a user/pass and token"
    } else if has_users && auth.user.is_some() {
        "Can not have a single user/pass and a users array"
    } else if has_users && auth.token.is_some() {
        "Can not have a token and a users array"
    } else {
        return Ok(());
    };
    Err(e.loc.bad(&e.key, message))
}

/// `authorization { timeout }`: seconds, integer or float; a duration string is accepted too.
fn auth_timeout(f: &Entry) -> Result<Duration, ConfigError> {
    let secs = match &f.node.value {
        Value::Int(n) => *n as f64,
        Value::Float(x) => *x,
        Value::Str(s) => parse_go_duration(s)
            .map_err(|m| f.loc.bad(&f.key, m))?
            .as_secs_f64(),
        other => {
            let message = format!("expected a number of seconds, got {}", other.describe());
            return Err(f.loc.bad(&f.key, message));
        }
    };
    Duration::try_from_secs_f64(secs).map_err(|_| {
        f.loc
            .bad(&f.key, format!("invalid timeout {secs} (must be >= 0)"))
    })
}

/// A `listen`/`http` value: a port, or `host:port` (`[v6]:port`). The host is `None` if empty.
fn host_port(e: &Entry) -> Result<(Option<String>, i64), ConfigError> {
    match &e.node.value {
        Value::Int(port) => Ok((None, *port)),
        Value::Str(s) => {
            let (host, port) = split_host_port(s).map_err(|m| e.loc.bad(&e.key, m))?;
            let port = port
                .parse()
                .map_err(|_| e.loc.bad(&e.key, format!("could not parse port {port:?}")))?;
            Ok((non_empty(host), port))
        }
        other => {
            let message = format!("expected port or host:port, got {}", other.describe());
            Err(e.loc.bad(&e.key, message))
        }
    }
}

/// Go's `net.SplitHostPort`.
fn split_host_port(s: &str) -> Result<(String, String), String> {
    let bad = || format!("could not parse address string {s:?}");
    let (host, port) = match s.strip_prefix('[') {
        Some(rest) => {
            let (host, after) = rest.split_once(']').ok_or_else(bad)?;
            (host, after.strip_prefix(':').ok_or_else(bad)?)
        }
        None => {
            let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
            if host.contains([':', '[', ']']) {
                return Err(bad());
            }
            (host, port)
        }
    };
    Ok((host.to_string(), port.to_string()))
}

/// Client port: `-1` = random (0), `0` = the default 4222.
fn client_port(e: &Entry, port: i64) -> Result<u16, ConfigError> {
    match port {
        -1 => Ok(0),
        0 => Ok(DEFAULT_PORT),
        _ => u16::try_from(port).map_err(|_| port_range(e, port)),
    }
}

/// Monitoring port: `-1` = random (`Some(0)`), `0` = no monitoring.
fn monitor_port(e: &Entry, port: i64) -> Result<Option<u16>, ConfigError> {
    match port {
        -1 => Ok(Some(0)),
        0 => Ok(None),
        _ => u16::try_from(port)
            .map(Some)
            .map_err(|_| port_range(e, port)),
    }
}

fn port_range(e: &Entry, port: i64) -> ConfigError {
    let message = format!("port {port} is out of range (1-65535, or -1 for a random port)");
    e.loc.bad(&e.key, message)
}

/// A non-negative integer up to `max`; 0 means `default`.
fn limit(e: &Entry, max: i64, default: usize) -> Result<usize, ConfigError> {
    let n = integer(e)?;
    if n < 0 {
        return Err(e.loc.bad(&e.key, format!("value {n} must not be negative")));
    }
    if n > max {
        return Err(e.loc.bad(&e.key, "value is too big"));
    }
    match usize::try_from(n) {
        Ok(0) => Ok(default),
        Ok(n) => Ok(n),
        Err(_) => Err(e.loc.bad(&e.key, "value is too big")),
    }
}

fn expected(e: &Entry, what: &str) -> ConfigError {
    let message = format!("expected {what}, got {}", e.node.value.describe());
    e.loc.bad(&e.key, message)
}

fn string(e: &Entry) -> Result<String, ConfigError> {
    match &e.node.value {
        Value::Str(s) => Ok(s.clone()),
        _ => Err(expected(e, "a string")),
    }
}

fn integer(e: &Entry) -> Result<i64, ConfigError> {
    match e.node.value {
        Value::Int(n) => Ok(n),
        _ => Err(expected(e, "an integer")),
    }
}

fn boolean(e: &Entry) -> Result<bool, ConfigError> {
    match e.node.value {
        Value::Bool(b) => Ok(b),
        _ => Err(expected(e, "a boolean")),
    }
}

fn map(e: &Entry) -> Result<&[Entry], ConfigError> {
    match &e.node.value {
        Value::Map(entries) => Ok(entries),
        _ => Err(expected(e, "a map { ... }")),
    }
}

fn non_empty(s: String) -> Option<String> {
    Some(s).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Applies `text` to default options; returns them with the warnings.
    fn load(text: &str) -> Result<(Options, Vec<String>), ConfigError> {
        let entries = parse_text(text, None, Path::new(""), 0)?;
        let mut applier = Applier::new(Options::default());
        applier.entries(&entries)?;
        Ok((applier.opts, applier.warnings))
    }

    fn opts(text: &str) -> Options {
        load(text).unwrap_or_else(|e| panic!("{text:?}: {e}")).0
    }

    fn warnings(text: &str) -> Vec<String> {
        load(text).unwrap_or_else(|e| panic!("{text:?}: {e}")).1
    }

    fn error(text: &str) -> ConfigError {
        match load(text) {
            Ok(_) => panic!("{text:?} should be rejected"),
            Err(e) => e,
        }
    }

    /// The value of `k` in `k = <text>`.
    fn value(text: &str) -> Value {
        let entries = parse_text(&format!("k = {text}"), None, Path::new(""), 0)
            .unwrap_or_else(|e| panic!("{text:?}: {e}"));
        entries[0].node.value.clone()
    }

    fn s(text: &str) -> Value {
        Value::Str(text.to_string())
    }

    /// A fresh directory for include tests.
    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cfsim-conf-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn key_value_separators() {
        assert_eq!(opts("port: 4001").port, 4001);
        assert_eq!(opts("port = 4002").port, 4002);
        assert_eq!(opts("port 4003").port, 4003);
        assert_eq!(opts("port:4004").port, 4004);
        assert_eq!(opts("port=4005").port, 4005);
        assert_eq!(
            opts("port\n  4006").port,
            4006,
            "nats-server skips newlines after a key"
        );
    }

    #[test]
    fn terminators_and_json_style() {
        let o = opts("port: 4001; server_name: a, debug: true");
        assert_eq!(
            (o.port, o.server_name.as_deref(), o.debug),
            (4001, Some("a"), true)
        );
        let o = opts("{ \"port\": 4002, \"server_name\": \"json\" }");
        assert_eq!((o.port, o.server_name.as_deref()), (4002, Some("json")));
        let o = opts("{\n  \"port\": 4003,\n  'trace': true\n}\n");
        assert_eq!((o.port, o.trace), (4003, true));
    }

    #[test]
    fn keys_are_case_insensitive() {
        let o = opts("PORT: 4001\nServer_Name: x\nDEBUG: On");
        assert_eq!(
            (o.port, o.server_name.as_deref(), o.debug),
            (4001, Some("x"), true)
        );
    }

    #[test]
    fn comments() {
        let text = "# leading\n// slashes\nport: 4001 # trailing\nserver_name: a#b // trailing\n\
                    authorization {\n  # inside a map\n  user: u // after a value\n}\n\
                    http: \"a#b//c:8222\"\n";
        let o = opts(text);
        assert_eq!(o.port, 4001);
        assert_eq!(
            o.server_name.as_deref(),
            Some("a#b"),
            "# inside a bare string is kept"
        );
        assert_eq!(o.auth.user.as_deref(), Some("u"));
        assert_eq!(o.http_host, "a#b//c");
    }

    #[test]
    fn strings() {
        assert_eq!(value(r#""dq \t\x41\"\\ end""#), s("dq \tA\"\\ end"));
        assert_eq!(value(r"'sq \t \x41'"), s(r"sq \t \x41"));
        assert_eq!(value("\"two\nlines\""), s("two\nlines"));
        assert_eq!(value("bare # not a comment"), s("bare"));
        assert_eq!(value("a:b=c{d"), s("a:b=c{d"));
        assert_eq!(value(r"ab\tc"), s("ab\tc"));
        assert_eq!(value("\"$HOME\""), s("$HOME"), "no variables in quotes");
        assert_eq!(value("\"true\""), s("true"));
        assert_eq!(value("(\nline 1\nline 2\n)"), s("\nline 1\nline 2"));
    }

    #[test]
    fn bare_strings_end_at_terminators() {
        assert_eq!(value("abc  "), s("abc"));
        assert_eq!(value("abc # comment"), s("abc"));
        assert_eq!(value("abc // comment"), s("abc"));
        assert_eq!(value("abc//x"), s("abc//x"));
        let o = opts("server_name: a,port: 1;debug: true\nlog_file: b}\n");
        assert_eq!(
            (o.server_name.as_deref(), o.port, o.debug),
            (Some("a"), 1, true)
        );
        assert_eq!(o.log_file.as_deref(), Some("b"));
        assert_eq!(
            value("ab' # c"),
            s("ab"),
            "a quote ends a bare string, as in nats-server"
        );
    }

    #[test]
    fn string_syntax_errors() {
        let e = error("port: 4222\nserver_name: \"a\\qb\"");
        assert_eq!(e.line(), Some(2));
        assert!(
            e.to_string().contains("Invalid escape character 'q'"),
            "{e}"
        );
        assert!(error(r#"k: "bad \xZZ""#).to_string().contains("'ZZ'"));
        let e = error("port: 1\nserver_name: \"unterminated\n\n");
        assert!(matches!(e, ConfigError::Syntax { line: 4, .. }), "{e:?}");
        assert!(matches!(error("k: 'open"), ConfigError::Syntax { .. }));
        assert!(error("k: abc def").to_string().contains("got 'd'"));
        assert!(error("k: \"a\" \"b\"").to_string().contains("got '\"'"));
    }

    #[test]
    fn booleans() {
        for (text, expected) in [
            ("true", true),
            ("TRUE", true),
            ("yes", true),
            ("On", true),
            ("false", false),
            ("no", false),
            ("OFF", false),
        ] {
            assert_eq!(value(text), Value::Bool(expected), "{text}");
        }
        assert_eq!(value("noway"), s("noway"));
    }

    #[test]
    fn numbers_and_sizes() {
        let cases = [
            ("4222", 4222),
            ("017", 17),
            ("-5", -5),
            ("1k", 1000),
            ("1K", 1000),
            ("1kb", 1024),
            ("64KB", 64 * 1024),
            ("1Ki", 1024),
            ("1KiB", 1024),
            ("1m", 1_000_000),
            ("1MB", 1 << 20),
            ("1MiB", 1 << 20),
            ("1g", 1_000_000_000),
            ("1GB", 1 << 30),
            ("2t", 2_000_000_000_000),
            ("1tb", 1 << 40),
            ("1pb", 1 << 50),
            ("1e", 1_000_000_000_000_000_000),
            ("-5k", -5000),
        ];
        for (text, expected) in cases {
            assert_eq!(value(text), Value::Int(expected), "{text}");
        }
    }

    #[test]
    fn digit_strings_floats_addresses_dates() {
        assert_eq!(value("5s"), s("5s"), "nats-server 2.9 reads 5s as a string");
        assert_eq!(value("2m30s"), s("2m30s"));
        assert_eq!(value("1kk"), s("1kk"));
        assert_eq!(value("123abc"), s("123abc"));
        assert_eq!(value("12:30"), s("12:30"));
        assert_eq!(value("1.5"), Value::Float(1.5));
        assert_eq!(value("-0.25"), Value::Float(-0.25));
        assert_eq!(value("127.0.0.1:4222"), s("127.0.0.1:4222"));
        assert_eq!(value("10.0.0.1"), s("10.0.0.1"));
        let date = "2020-01-02T03:04:05Z";
        assert_eq!(value(date), Value::Date(date.to_string()));
    }

    #[test]
    fn number_syntax_errors() {
        assert!(error("k: 9223372036854775808")
            .to_string()
            .contains("out of the range"));
        assert!(error("k: 10eb").to_string().contains("out of the range"));
        assert!(error("k: 1kbb").to_string().contains("invalid size suffix"));
        assert!(error("k: 1.").to_string().contains("digit after the '.'"));
        assert!(error("k: .5").to_string().contains("start with a digit"));
        assert!(error("k: 1.5s").to_string().contains("Invalid number"));
        assert!(error("k: 1.2.3.4abc")
            .to_string()
            .contains("Invalid number"));
        assert!(error("k: 2020-01-02").to_string().contains("Zulu"));
        assert!(error("k: -x").to_string().contains("Expected a digit"));
        assert!(error("k: -5s").to_string().contains("Invalid number"));
    }

    #[test]
    fn maps_with_and_without_separator() {
        for text in [
            "authorization { user: a }",
            "authorization: { user: a }",
            "authorization = { user = a }",
            "authorization\n{\n  user a\n}",
            "authorization {user: a;}",
        ] {
            assert_eq!(opts(text).auth.user.as_deref(), Some("a"), "{text}");
        }
        let Value::Map(entries) = value("{ a: 1, b { c: [x] }, d = 'y'; e: true }") else {
            panic!("not a map");
        };
        let keys: Vec<&str> = entries.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["a", "b", "d", "e"]);
        assert!(matches!(
            error("k { a: 1 b: 2 }"),
            ConfigError::Syntax { .. }
        ));
        assert!(matches!(error("k { a: 1\n"), ConfigError::Syntax { .. }));
    }

    #[test]
    fn arrays() {
        let expected = Value::Array(vec![]);
        assert_eq!(value("[]"), expected);
        let items = |v: Value| match v {
            Value::Array(items) => items.into_iter().map(|n| n.value).collect::<Vec<_>>(),
            other => panic!("not an array: {other:?}"),
        };
        let abc = vec![s("a"), s("b"), s("c")];
        assert_eq!(items(value("[a, b, c]")), abc);
        assert_eq!(items(value("[\n  a\n  b # comment\n  c,\n]")), abc);
        assert_eq!(items(value("[a,b\n// comment\n c]")), abc);
        assert_eq!(
            items(value("[1, \"two\", {x: 3}, [4]]")).len(),
            4,
            "mixed arrays"
        );
        assert!(error("k: [, a]")
            .to_string()
            .contains("Unexpected array value terminator"));
        assert!(error("k: [a b]")
            .to_string()
            .contains("array value terminator"));
        assert!(error("k: [a,\n").to_string().contains("EOF in array"));
    }

    #[test]
    fn listen() {
        let o = opts("listen: 127.0.0.1:4333");
        assert_eq!((o.host.as_str(), o.port), ("127.0.0.1", 4333));
        let o = opts("listen: \"localhost:4334\"");
        assert_eq!((o.host.as_str(), o.port), ("localhost", 4334));
        let o = opts("listen: localhost:-1");
        assert_eq!((o.host.as_str(), o.port), ("localhost", 0));
        let o = opts("host: 10.1.1.1\nlisten: 4335");
        assert_eq!(
            (o.host.as_str(), o.port),
            ("0.0.0.0", 4335),
            "a bare port resets the host"
        );
        let o = opts("listen: \":4336\"");
        assert_eq!((o.host.as_str(), o.port), ("0.0.0.0", 4336));
        let o = opts("listen: \"[::1]:4337\"");
        assert_eq!((o.host.as_str(), o.port), ("::1", 4337));
        let e = error("port: 1\nlisten: \"localhost\"");
        assert_eq!(e.line(), Some(2));
        assert!(
            e.to_string().contains("could not parse address string"),
            "{e}"
        );
        assert!(error("listen: \"h:x\"")
            .to_string()
            .contains("could not parse port"));
        assert!(error("listen: \"a:b:1\"")
            .to_string()
            .contains("could not parse address"));
        assert!(error("listen: \"h:70000\"")
            .to_string()
            .contains("out of range"));
        assert!(error("listen: true")
            .to_string()
            .contains("expected port or host:port"));
    }

    #[test]
    fn port_and_host() {
        assert_eq!(opts("port: -1").port, 0, "-1 means a random port");
        assert_eq!(opts("port: 0").port, DEFAULT_PORT);
        assert_eq!(opts("port: 65535").port, 65535);
        assert!(error("port: 70000").to_string().contains("out of range"));
        assert!(error("port: -2").to_string().contains("out of range"));
        assert!(error("port: \"4222\"")
            .to_string()
            .contains("expected an integer"));
        assert_eq!(opts("host: 127.0.0.1").host, "127.0.0.1");
        assert_eq!(opts("net: \"::1\"").host, "::1");
        assert!(error("host: 5").to_string().contains("expected a string"));
    }

    #[test]
    fn monitoring() {
        let o = opts("http: \"127.0.0.1:8222\"");
        assert_eq!(
            (o.http_host.as_str(), o.http_port),
            ("127.0.0.1", Some(8222))
        );
        let o = opts("http: localhost:8222");
        assert_eq!(
            (o.http_host.as_str(), o.http_port),
            ("localhost", Some(8222))
        );
        assert_eq!(opts("http_port: 8223").http_port, Some(8223));
        assert_eq!(opts("monitor_port: 8224").http_port, Some(8224));
        assert_eq!(
            opts("http_port: -1").http_port,
            Some(0),
            "-1 means a random port"
        );
        assert_eq!(
            opts("http_port: 0").http_port,
            None,
            "0 means no monitoring"
        );
        assert_eq!(opts("http: 8225").http_port, Some(8225));
        assert!(error("http_port: 65536")
            .to_string()
            .contains("out of range"));
    }

    #[test]
    fn monitor_host_follows_client_host() {
        let o = opts("listen: 127.0.0.1:-1\nhttp: 8222");
        assert_eq!(
            o.http_host, "127.0.0.1",
            "as nats-server: the monitor binds the client host"
        );
        let o = opts("host: 127.0.0.2\nhttp_port: 8222");
        assert_eq!(o.http_host, "127.0.0.2");
        let o = opts("host: 127.0.0.2\nhttp: \"127.0.0.3:8222\"");
        assert_eq!(o.http_host, "127.0.0.3");
        let o = opts("host: 127.0.0.2\nhttp_host: 127.0.0.4\nhttp_port: 8222");
        assert_eq!(o.http_host, "127.0.0.4");
        assert_eq!(opts("port: 1").http_host, Options::default().http_host);
    }

    #[test]
    fn names_and_files() {
        let o = opts("server_name: \"n 1\"\nlog_file: /tmp/n.log\npid_file: '/tmp/n.pid'");
        assert_eq!(o.server_name.as_deref(), Some("n 1"));
        assert_eq!(o.log_file.as_deref(), Some("/tmp/n.log"));
        assert_eq!(o.pid_file.as_deref(), Some("/tmp/n.pid"));
        let o = opts("logfile: a.log\npidfile: a.pid");
        assert_eq!(
            (o.log_file.as_deref(), o.pid_file.as_deref()),
            (Some("a.log"), Some("a.pid"))
        );
        assert_eq!(opts("server_name: \"\"").server_name, None);
    }

    #[test]
    fn debug_and_trace() {
        let o = opts("debug: true\ntrace: yes");
        assert!(o.debug && o.trace);
        let o = opts("debug: off\ntrace: false");
        assert!(!o.debug && !o.trace);
        assert!(opts("trace_verbose: true").trace);
        assert!(error("debug: 1").to_string().contains("expected a boolean"));
        assert!(error("debug: \"true\"")
            .to_string()
            .contains("expected a boolean"));
    }

    #[test]
    fn limits() {
        let o = opts(
            "max_payload: 2MB\nmax_control_line: 8KB\nmax_pending: 128MB\nmax_connections: 100",
        );
        assert_eq!(o.max_payload, 2 << 20);
        assert_eq!(o.max_control_line, 8 << 10);
        assert_eq!(o.max_pending, 128 << 20);
        assert_eq!(o.max_connections, 100);
        assert_eq!(opts("max_conn: 7").max_connections, 7);
        assert_eq!(opts("max_connections: -1").max_connections, usize::MAX);
        let d = Options::default();
        let o = opts("max_payload: 0\nmax_control_line: 0\nmax_pending: 0\nmax_connections: 0");
        assert_eq!(
            (
                o.max_payload,
                o.max_control_line,
                o.max_pending,
                o.max_connections
            ),
            (
                d.max_payload,
                d.max_control_line,
                d.max_pending,
                d.max_connections
            ),
            "0 means the default"
        );
        assert!(error("max_payload: -1").to_string().contains("negative"));
        assert!(error("max_control_line: 3GB")
            .to_string()
            .contains("too big"));
        assert!(error("max_payload: 1.5")
            .to_string()
            .contains("expected an integer"));
    }

    #[test]
    fn max_payload_is_bounded_by_max_pending() {
        let e = error("port: 1\nmax_payload: 100MB");
        assert!(matches!(&e, ConfigError::BadValue { line: 2, .. }), "{e:?}");
        assert!(
            e.to_string().contains(
                "line 2: max_payload: value 104857600 cannot be higher than max_pending (67108864)"
            ),
            "{e}"
        );
        assert_eq!(
            opts("max_payload: 100MB\nmax_pending: 200MB").max_payload,
            100 << 20
        );
        assert!(matches!(
            error("max_pending: 1\nport: 2"),
            ConfigError::BadValue { line: 1, .. }
        ));
        let w = warnings("max_payload: 9MB");
        assert!(w.iter().any(|w| w.contains("over 8.00 MB")), "{w:?}");
        assert!(warnings("max_payload: 8MB").is_empty());
    }

    #[test]
    fn durations() {
        assert_eq!(
            opts("ping_interval: \"2s\"").ping_interval,
            Duration::from_secs(2)
        );
        assert_eq!(
            opts("ping_interval: \"1m\"").ping_interval,
            Duration::from_secs(60)
        );
        assert_eq!(
            opts("ping_interval: 500ms").ping_interval,
            Duration::from_millis(500)
        );
        assert_eq!(
            opts("ping_interval: 2m30s").ping_interval,
            Duration::from_secs(150)
        );
        assert_eq!(
            opts("write_deadline: \"1.5s\"").write_deadline,
            Duration::from_millis(1500)
        );
        assert_eq!(
            opts("write_deadline: 5s").write_deadline,
            Duration::from_secs(5)
        );
        let d = Options::default();
        assert_eq!(opts("ping_interval: \"0s\"").ping_interval, d.ping_interval);
        assert!(error("ping_interval: \"abc\"")
            .to_string()
            .contains("invalid duration"));
        assert!(error("ping_interval: \"-1s\"")
            .to_string()
            .contains("negative"));
        assert!(error("write_deadline: 1.5")
            .to_string()
            .contains("expected a duration"));
    }

    #[test]
    fn integer_durations_are_seconds_with_a_warning() {
        let (o, w) = load("ping_interval: 5\nwrite_deadline: 3").unwrap();
        assert_eq!(o.ping_interval, Duration::from_secs(5));
        assert_eq!(o.write_deadline, Duration::from_secs(3));
        assert_eq!(w.len(), 2);
        assert!(w[0].starts_with("line 1: ping_interval should be converted to a duration"));
        // As in nats-server, a bare 2m is the size 2,000,000, hence that many seconds.
        let (o, w) = load("ping_interval: 2m").unwrap();
        assert_eq!(o.ping_interval, Duration::from_secs(2_000_000));
        assert_eq!(w.len(), 1);
        assert!(error("ping_interval: -5").to_string().contains("negative"));
    }

    #[test]
    fn go_durations() {
        let ok = [
            ("0", 0),
            ("1ns", 1),
            ("1us", 1_000),
            ("1µs", 1_000),
            ("2ms", 2_000_000),
            ("1.5s", 1_500_000_000),
            (".5s", 500_000_000),
            ("1h2m3s", 3_723_000_000_000),
            ("+1s", 1_000_000_000),
        ];
        for (text, nanos) in ok {
            assert_eq!(
                parse_go_duration(text),
                Ok(Duration::from_nanos(nanos)),
                "{text}"
            );
        }
        assert!(parse_go_duration("1").unwrap_err().contains("missing unit"));
        assert!(parse_go_duration("1d")
            .unwrap_err()
            .contains("unknown unit \"d\""));
        for bad in ["", "s", ".s", "1..5s", "-"] {
            assert!(parse_go_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ping_max() {
        assert_eq!(opts("ping_max: 5").ping_max, 5);
        assert_eq!(opts("ping_max: 0").ping_max, Options::default().ping_max);
        assert!(error("ping_max: -1").to_string().contains("negative"));
        assert!(error("ping_max: 5000000000")
            .to_string()
            .contains("too big"));
    }

    #[test]
    fn authorization_single_user() {
        let o = opts("authorization {\n  user: alice\n  password: \"s3cr#t\"\n  timeout: 3\n}");
        assert_eq!(o.auth.user.as_deref(), Some("alice"));
        assert_eq!(o.auth.password.as_deref(), Some("s3cr#t"));
        assert_eq!(o.auth_timeout, Duration::from_secs(3));
        assert!(o.auth.required());
        let o = opts("authorization: { username = bob; pass = pw; timeout: 0.5 }");
        assert_eq!(
            (o.auth.user.as_deref(), o.auth.password.as_deref()),
            (Some("bob"), Some("pw"))
        );
        assert_eq!(o.auth_timeout, Duration::from_millis(500));
        let o = opts("authorization { token: \"t0k\" }");
        assert_eq!(o.auth.token.as_deref(), Some("t0k"));
        assert_eq!(o.auth_timeout, Options::default().auth_timeout);
        assert_eq!(
            opts("authorization { timeout: \"4s\" }").auth_timeout,
            Duration::from_secs(4)
        );
        assert!(error("authorization { timeout: -1 }")
            .to_string()
            .contains("invalid timeout"));
        assert!(!opts("authorization {}").auth.required());
    }

    #[test]
    fn authorization_users_list() {
        let text = "authorization {\n  users = [\n    {user: alice, password: pw1}\n    \
                    {user: \"bob\", pass: 'pw2'},\n    { username = carol }\n  ]\n  timeout: 1\n}";
        let o = opts(text);
        let users: Vec<(&str, &str)> = o
            .auth
            .users
            .iter()
            .map(|u| (u.user.as_str(), u.password.as_str()))
            .collect();
        assert_eq!(users, [("alice", "pw1"), ("bob", "pw2"), ("carol", "")]);
        assert!(o.auth.required());
        assert!(!opts("authorization { users: [] }").auth.required());
    }

    #[test]
    fn authorization_errors() {
        let cases = [
            (
                "authorization { user: a, password: b, token: t }",
                "Cannot have a user/pass and token",
            ),
            (
                "authorization { user: a, users: [{user: b, password: c}] }",
                "single user/pass and a users",
            ),
            (
                "authorization { token: t, users: [] }",
                "token and a users array",
            ),
            (
                "authorization { users: [{user: b, password: c}, {user: b}] }",
                "Duplicate user \"b\"",
            ),
            (
                "authorization { users: [{password: c}] }",
                "requires a user",
            ),
            ("authorization { users: [alice] }", "expected a user entry"),
            (
                "authorization { users: {user: a} }",
                "expected an array of users",
            ),
            (
                "authorization { users: [{nkey: UABC}] }",
                "nkey users are not supported",
            ),
            ("authorization: 5", "expected a map"),
        ];
        for (text, message) in cases {
            let e = error(text);
            assert!(e.to_string().contains(message), "{text}: {e}");
        }
        let e = error("port: 1\nauthorization {\n  user: a\n  foo: 1\n}");
        assert!(
            matches!(&e, ConfigError::UnknownField { line: 4, key } if key == "foo"),
            "{e:?}"
        );
        let e = error("authorization {\n users: [\n  {user: b, password: c, zzz: 1}\n ]\n}");
        assert!(
            matches!(&e, ConfigError::UnknownField { line: 3, key } if key == "zzz"),
            "{e:?}"
        );
    }

    #[test]
    fn authorization_warnings() {
        let text =
            "authorization {\n  users: [{user: a, password: b, permissions: {publish: \"x\"}}]\n  \
                    default_permissions: { subscribe: \">\" }\n}";
        let (o, w) = load(text).unwrap();
        assert_eq!(o.auth.users.len(), 1);
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(
            w[0].contains("\"authorization.users.permissions\" ignored"),
            "{w:?}"
        );
        assert!(w[1].starts_with("line 3: \"authorization.default_permissions\" ignored"));
        let w = warnings("authorization { user: a, password: \"$2a$11$abcdefghijklmnopqrstuv\" }");
        assert!(w[0].contains("bcrypt"), "{w:?}");
        let w = warnings("authorization { password: p }");
        assert!(w[0].contains("password without a user"), "{w:?}");
    }

    #[test]
    fn authorization_replaces_previous_auth() {
        let o = opts("authorization { user: a, password: b }\nauthorization { token: t }");
        assert_eq!(o.auth.user, None);
        assert_eq!(o.auth.token.as_deref(), Some("t"));
    }

    #[test]
    fn unknown_fields_are_errors_with_line() {
        let e = error("port: 4222\n\nfoo: bar\n");
        assert!(
            matches!(&e, ConfigError::UnknownField { line: 3, key } if key == "foo"),
            "{e:?}"
        );
        assert_eq!(e.to_string(), "line 3: unknown field \"foo\"");
        assert!(matches!(
            error("max_pending_size: 1"),
            ConfigError::UnknownField { .. }
        ));
        assert!(matches!(
            error("include: x.conf"),
            ConfigError::UnknownField { .. }
        ));
    }

    #[test]
    fn unsupported_keys_are_warned_and_ignored() {
        let text = "port: 4222\ncluster { name: c, listen: 0.0.0.0:6222 }\njetstream: enabled\n\
                    tls { cert_file: a.pem, key_file: a.key }\naccounts { A: { users: [{user: x}] } }\n\
                    leafnodes { port: 7422 }\ngateway { name: g }\nwebsocket { port: 8080 }\n\
                    mqtt { port: 1883 }\nsystem_account: SYS\nlogtime: false\nsyslog: true\n";
        let (o, w) = load(text).unwrap();
        assert_eq!(o.port, 4222);
        assert_eq!(w.len(), 11, "{w:?}");
        assert_eq!(
            w[0],
            "line 2: \"cluster\" ignored: not supported by the bundled broker"
        );
        assert!(w
            .iter()
            .all(|w| w.contains("not supported by the bundled broker")));
    }

    #[test]
    fn variables() {
        let o = opts(
            "NAME: vname\nTOKEN = \"s3cr3t\"\nserver_name: $NAME\nauthorization { token: $TOKEN }",
        );
        assert_eq!(o.server_name.as_deref(), Some("vname"));
        assert_eq!(o.auth.token.as_deref(), Some("s3cr3t"));
        let o = opts("authorization {\n  PASS: pw\n  user: u\n  password: $PASS\n}");
        assert_eq!(
            o.auth.password.as_deref(),
            Some("pw"),
            "block-scoped variables"
        );
        assert_eq!(
            opts("P: 4999\nport: $P").port,
            4999,
            "variables keep their type"
        );
        let o = opts("authorization { password: $2a$11$abc, user: u }");
        assert_eq!(
            o.auth.password.as_deref(),
            Some("$2a$11$abc"),
            "bcrypt hashes are literal"
        );
    }

    #[test]
    fn environment_variables() {
        let o = opts("server_name: $CARGO_MANIFEST_DIR");
        assert_eq!(o.server_name.as_deref(), Some(env!("CARGO_MANIFEST_DIR")));
        let parser = Parser {
            chars: Vec::new(),
            pos: 0,
            line: 1,
            file: None,
            base: PathBuf::new(),
            depth: 0,
            scopes: Vec::new(),
        };
        let loc = Loc {
            file: None,
            line: 3,
        };
        let node = parser.env_value("P", "4333", loc.clone()).unwrap();
        assert_eq!(
            node,
            Node {
                value: Value::Int(4333),
                loc: loc.clone()
            }
        );
        assert!(parser.env_value("P", "[", loc).is_err());
    }

    #[test]
    fn unknown_variable_is_an_error() {
        let e = error("port: 1\nserver_name: $CFSIM_SURELY_UNSET_VARIABLE");
        assert!(matches!(e, ConfigError::Syntax { line: 2, .. }), "{e:?}");
        assert!(e.to_string().contains("can not be found"));
    }

    #[test]
    fn include_relative_to_the_including_file() {
        let dir = temp_dir("include");
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("sub/name.conf"), "server_name: included\n").unwrap();
        std::fs::write(
            dir.join("sub/auth.conf"),
            "include 'users.conf'\ntoken: t\n",
        )
        .unwrap();
        std::fs::write(dir.join("sub/users.conf"), "timeout: 7\n").unwrap();
        let main = "port: 4111\ninclude sub/name.conf\ndebug: true; include \"sub/name.conf\"\n\
                    authorization {\n  include sub/auth.conf\n}\n";
        std::fs::write(dir.join("main.conf"), main).unwrap();
        let mut o = Options::default();
        apply_file(&mut o, &dir.join("main.conf")).unwrap();
        assert_eq!(
            (o.port, o.server_name.as_deref(), o.debug),
            (4111, Some("included"), true)
        );
        assert_eq!(o.auth.token.as_deref(), Some("t"));
        assert_eq!(
            o.auth_timeout,
            Duration::from_secs(7),
            "nested include, relative to sub/"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn include_errors_name_the_file() {
        let dir = temp_dir("include-errors");
        std::fs::write(dir.join("bad.conf"), "# comment\nport: 1\nbogus: 2\n").unwrap();
        std::fs::write(dir.join("main.conf"), "port: 2\ninclude bad.conf\n").unwrap();
        std::fs::write(dir.join("missing.conf"), "port: 2\n\ninclude nope.conf\n").unwrap();
        std::fs::write(dir.join("loop.conf"), "include loop.conf\n").unwrap();
        let mut o = Options::default();
        let e = apply_file(&mut o, &dir.join("main.conf")).unwrap_err();
        let expected = format!(
            "{}: unknown field \"bogus\"",
            dir.join("bad.conf:3").display()
        );
        assert_eq!(e.to_string(), expected);
        assert_eq!(e.line(), Some(3));
        let e = apply_file(&mut o, &dir.join("missing.conf")).unwrap_err();
        assert_eq!(e.line(), Some(3));
        assert!(e.to_string().contains("include: cannot read"), "{e}");
        assert!(e
            .to_string()
            .starts_with(&dir.join("missing.conf:3").display().to_string()));
        let e = apply_file(&mut o, &dir.join("loop.conf")).unwrap_err();
        assert!(e.to_string().contains("nested too deeply"), "{e}");
        assert_eq!(
            o.port,
            Options::default().port,
            "failed files change nothing"
        );
        assert!(matches!(error("include \"\n"), ConfigError::Syntax { .. }));
        assert!(error("include [a]")
            .to_string()
            .contains("start of an array"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn apply_file_reports_io_and_located_errors() {
        let dir = temp_dir("apply-file");
        let missing = dir.join("missing.conf");
        let e = apply_file(&mut Options::default(), &missing).unwrap_err();
        assert!(
            matches!(&e, ConfigError::Io { path, .. } if *path == missing),
            "{e:?}"
        );
        assert!(std::error::Error::source(&e).is_some());
        let path = dir.join("x.conf");
        std::fs::write(&path, "port: 1\nport: \"x\"\n").unwrap();
        let e = apply_file(&mut Options::default(), &path).unwrap_err();
        let expected = format!(
            "{}:2: port: expected an integer, got string \"x\"",
            path.display()
        );
        assert_eq!(e.to_string(), expected);
        std::fs::write(&path, "port: 4333\ncluster { port: 6222 }\n").unwrap();
        let mut o = Options::default();
        let warnings = apply_file_with_warnings(&mut o, &path).unwrap();
        assert_eq!(o.port, 4333);
        let expected = format!(
            "{}:2: \"cluster\" ignored: not supported by the bundled broker",
            path.display()
        );
        assert_eq!(warnings, [expected]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn apply_is_all_or_nothing() {
        let mut o = Options::ephemeral();
        let before = format!("{o:?}");
        assert!(apply(&mut o, "port: 4999\nserver_name: x\nbogus: 1").is_err());
        assert_eq!(format!("{o:?}"), before);
        apply(&mut o, "port: 4999\nserver_name: x").unwrap();
        assert_eq!((o.port, o.server_name.as_deref()), (4999, Some("x")));
        assert_eq!(o.host, "127.0.0.1", "keys not in the file keep their value");
    }

    #[test]
    fn syntax_error_lines() {
        let cases = [
            ("port: 1\nserver_name:\n", 2),
            ("port: 1\n\nk: [a\n", 4),
            ("a: 1\nb { c: 1\n  d: 2 e }\n", 3),
            ("a: 1\n= 5\n", 2),
            ("a: 1\nb: 1.2.3.x\n", 2),
        ];
        for (text, line) in cases {
            let e = error(text);
            assert!(matches!(e, ConfigError::Syntax { .. }), "{text:?}: {e:?}");
            assert_eq!(e.line(), Some(line), "{text:?}: {e}");
            assert!(e.to_string().starts_with(&format!("line {line}: ")), "{e}");
        }
    }

    /// The 3-node clustering example of NATS-REFERENCE §6, one node's file.
    #[test]
    fn clustering_example() {
        let text = "port: 4222\n\ncluster {\n  name: prod\n  listen: 0.0.0.0:6222\n  \
                    routes: [nats://n1:6222, nats://n2:6222, nats://n3:6222]\n}\n";
        let (o, w) = load(text).unwrap();
        assert_eq!(o.port, 4222);
        assert_eq!(
            w,
            ["line 3: \"cluster\" ignored: not supported by the bundled broker"]
        );
    }

    /// A full configuration in the style of the nats-server documentation.
    #[test]
    fn realistic_full_config() {
        let text = r#"
# Client port of 4222 on all interfaces
listen: 0.0.0.0:4242

# HTTP monitoring port
http: "127.0.0.1:8222"
server_name: "dev-nats"

# Limits
max_connections: 1000
max_control_line: 2KB
max_payload: 2MB
max_pending: 32MB
ping_interval: "1m"
ping_max: 3
write_deadline: "2s"

debug:   false
trace:   false
logtime: true
log_file: "/tmp/nats-server.log"
pid_file: "/tmp/nats-server.pid"

authorization {
  ADMIN_PASS: "pAss"
  users = [
    {user: admin,  password: $ADMIN_PASS}
    {user: client, password: "c1ient", permissions: {publish: "req.>", subscribe: "_INBOX.>"}}
  ]
  timeout: 2.5
}

tls {
  cert_file: "./certs/server.pem"
  key_file:  "./certs/server-key.pem"
  timeout:   2
}

jetstream {
  store_dir: "/tmp/js"
  max_mem: 1G
  max_file: 10G
}

cluster {
  name: "dev"
  listen: 0.0.0.0:6222
  authorization { user: route, password: r0ute, timeout: 0.5 }
  routes = [
    nats-route://route:r0ute@127.0.0.1:6223
  ]
}
"#;
        let (o, w) = load(text).unwrap();
        assert_eq!((o.host.as_str(), o.port), ("0.0.0.0", 4242));
        assert_eq!(
            (o.http_host.as_str(), o.http_port),
            ("127.0.0.1", Some(8222))
        );
        assert_eq!(o.server_name.as_deref(), Some("dev-nats"));
        assert_eq!(o.max_connections, 1000);
        assert_eq!(o.max_control_line, 2048);
        assert_eq!(o.max_payload, 2 << 20);
        assert_eq!(o.max_pending, 32 << 20);
        assert_eq!(o.ping_interval, Duration::from_secs(60));
        assert_eq!(o.ping_max, 3);
        assert_eq!(o.write_deadline, Duration::from_secs(2));
        assert!(!o.debug && !o.trace);
        assert_eq!(o.log_file.as_deref(), Some("/tmp/nats-server.log"));
        assert_eq!(o.pid_file.as_deref(), Some("/tmp/nats-server.pid"));
        let users: Vec<(&str, &str)> = o
            .auth
            .users
            .iter()
            .map(|u| (u.user.as_str(), u.password.as_str()))
            .collect();
        assert_eq!(users, [("admin", "pAss"), ("client", "c1ient")]);
        assert_eq!(o.auth_timeout, Duration::from_millis(2500));
        let ignored: Vec<&str> = w.iter().filter_map(|w| w.split('"').nth(1)).collect();
        assert_eq!(
            ignored,
            [
                "logtime",
                "authorization.users.permissions",
                "tls",
                "jetstream",
                "cluster"
            ]
        );
    }

    #[test]
    fn error_display() {
        let e = ConfigError::Syntax {
            line: 4,
            message: "boom".into(),
        };
        assert_eq!(e.to_string(), "line 4: boom");
        let e = ConfigError::InFile {
            path: PathBuf::from("a.conf"),
            source: Box::new(ConfigError::BadValue {
                line: 2,
                key: "port".into(),
                message: "bad".into(),
            }),
        };
        assert_eq!(e.to_string(), "a.conf:2: port: bad");
        let nested = ConfigError::InFile {
            path: PathBuf::from("outer.conf"),
            source: Box::new(e),
        };
        assert_eq!(
            nested.to_string(),
            "a.conf:2: port: bad",
            "the innermost file is named"
        );
    }
}
