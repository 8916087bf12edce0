//! GitLab's hosted plans (`ee/app/models/ee/plan.rb`): names, titles, and the lists the
//! subscription entity's flags are read from.

/// `Plan::PLAN_TITLES`... as `plan_name => title` (`Plan#title`).
const PLANS: &[(&str, &str)] = &[
    ("default", "Default"),
    ("free", "Free"),
    ("bronze", "Bronze"),
    ("silver", "Silver"),
    ("premium", "Premium"),
    ("gold", "Gold"),
    ("ultimate", "Ultimate"),
    ("ultimate_trial", "Ultimate Trial"),
    (
        "ultimate_trial_paid_customer",
        "Ultimate Trial for Premium Customers",
    ),
    ("premium_trial", "Premium Trial"),
    ("opensource", "Open Source Program"),
];

/// `Plan::PAID_HOSTED_PLANS`.
const PAID_HOSTED: &[&str] = &[
    "bronze",
    "silver",
    "premium",
    "gold",
    "ultimate",
    "ultimate_trial",
    "ultimate_trial_paid_customer",
    "premium_trial",
    "opensource",
];

/// `Plan::TOP_PLANS`: nothing to upgrade to.
const TOP: &[&str] = &["gold", "ultimate"];

/// Plans whose namespaces do not bill guests (Ultimate and its equivalents).
const EXCLUDING_GUESTS: &[&str] = &[
    "gold",
    "ultimate",
    "ultimate_trial",
    "ultimate_trial_paid_customer",
    "opensource",
];

/// A plan GitLab knows, by name; `None` for any other code (GitLab stores no plan then).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub name: &'static str,
    pub title: &'static str,
}

impl Plan {
    pub fn find(code: &str) -> Option<Self> {
        PLANS
            .iter()
            .find(|(name, _)| *name == code)
            .map(|&(name, title)| Self { name, title })
    }

    pub fn paid_hosted(self) -> bool {
        PAID_HOSTED.contains(&self.name)
    }

    pub fn top(self) -> bool {
        TOP.contains(&self.name)
    }

    pub fn excludes_guests(self) -> bool {
        EXCLUDING_GUESTS.contains(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_by_name_with_their_titles() {
        assert_eq!(Plan::find("premium").map(|p| p.title), Some("Premium"));
        assert_eq!(Plan::find("free").map(|p| p.title), Some("Free"));
        assert_eq!(Plan::find("Premium"), None);
        assert!(Plan::find("ultimate").unwrap().top());
        assert!(!Plan::find("free").unwrap().paid_hosted());
        assert!(Plan::find("bronze").unwrap().paid_hosted());
    }
}
