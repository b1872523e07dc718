//! Splits one configuration line into tokens the way babeld does.
//!
//! Blanks are space, tab and carriage return. `#` outside a quoted string ends the line. A
//! token that starts with `"` is a quoted string that runs to the next unescaped `"` (a
//! backslash takes the next character literally) and may be empty; it is only accepted where
//! babeld reads a string (interface names, file names, `if`). Other tokens run to the next
//! blank or `#`. Like babeld, a token is at most 255 bytes long.

/// Longest token babeld accepts (its buffer is 256 bytes including the terminator).
pub(crate) const MAX_TOKEN: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub text: String,
    pub quoted: bool,
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t' || c == '\r'
}

pub(crate) fn tokenize(line: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.next_if(|&c| is_blank(c)).is_some() {}
        let Some(&c) = chars.peek() else { break };
        if c == '#' {
            break;
        }
        let mut text = String::new();
        let quoted = c == '"';
        if quoted {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err("unterminated quoted string".into()),
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some(e) => text.push(e),
                        None => return Err("unterminated quoted string".into()),
                    },
                    Some(o) => text.push(o),
                }
                if text.len() > MAX_TOKEN {
                    return Err(format!("quoted string longer than {MAX_TOKEN} bytes"));
                }
            }
        } else {
            while let Some(c) = chars.next_if(|&c| !is_blank(c) && c != '#') {
                text.push(c);
                if text.len() > MAX_TOKEN {
                    return Err(format!("word longer than {MAX_TOKEN} bytes"));
                }
            }
        }
        out.push(Token { text, quoted });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<(String, bool)> {
        tokenize(line)
            .unwrap()
            .into_iter()
            .map(|t| (t.text, t.quoted))
            .collect()
    }

    #[test]
    fn blanks_comments_and_quotes() {
        assert_eq!(
            words("  interface\teth0 \r"),
            vec![("interface".into(), false), ("eth0".into(), false)]
        );
        assert_eq!(
            words("debug 1# trailing"),
            vec![("debug".into(), false), ("1".into(), false)]
        );
        assert_eq!(words("# only a comment"), vec![]);
        assert_eq!(
            words(r#"interface "my if\"x" hello-interval 4"#),
            vec![
                ("interface".into(), false),
                ("my if\"x".into(), true),
                ("hello-interval".into(), false),
                ("4".into(), false)
            ]
        );
        assert_eq!(
            words(r#"pid-file "" "#),
            vec![("pid-file".into(), false), ("".into(), true)]
        );
        assert_eq!(words(r#"x "a#b""#)[1], ("a#b".into(), true));
    }

    #[test]
    fn bad_lexemes() {
        assert!(tokenize(r#"interface "eth0"#).is_err());
        assert!(tokenize(r#"interface "eth0\"#).is_err());
        assert!(tokenize(&"a".repeat(256)).is_err());
        assert!(tokenize(&"a".repeat(255)).is_ok());
        assert!(tokenize(&format!("\"{}\"", "a".repeat(256))).is_err());
    }
}
