//! A subscription's seat rules (`GitlabSubscription`): which subscriptions count as paid,
//! and when an update starts counting seats afresh.

use chrono::Utc;
use gl_model::{GitlabSubscription, gitlab_timestamp};

use crate::plans::Plan;

/// `has_a_paid_hosted_plan?`: a known paid plan with seats, not on trial. Only these show
/// their stored seat statistics and owe seats.
pub(crate) fn paid(subscription: &GitlabSubscription) -> bool {
    !subscription.trial
        && subscription.seats > 0
        && subscription
            .plan_code
            .as_deref()
            .and_then(Plan::find)
            .is_some_and(Plan::paid_hosted)
}

/// `reset_seat_statistics` on update: a paid subscription starting a new term (start and end
/// both move, the new start on or after the old end, or there was no end), or leaving its
/// trial, starts counting seats afresh from the namespace's billable members now. GitLab's
/// rules around `max_seats_used_changed_at` and the `ultimate_trial_paid_customer` plan are
/// not mirrored.
pub(crate) fn reset_seats_on_new_term(
    old: &GitlabSubscription,
    new: &mut GitlabSubscription,
    billable_members: i64,
) {
    if !paid(new) {
        return;
    }
    let new_term = old.start_date != new.start_date
        && old.end_date != new.end_date
        && old.end_date.is_none_or(|end| new.start_date >= end);
    let trial_ended = old.trial && !new.trial;
    if new_term || trial_ended {
        new.max_seats_used = billable_members;
        new.seats_in_use = billable_members;
        new.max_seats_used_changed_at = Some(gitlab_timestamp(Utc::now()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    fn premium() -> GitlabSubscription {
        GitlabSubscription {
            namespace_id: 10,
            plan_code: Some("premium".to_owned()),
            seats: 10,
            seats_in_use: 4,
            max_seats_used: 12,
            start_date: date("2026-01-01"),
            end_date: Some(date("2027-01-01")),
            auto_renew: None,
            trial: false,
            trial_starts_on: None,
            trial_ends_on: None,
            trial_extension_type: None,
            max_seats_used_changed_at: None,
            created_at: String::new(),
            updated_at: String::new(),
            version: 1,
        }
    }

    #[test]
    fn a_new_term_resets_seats_a_moved_end_date_does_not() {
        let old = premium();
        let mut extended = old.clone();
        extended.end_date = Some(date("2027-06-01"));
        reset_seats_on_new_term(&old, &mut extended, 3);
        assert_eq!(extended.max_seats_used, 12);

        let mut renewed = old.clone();
        renewed.start_date = date("2027-01-01");
        renewed.end_date = Some(date("2028-01-01"));
        reset_seats_on_new_term(&old, &mut renewed, 3);
        assert_eq!((renewed.max_seats_used, renewed.seats_in_use), (3, 3));

        // Overlapping terms are no new term.
        let mut overlapping = old.clone();
        overlapping.start_date = date("2026-06-01");
        overlapping.end_date = Some(date("2027-06-01"));
        reset_seats_on_new_term(&old, &mut overlapping, 3);
        assert_eq!(overlapping.max_seats_used, 12);
    }

    #[test]
    fn leaving_a_trial_resets_seats_and_free_plans_never_do() {
        let mut trial = premium();
        trial.trial = true;
        let mut converted = trial.clone();
        converted.trial = false;
        reset_seats_on_new_term(&trial, &mut converted, 7);
        assert_eq!(converted.max_seats_used, 7);

        let mut free = premium();
        free.plan_code = Some("free".to_owned());
        let mut renewed = free.clone();
        renewed.start_date = date("2027-01-01");
        renewed.end_date = Some(date("2028-01-01"));
        reset_seats_on_new_term(&free, &mut renewed, 7);
        assert_eq!(renewed.max_seats_used, 12);
    }

    #[test]
    fn paid_means_a_known_paid_plan_with_seats_off_trial() {
        assert!(paid(&premium()));
        let mut no_seats = premium();
        no_seats.seats = 0;
        assert!(!paid(&no_seats));
        let mut unknown = premium();
        unknown.plan_code = Some("platinum".to_owned());
        assert!(!paid(&unknown));
    }
}
