//! A filter's tokens: words, operators, quoted texts and numbers, each with the character it
//! starts at.

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// SQL `LIKE` (`%` any text, `_` one character), case-sensitive.
    Like,
    /// `LIKE`, ignoring ASCII case.
    ILike,
}

/// A problem in a filter or sort: what, and where.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterError {
    /// The character (0-based) the bad token starts at.
    pub at: usize,
    pub token: String,
    pub message: String,
}

impl std::fmt::Display for FilterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.token.is_empty() {
            write!(f, "at character {}: {}", self.at, self.message)
        } else {
            let (at, token, message) = (self.at, &self.token, &self.message);
            write!(f, "at character {at}, '{token}': {message}")
        }
    }
}

pub(super) fn error(at: usize, token: &str, message: impl Into<String>) -> FilterError {
    FilterError {
        at,
        token: token.to_string(),
        message: message.into(),
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Token {
    Word(String),
    Op(Op),
    Text(String),
    Number(f64),
}

/// Splits a filter into tokens with the character each starts at.
pub(super) fn tokens(src: &str) -> Result<Vec<(usize, Token)>, FilterError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let token = if c == '\'' || c == '"' {
            let (text, end) = quoted(&chars, i)?;
            i = end;
            Token::Text(text)
        } else if c.is_ascii_digit()
            || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            i += 1;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '.' | '-' | '+'))
            {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            let number = text.parse::<f64>().ok().filter(|n| n.is_finite());
            Token::Number(number.ok_or_else(|| error(start, &text, "not a number"))?)
        } else if c.is_ascii_alphabetic() || c == '_' {
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '_' | '.' | '-'))
            {
                i += 1;
            }
            Token::Word(chars[start..i].iter().collect())
        } else {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let (op, len) = match (two.as_str(), c) {
                ("!=" | "<>", _) => (Op::Ne, 2),
                ("<=", _) => (Op::Le, 2),
                (">=", _) => (Op::Ge, 2),
                ("==", _) => (Op::Eq, 2),
                (_, '=') => (Op::Eq, 1),
                (_, '<') => (Op::Lt, 1),
                (_, '>') => (Op::Gt, 1),
                _ => return Err(error(start, &c.to_string(), "unexpected character")),
            };
            i += len;
            Token::Op(op)
        };
        out.push((start, token));
    }
    Ok(out)
}

/// A string in `'…'` or `"…"` (the quote doubled inside), and the index after it.
fn quoted(chars: &[char], start: usize) -> Result<(String, usize), FilterError> {
    let quote = chars[start];
    let mut text = String::new();
    let mut i = start + 1;
    loop {
        match chars.get(i) {
            None => {
                return Err(error(
                    start,
                    &quote.to_string(),
                    "a string that is never closed",
                ));
            }
            Some(&c) if c == quote && chars.get(i + 1) == Some(&quote) => {
                text.push(quote);
                i += 2;
            }
            Some(&c) if c == quote => return Ok((text, i + 1)),
            Some(&c) => {
                text.push(c);
                i += 1;
            }
        }
    }
}
