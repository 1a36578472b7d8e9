//! The `[forward_auth]` settings: the access rules, checked all at once, and the identity headers.

use gatehouse_core::forward_auth::{HostPattern, Requirement, Rule, Rules};

use super::Reader;

#[derive(Debug, Clone)]
pub struct ForwardAuthConfig {
    pub rules: Rules,
    pub user_header: http::HeaderName,
    pub email_header: http::HeaderName,
    pub name_header: http::HeaderName,
    pub session_header: http::HeaderName,
    pub groups_header: http::HeaderName,
    pub workspace_header: http::HeaderName,
}

fn rule(entry: &toml::Value, problems: &mut Vec<String>) -> Option<Rule> {
    let Some(table) = entry.as_table() else {
        problems.push("each rule must be a table".into());
        return None;
    };
    if let Some(unknown) = table.keys().find(|key| !["host", "path", "require", "methods"].contains(&key.as_str())) {
        problems.push(format!("`{unknown}` is not a rule field (host, path, require, methods)"));
    }
    let string = |key: &str, problems: &mut Vec<String>| match table.get(key) {
        None => None,
        Some(toml::Value::String(text)) => Some(text.clone()),
        Some(_) => {
            problems.push(format!("`{key}` must be a string"));
            None
        }
    };
    let host = match string("host", problems) {
        Some(host) => HostPattern::parse(&host).map_err(|error| problems.push(error)).ok(),
        None => {
            problems.push("`host` is required".into());
            None
        }
    };
    let require = match string("require", problems) {
        Some(text) => Requirement::parse(&text).map_err(|error| problems.push(error)).ok(),
        None => {
            problems.push("`require` is required (public, signed_in, verified_email or email_domain:DOMAIN)".into());
            None
        }
    };
    let path = string("path", problems).unwrap_or_else(|| "/".to_owned());
    let methods = match table.get("methods") {
        None => Vec::new(),
        Some(toml::Value::Array(items)) if items.iter().all(toml::Value::is_str) => {
            items.iter().filter_map(toml::Value::as_str).map(str::to_owned).collect()
        }
        Some(_) => {
            problems.push("`methods` must be a list of strings".into());
            Vec::new()
        }
    };
    Rule::new(host?, &path, require?, methods).map_err(|error| problems.push(error)).ok()
}

fn header_name(r: &mut Reader, key: &'static str) -> Option<http::HeaderName> {
    let text = r.string(key).unwrap_or_default();
    match http::HeaderName::from_bytes(text.as_bytes()) {
        Ok(name) => Some(name),
        Err(_) => {
            r.problem(key, format!("`{text}` is not a header name"));
            None
        }
    }
}

pub(super) fn forward_auth_config(r: &mut Reader) -> Option<ForwardAuthConfig> {
    let entries = r.value("forward_auth.rules").and_then(toml::Value::as_array).cloned().unwrap_or_default();
    let mut rules = Vec::new();
    let mut ok = true;
    for (index, entry) in entries.iter().enumerate() {
        let mut problems = Vec::new();
        let parsed = rule(entry, &mut problems);
        for problem in problems {
            r.problem("forward_auth.rules", format!("rule {}: {problem}", index + 1));
            ok = false;
        }
        rules.extend(parsed);
    }
    let rules = match Rules::new(rules) {
        Ok(rules) => Some(rules),
        Err(problem) => {
            r.problem("forward_auth.rules", problem);
            None
        }
    };
    let user_header = header_name(r, "forward_auth.user_header");
    let email_header = header_name(r, "forward_auth.email_header");
    let name_header = header_name(r, "forward_auth.name_header");
    let session_header = header_name(r, "forward_auth.session_header");
    let groups_header = header_name(r, "forward_auth.groups_header");
    let workspace_header = header_name(r, "forward_auth.workspace_header");
    if !ok {
        return None;
    }
    Some(ForwardAuthConfig {
        rules: rules?,
        user_header: user_header?,
        email_header: email_header?,
        name_header: name_header?,
        session_header: session_header?,
        groups_header: groups_header?,
        workspace_header: workspace_header?,
    })
}
