//! Templates for pages and emails: built into the binary, replaceable file by file from a folder,
//! rendered by minijinja (Jinja syntax, HTML escaped in `.html` templates).
//!
//! A set is checked when it is loaded, not when a person first meets it: each template must parse,
//! and each must render against a sample of the values it will be given, with undefined values
//! refused (so `{{ pasword }}` in a replaced file stops Gatehouse at start with the file's name).

use std::collections::BTreeMap;

use minijinja::{Environment, UndefinedBehavior, Value};

/// A template set failed to load: the file, and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {message}")]
pub struct TemplateError {
    pub file: String,
    pub message: String,
}

/// Compiled templates, shared by every request.
#[derive(Debug)]
pub struct TemplateSet {
    env: Environment<'static>,
}

impl TemplateSet {
    /// The `builtin` templates (file name, source), each replaced by the file of the same name in
    /// `overrides` when there is one. An override that names no built-in template is refused: it
    /// would be a misspelt file that silently changes nothing.
    pub fn load(
        builtin: &[(&'static str, &'static str)],
        overrides: BTreeMap<String, String>,
        globals: &[(&'static str, Value)],
    ) -> Result<Self, TemplateError> {
        let known: Vec<&str> = builtin.iter().map(|(name, _)| *name).collect();
        if let Some(unknown) = overrides.keys().find(|name| !known.contains(&name.as_str())) {
            return Err(TemplateError {
                file: unknown.clone(),
                message: format!("is not one of the templates ({})", known.join(", ")),
            });
        }
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // A template's last newline is part of the file, not of the output.
        env.set_keep_trailing_newline(false);
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_formatter(escape_html_minimally);
        for (name, value) in globals {
            env.add_global(*name, value.clone());
        }
        let mut overrides = overrides;
        for (name, source) in builtin {
            let source = overrides.remove(*name).unwrap_or_else(|| (*source).to_owned());
            env.add_template_owned(*name, source).map_err(|error| describe(name, &error))?;
        }
        Ok(Self { env })
    }

    /// Renders `name` with `context`; an error names the template and the line.
    pub fn render(&self, name: &str, context: Value) -> Result<String, TemplateError> {
        let template = self.env.get_template(name).map_err(|error| describe(name, &error))?;
        template.render(context).map_err(|error| describe(name, &error))
    }

    /// Renders every template in `samples` once, so a template that needs a value it will not be
    /// given fails now rather than in front of a person.
    pub fn check(&self, samples: &[(impl AsRef<str>, Value)]) -> Result<(), TemplateError> {
        for (name, context) in samples {
            self.render(name.as_ref(), context.clone())?;
        }
        Ok(())
    }
}

/// minijinja's HTML escaping also writes `/` as `&#x2f;`, which is valid but makes every URL in a
/// page or an email unreadable in its source; the five characters that matter are enough.
fn escape_html_minimally(
    out: &mut minijinja::Output<'_>,
    state: &minijinja::State<'_, '_>,
    value: &Value,
) -> Result<(), minijinja::Error> {
    if !matches!(state.auto_escape(), minijinja::AutoEscape::Html) || value.is_safe() || value.is_none() {
        return minijinja::escape_formatter(out, state, value);
    }
    let text = value.to_string();
    let mut escaped = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    out.write_str(&escaped)
        .map_err(|error| minijinja::Error::new(minijinja::ErrorKind::WriteFailure, error.to_string()))
}

fn describe(name: &str, error: &minijinja::Error) -> TemplateError {
    let mut message = error.to_string();
    if let Some(line) = error.line() {
        message = format!("line {line}: {message}");
    }
    TemplateError { file: name.to_owned(), message }
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::context;

    const BUILTIN: &[(&str, &str)] = &[("hello.html", "Hello {{ name }}!"), ("hello.txt", "Hello {{ name }}!")];

    #[test]
    fn html_is_escaped_and_text_is_not() {
        let set = TemplateSet::load(BUILTIN, BTreeMap::new(), &[]).expect("valid");
        assert_eq!(set.render("hello.html", context! { name => "<Ada>" }).expect("renders"), "Hello &lt;Ada&gt;!");
        let url = "https://example.com/a?b=1&c='2'";
        assert_eq!(
            set.render("hello.html", context! { name => url }).expect("renders"),
            "Hello https://example.com/a?b=1&amp;c=&#39;2&#39;!"
        );
        assert_eq!(set.render("hello.txt", context! { name => "<Ada>" }).expect("renders"), "Hello <Ada>!");
    }

    #[test]
    fn an_override_replaces_one_file_and_a_broken_or_unknown_one_is_refused() {
        let overrides = BTreeMap::from([("hello.txt".to_owned(), "Hi {{ name }}".to_owned())]);
        let set = TemplateSet::load(BUILTIN, overrides, &[]).expect("valid");
        assert_eq!(set.render("hello.txt", context! { name => "Ada" }).expect("renders"), "Hi Ada");
        assert_eq!(set.render("hello.html", context! { name => "Ada" }).expect("renders"), "Hello Ada!");

        let broken = BTreeMap::from([("hello.html".to_owned(), "{% if %}".to_owned())]);
        let error = TemplateSet::load(BUILTIN, broken, &[]).expect_err("syntax error");
        assert_eq!(error.file, "hello.html");

        let unknown = BTreeMap::from([("helo.html".to_owned(), "x".to_owned())]);
        assert!(TemplateSet::load(BUILTIN, unknown, &[]).expect_err("unknown file").message.contains("hello.html"));
    }

    #[test]
    fn an_undefined_value_fails_the_check() {
        let overrides = BTreeMap::from([("hello.txt".to_owned(), "Hi {{ pasword }}".to_owned())]);
        let set = TemplateSet::load(BUILTIN, overrides, &[]).expect("parses");
        let error = set.check(&[("hello.txt", context! { name => "Ada" })]).expect_err("undefined");
        assert_eq!(error.file, "hello.txt");
    }
}
