//! The `[pages]` settings: whether the hosted pages are served, and how they look.

use std::path::PathBuf;

use gatehouse_core::accounts::EmailAddress;

use super::Reader;

#[derive(Debug, Clone)]
pub struct PagesConfig {
    pub enabled: bool,
    pub templates_dir: Option<PathBuf>,
    pub logo_url: Option<String>,
    /// `#rgb` or `#rrggbb`: checked, since it is written into the stylesheet.
    pub accent_color: String,
    pub support_email: Option<String>,
}

fn is_colour(text: &str) -> bool {
    text.strip_prefix('#').is_some_and(|hex| matches!(hex.len(), 3 | 6) && hex.chars().all(|c| c.is_ascii_hexdigit()))
}

pub(super) fn pages_config(r: &mut Reader) -> Option<PagesConfig> {
    let enabled = r.bool("pages.enabled");
    let templates_dir = r.string("pages.templates_dir").map(PathBuf::from);
    if let Some(dir) = &templates_dir
        && !dir.is_dir()
    {
        r.problem("pages.templates_dir", format!("`{}` is not a folder", dir.display()));
    }
    let logo_url = r.string("pages.logo_url").filter(|url| !url.is_empty());
    if let Some(url) = &logo_url {
        let absolute = url::Url::parse(url).is_ok_and(|parsed| matches!(parsed.scheme(), "https" | "http"));
        let local = url.starts_with('/') && !url.starts_with("//");
        if !(absolute || local) || url.chars().any(|c| c.is_whitespace() || c == '"' || c == ';' || c == '\'') {
            r.problem("pages.logo_url", format!("`{url}` is not an http(s) URL or a path such as /logo.svg"));
        }
    }
    let accent_color = r.string("pages.accent_color").unwrap_or_default();
    if !is_colour(&accent_color) {
        r.problem("pages.accent_color", format!("`{accent_color}` is not a colour such as #2f5bd3"));
    }
    let support_email = r.string("pages.support_email").filter(|email| !email.is_empty());
    if let Some(email) = &support_email
        && EmailAddress::parse(email).is_err()
    {
        r.problem("pages.support_email", format!("`{email}` is not an email address"));
    }
    Some(PagesConfig { enabled: enabled?, templates_dir, logo_url, accent_color, support_email })
}

/// The files of `dir` that may replace built-in page templates, by file name.
pub fn read_overrides(dir: Option<&std::path::Path>) -> anyhow::Result<std::collections::BTreeMap<String, String>> {
    use anyhow::Context as _;
    let mut overrides = std::collections::BTreeMap::new();
    let Some(dir) = dir else { return Ok(overrides) };
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if !path.is_file() {
            continue;
        }
        let Some(name) = path.file_name().and_then(|name| name.to_str()).map(str::to_owned) else { continue };
        // Editors leave backups and dot files beside the templates; only these kinds are read.
        if name.starts_with('.') || !(name.ends_with(".html") || name.ends_with(".css") || name.ends_with(".json")) {
            continue;
        }
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        overrides.insert(name, text);
    }
    Ok(overrides)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_are_hex_only() {
        assert!(is_colour("#2f5bd3") && is_colour("#fff"));
        for bad in ["2f5bd3", "#2f5bd", "red", "#fff;}body{display:none", "#ggg"] {
            assert!(!is_colour(bad), "{bad}");
        }
    }
}
