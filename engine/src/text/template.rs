//! `{{placeholder}}` texts: the names a text uses and the renderer the send path uses for
//! templates and per-contact personalisation.

use std::collections::BTreeSet;

/// The distinct placeholder names of `content`, in order of first use.
pub fn variables(content: &str) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut names = Vec::new();
    let mut rest = content;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        let name = after[..end].trim();
        if !name.is_empty() && seen.insert(name.to_string()) {
            names.push(name.to_string());
        }
        rest = &after[end + 2..];
    }
    names
}

/// Fills every `{{name}}` from `value`; the first name it cannot fill is the error.
pub fn render(content: &str, value: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(content.len());
    let mut rest = content;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        out.push_str(&rest[..start]);
        let name = after[..end].trim();
        match value(name) {
            Some(filled) => out.push_str(&filled),
            None => return Err(name.to_string()),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_found_once_each_and_trimmed() {
        assert_eq!(
            variables("Hi {{ name }}, your code is {{code}}. Bye {{name}}!"),
            ["name", "code"]
        );
        assert!(variables("no placeholders {{ }} or {{unclosed").is_empty());
    }

    #[test]
    fn render_fills_or_names_the_missing_variable() {
        let value = |name: &str| (name == "name").then(|| "Ama".to_string());
        assert_eq!(
            render("Hi {{name}}, welcome!", value).as_deref(),
            Ok("Hi Ama, welcome!")
        );
        assert_eq!(
            render("Hi {{name}} {{code}}", value),
            Err("code".to_string())
        );
        assert_eq!(render("{{unclosed", value).as_deref(), Ok("{{unclosed"));
    }
}
