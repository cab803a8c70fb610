//! Planner lookup by command-line name.

use super::heuristics::{
    BestFit, Coloring, FirstFit, GreedyBreadth, GreedyConflicts, GreedySize, LifetimeAware,
    Matching, Naive,
};
use super::{PlanError, Planner};

/// Every planner name accepted by [`planner_by_name`], heuristics first.
pub fn planner_names() -> &'static [&'static str] {
    &[
        "naive",
        "first-fit",
        "best-fit",
        "greedy-size",
        "greedy-breadth",
        "greedy-conflicts",
        "lifetime-aware",
        "coloring",
        "matching",
        // --- search planners (owned by the search-planner author) ---
        "exact",
        "ilp",
        "hill-climb",
        "auto",
    ]
}

/// Builds the planner called `name`; `UnknownPlanner` lists the known names.
pub fn planner_by_name(name: &str) -> Result<Box<dyn Planner + Send + Sync>, PlanError> {
    Ok(match name {
        "naive" => Box::new(Naive),
        "first-fit" => Box::new(FirstFit),
        "best-fit" => Box::new(BestFit),
        "greedy-size" => Box::new(GreedySize),
        "greedy-breadth" => Box::new(GreedyBreadth),
        "greedy-conflicts" => Box::new(GreedyConflicts),
        "lifetime-aware" => Box::new(LifetimeAware),
        "coloring" => Box::new(Coloring),
        "matching" => Box::new(Matching),
        // --- search planners (owned by the search-planner author) ---
        "exact" => Box::new(super::ExactPlanner),
        "ilp" => Box::new(super::IlpPlanner),
        "hill-climb" => Box::new(super::HillClimbPlanner),
        "auto" => Box::new(super::AutoPlanner),
        _ => {
            return Err(PlanError::UnknownPlanner(
                name.to_string(),
                planner_names().join(", "),
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_resolves_to_itself() {
        for &name in planner_names() {
            assert_eq!(planner_by_name(name).unwrap().name(), name);
        }
    }

    #[test]
    fn unknown_name_lists_the_known_ones() {
        let err = planner_by_name("magic").err().unwrap();
        let msg = err.to_string();
        assert!(
            msg.contains("`magic`") && msg.contains("greedy-size"),
            "{msg}"
        );
    }
}
