//! `{name}` placeholder templates (`{{` and `}}` are literal braces).

/// Renders `tpl`, asking `lookup` for each placeholder; unknown placeholders stay verbatim.
pub(crate) fn render(tpl: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(tpl.len() + 32);
    let mut rest = tpl;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push_str(&tail[..1]);
            rest = &tail[2..];
        } else if tail.starts_with('{') {
            match tail.find('}') {
                Some(end) => {
                    let key = &tail[1..end];
                    match lookup(key) {
                        Some(v) => out.push_str(&v),
                        None => out.push_str(&tail[..=end]),
                    }
                    rest = &tail[end + 1..];
                }
                None => {
                    out.push_str(tail);
                    rest = "";
                }
            }
        } else {
            out.push('}');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

/// Checks that `tpl` only uses `allowed` placeholders and has balanced braces.
pub(crate) fn check(tpl: &str, allowed: &[&str]) -> Result<(), String> {
    let mut rest = tpl;
    while let Some(i) = rest.find(['{', '}']) {
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            rest = &tail[2..];
        } else if tail.starts_with('{') {
            let end = tail.find('}').ok_or_else(|| "unclosed `{`".to_string())?;
            let key = &tail[1..end];
            if !allowed.contains(&key) {
                return Err(format!(
                    "unknown placeholder {{{key}}} (known: {})",
                    allowed.join(", ")
                ));
            }
            rest = &tail[end + 1..];
        } else {
            return Err("unmatched `}` (write `}}` for a literal brace)".into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_checks() {
        let f = |k: &str| (k == "a").then(|| "X".to_string());
        assert_eq!(render("{a}-{b}-{{a}}", f), "X-{b}-{a}");
        assert!(check("{a} {{b}}", &["a"]).is_ok());
        assert!(check("{b}", &["a"]).is_err());
        assert!(check("{a", &["a"]).is_err());
        assert!(check("a}", &["a"]).is_err());
    }
}
