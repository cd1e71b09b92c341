//! What runs learn from each other (a [`Fix`] per error got past) and what one run shares ([`Ctx`]).

use std::cell::{Cell, RefCell};

use zocket_protocol::{Issue, PathSegment};

use super::MAX_RECORDED;
use super::path::Path;

/// What a run changes, at one path, to get past an error of the run before.
#[derive(Debug)]
pub(super) struct Fix {
    /// The struct for `Required`, the object entry for `Skip`, the value for `Placeholder`.
    pub(super) path: Vec<PathSegment>,
    /// What to do there.
    pub(super) remedy: Remedy,
    /// The issues to record there instead of walking the entry or value (`Skip`, `Placeholder`).
    pub(super) report: Vec<Issue>,
}

/// The ways a run can get past an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Remedy {
    /// Add this missing field to the struct (reported as required), with a placeholder value.
    Required(&'static str),
    /// Skip the object entry.
    Skip,
    /// Give the visitor a placeholder instead of the value.
    Placeholder,
}

/// The state shared by every deserializer of one run.
#[derive(Debug)]
pub(super) struct Ctx {
    /// The fixes learnt from earlier runs.
    pub(super) fixes: Vec<Fix>,
    /// The issues found so far, in the order they were met.
    pub(super) issues: RefCell<Vec<Issue>>,
    /// How many nodes the placeholder being built may still have.
    pub(super) budget: Cell<usize>,
    /// How many JSON values this run has walked.
    pub(super) walked: Cell<usize>,
}

impl Ctx {
    /// Records an issue at `path`.
    pub(super) fn record(&self, path: &Path<'_>, message: impl Into<String>) {
        let mut issues = self.issues.borrow_mut();
        if issues.len() < MAX_RECORDED {
            issues.push(Issue {
                path: path.to_vec(),
                message: message.into(),
            });
        }
    }

    /// If there is a `Skip` or `Placeholder` fix at `path`, records its report and says so.
    pub(super) fn fixed(&self, path: &Path<'_>, remedy: Remedy) -> bool {
        let fix = (self.fixes.iter()).find(|fix| fix.remedy == remedy && path.is(&fix.path));
        if let Some(fix) = fix {
            self.issues.borrow_mut().extend_from_slice(&fix.report);
        }
        fix.is_some()
    }

    /// The missing fields to add to the struct at `path`.
    pub(super) fn required(&self, path: &Path<'_>) -> Vec<&'static str> {
        let fields = self.fixes.iter().filter_map(|fix| match fix.remedy {
            Remedy::Required(field) if path.is(&fix.path) => Some(field),
            _ => None,
        });
        fields.collect()
    }
}
