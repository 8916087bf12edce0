//! `Gitlab::Auth::ExternalUsernameSanitizer`: the GitLab username a SCIM `userName` becomes
//! for a new user, made unique the way `Gitlab::Utils::Uniquify` makes it.

/// Top-level routes GitLab reserves (`Gitlab::PathRegex::TOP_LEVEL_ROUTES`): no namespace,
/// and so no username, may take them.
const RESERVED: &[&str] = &[
    "-",
    ".well-known",
    "404.html",
    "422.html",
    "500.html",
    "502.html",
    "503.html",
    "admin",
    "api",
    "apple-touch-icon.png",
    "assets",
    "dashboard",
    "deploy.html",
    "explore",
    "favicon.ico",
    "favicon.png",
    "files",
    "groups",
    "health_check",
    "help",
    "import",
    "jwt",
    "login",
    "oauth",
    "profile",
    "projects",
    "public",
    "robots.txt",
    "s",
    "search",
    "sitemap",
    "sitemap.xml",
    "sitemap.xml.gz",
    "slash-command-logo.png",
    "snippets",
    "unsubscribes",
    "uploads",
    "users",
    "v2",
];

/// How many candidates a create reads at once: the sanitized name, then with 1, 2, ...
pub const CANDIDATES: usize = 10;

/// The sanitized username, before uniqueness (`Gitlab::Slug::Path#generate`, then the
/// sanitizer's own cleanup).
pub fn sanitize(external: &str) -> String {
    // Slug::Path: an email's domain goes, then every character GitLab paths do not allow.
    let local = external.split('@').next().unwrap_or_default();
    let mut slug: String = local
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        .collect();
    loop {
        let before = slug.len();
        for suffix in [".git", ".atom", "."] {
            if let Some(stripped) = slug.strip_suffix(suffix) {
                slug = stripped.to_owned();
            }
        }
        if slug.len() == before {
            break;
        }
    }
    let slug = slug.trim_start_matches('-');
    let slug = if slug.is_empty() { "blank" } else { slug };
    // The sanitizer: no leading or trailing specials, runs of them collapsed to the first.
    let slug = slug
        .trim_start_matches(['_', '.', '-'])
        .trim_end_matches(['_', '.', '-']);
    let mut sanitized = String::with_capacity(slug.len());
    let mut previous_special = false;
    for c in slug.chars() {
        let special = matches!(c, '_' | '.' | '-');
        if !(special && previous_special) {
            sanitized.push(c);
        }
        previous_special = special;
    }
    sanitized
}

/// `Uniquify#string`: the base, then the base with 1, 2, 3, ... appended.
pub fn candidates(base: &str) -> Vec<String> {
    std::iter::once(base.to_owned())
        .chain((1..CANDIDATES).map(|n| format!("{base}{n}")))
        .collect()
}

/// Whether GitLab would refuse `username` as a namespace path on its own (reserved, or not a
/// valid path), so that `Uniquify` moves on from it.
pub fn refused(username: &str) -> bool {
    RESERVED.contains(&username.to_lowercase().as_str()) || !gl_model::seed::valid_path(username)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitizes_as_gitlabs_specs_show() {
        for (external, sanitized) in [
            ("testy.git", "testy"),
            ("shingo___the...shiba---inu", "shingo_the.shiba-inu"),
            ("___opie.-_!the$_#^^opossum---", "opie.the_opossum"),
            (" --ricky.^#!__the._raccoon--", "ricky.the.raccoon"),
            ("denise^&*the!dhole", "denisethedhole"),
            ("jane.doe@example.com", "jane.doe"),
            ("Apple Mango", "AppleMango"),
            ("@@@", "blank"),
        ] {
            assert_eq!(sanitize(external), sanitized, "{external}");
        }
    }

    #[test]
    fn candidates_count_up_and_reserved_names_are_refused() {
        assert_eq!(candidates("admin")[..3], ["admin", "admin1", "admin2"]);
        assert!(refused("admin"));
        assert!(refused("Users"));
        assert!(!refused("admin1"));
    }
}
