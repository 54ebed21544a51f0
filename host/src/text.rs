//! Text that crosses into lmi (from a provider, a service, a manifest, a plugin's error) made
//! fit for a terminal line or a log: no control characters (C0, C1), no bidirectional or
//! invisible formatting characters, bounded in length.
//!
//! One rule for every boundary, so an escape sequence (`ESC[2J`, an OSC 52 clipboard write,
//! an OSC 8 link) or a right-to-left override can never reach the user's terminal in lmi's
//! own voice. Plugin stdout is not filtered here: see `docs/security.md`.

/// Characters that must never reach a terminal from untrusted text: every control character
/// (C0, DEL, C1) and the format characters that reorder or hide text (bidi embeddings,
/// overrides and isolates, zero-width characters, the BOM).
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'                  // Arabic letter mark
            | '\u{200B}'..='\u{200F}'   // zero-width space/joiners, LRM, RLM
            | '\u{2028}' | '\u{2029}'   // line and paragraph separators
            | '\u{202A}'..='\u{202E}'   // bidi embeddings and overrides
            | '\u{2060}'..='\u{2069}'   // word joiner, invisible operators, bidi isolates
            | '\u{FEFF}'                // BOM / zero-width no-break space
            | '\u{FFF9}'..='\u{FFFB}' // interlinear annotation
        )
}

/// Quote characters that shells other than POSIX ones treat as string delimiters
/// (PowerShell accepts the typographic single and double quotes as `'` and `"`).
pub fn is_quote_like(c: char) -> bool {
    matches!(
        c,
        '\u{2018}'..='\u{201F}' // ‘ ’ ‚ ‛ “ ” „ ‟
    )
}

/// `text` as one safe line: unsafe characters become spaces, runs of them collapse, the
/// ends are trimmed, and at most `max_chars` characters are kept (an ellipsis marks a cut).
pub fn line(text: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars * 4));
    let mut kept = 0usize;
    let mut pending_space = false;
    for c in text.chars() {
        if is_unsafe_char(c) || c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if kept >= max_chars {
            out.push('…');
            return out;
        }
        if pending_space {
            out.push(' ');
            kept += 1;
            pending_space = false;
        }
        out.push(c);
        kept += 1;
    }
    out
}

/// [`line`], with quote-like characters made a plain `'`: for text that reaches a shell's
/// completion script or candidate list, whose generators escape `'` for their shell but not
/// the typographic quotes PowerShell also ends strings at.
pub fn shell_safe_line(text: &str, max_chars: usize) -> String {
    line(text, max_chars)
        .chars()
        .map(|c| if is_quote_like(c) { '\'' } else { c })
        .collect()
}

/// `url` as an error may show it: whatever sits between `://` and the last `@` of its
/// authority (a user, a token, a password) written `****`.
pub fn without_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://****{}", &rest[at..]),
        None => url.to_owned(),
    }
}

/// `text` with its line structure kept (for multi-line messages such as a plugin's error):
/// unsafe characters other than `\n` and `\t` become spaces, lines are bounded in number and
/// length.
pub fn block(text: &str, max_lines: usize, max_line_chars: usize) -> String {
    let mut lines: Vec<String> = Vec::new();
    for (i, raw) in text.split('\n').enumerate() {
        if i == max_lines {
            lines.push("…".to_owned());
            break;
        }
        let cleaned: String = raw
            .chars()
            .map(|c| if c == '\t' { ' ' } else { c })
            .collect();
        // Keep indentation (backtraces), strip everything else unsafe.
        let indent = cleaned.len() - cleaned.trim_start().len();
        let body = line(&cleaned, max_line_chars);
        lines.push(format!("{}{body}", " ".repeat(indent.min(16))));
    }
    lines.join("\n").trim_end().to_owned()
}

/// The first unsafe character in `text`, for validation messages (`U+001B`).
pub fn first_unsafe(text: &str) -> Option<char> {
    text.chars().find(|&c| is_unsafe_char(c))
}

/// How a character is named in an error message.
pub fn codepoint(c: char) -> String {
    format!("U+{:04X}", c as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_bidi_and_controls_never_survive() {
        let hostile = "ok\u{1b}[2J\u{1b}]52;c;cm0gLXJmIH4=\u{7}\u{9b}31m\u{202e}txt.exe\u{200b}end";
        let clean = line(hostile, 300);
        assert!(!clean.chars().any(is_unsafe_char), "{clean:?}");
        assert!(clean.starts_with("ok"), "{clean}");
        assert!(clean.ends_with("end"), "{clean}");
    }

    #[test]
    fn lines_are_bounded_and_marked_when_cut() {
        assert_eq!(line(&"x".repeat(500), 300).chars().count(), 301);
        assert_eq!(line("  a \n\n b  ", 10), "a b");
    }

    #[test]
    fn blocks_keep_lines_and_indentation_but_not_escapes() {
        let text = "first\u{1b}[31m\n    at frame\n\u{1b}]8;;http://x\u{7}link";
        let clean = block(text, 10, 100);
        assert_eq!(clean.lines().count(), 3);
        assert!(clean.contains("\n    at frame\n"), "{clean:?}");
        assert!(!clean.chars().any(|c| c != '\n' && is_unsafe_char(c)));
        let many = "a\n".repeat(50);
        assert_eq!(block(&many, 5, 10).lines().count(), 6);
    }

    #[test]
    fn quote_likes_are_recognised() {
        for c in ['‘', '’', '‚', '‛', '“', '”', '„'] {
            assert!(is_quote_like(c), "{c}");
        }
        assert!(!is_quote_like('\''));
    }
}
