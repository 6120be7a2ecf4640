//! Topic decisions that stick: rejecting a gap (or a proposal) at the topic
//! level records an exclusion with the topic's production inputs as exemplars,
//! and rejects the topic's pending proposals with the same reason. Later runs
//! propose nothing inside it and show its gap as excluded, not as new
//! (`jobs::run::semantic`). An exclusion can be listed and lifted.

use std::collections::HashSet;

use super::{check_reviewer, resolve, ReviewError, Selection};
use crate::store::{
    DecideOutcome, Decision, ExclusionScope, NewExclusion, ProposalFilter, ProposalStatus,
    ReviewAction, Store, TopicExclusion,
};

/// Most exemplars an exclusion keeps (the gap's members beyond these add
/// little: every run embeds them, through the cache).
pub const MAX_EXEMPLARS: usize = 300;

/// What excluding a topic did.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ExcludeOutcome {
    pub exclusion: TopicExclusion,
    /// The topic's pending proposals, rejected with the exclusion's reason.
    pub rejected: DecideOutcome,
}

/// Excludes the topic of `selection`: a gap (`Selection::Cluster`, whose
/// cluster id is the stable gap id) or the gap of the selected proposals
/// (when they share one; otherwise the proposals alone are the topic).
pub async fn exclude_topic(
    store: &Store,
    selection: &Selection,
    scope: ExclusionScope,
    reason: &str,
    decided_by: &str,
) -> Result<ExcludeOutcome, ReviewError> {
    let by = check_reviewer(decided_by)?;
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(ReviewError::Invalid("reason must not be empty".into()));
    }
    let (job, gap_id, mut chosen) = match selection {
        Selection::Cluster {
            job, cluster_id, ..
        } => (job.clone(), Some(*cluster_id), Vec::new()),
        Selection::Job(_) => {
            return Err(ReviewError::Invalid(
                "name the topic: a gap (cluster) or proposals".into(),
            ))
        }
        Selection::Ids(_) => {
            let mut ps = Vec::new();
            for id in resolve(store, selection).await? {
                ps.push(store.get_proposal(id).await?);
            }
            let jobs: HashSet<&str> = ps.iter().map(|p| p.job.as_str()).collect();
            if jobs.len() > 1 {
                return Err(ReviewError::Invalid(
                    "the proposals come from several jobs; exclude one job's topic at a time"
                        .into(),
                ));
            }
            let gaps: HashSet<Option<i64>> = ps.iter().map(|p| p.cluster_id).collect();
            let gap = if gaps.len() == 1 {
                ps[0].cluster_id
            } else {
                None
            };
            (ps[0].job.clone(), gap, ps)
        }
    };
    if let Some(g) = gap_id {
        chosen.extend(
            store
                .list_proposals(&ProposalFilter {
                    job: Some(job.clone()),
                    cluster_id: Some(g),
                    ..ProposalFilter::default()
                })
                .await?,
        );
    }
    let known = match gap_id {
        Some(g) => store
            .known_gaps(&job)
            .await?
            .into_iter()
            .find(|k| k.id == g),
        None => None,
    };
    if chosen.is_empty() && known.is_none() {
        return Err(ReviewError::Invalid(format!(
            "job {job} has no gap {} and no proposals in it",
            gap_id.unwrap_or_default()
        )));
    }
    let golden_set = match chosen.first() {
        Some(p) => p.golden_set.clone(),
        None => store
            .list_proposals(&ProposalFilter {
                job: Some(job.clone()),
                limit: Some(1),
                ..ProposalFilter::default()
            })
            .await?
            .first()
            .map(|p| p.golden_set.clone())
            .unwrap_or_default(),
    };
    let mut exemplars: Vec<String> = chosen.iter().map(|p| p.input.clone()).collect();
    if let Some(k) = &known {
        let ids: Vec<String> = k.members.iter().take(MAX_EXEMPLARS).cloned().collect();
        exemplars.extend(store.trace_inputs_by_external_ids(&ids).await?);
    }
    let mut seen = HashSet::new();
    exemplars.retain(|t| !t.trim().is_empty() && seen.insert(t.clone()));
    exemplars.truncate(MAX_EXEMPLARS);
    let label = known
        .as_ref()
        .map(|k| k.label.clone())
        .or_else(|| chosen.iter().find_map(|p| p.cluster_label.clone()))
        .filter(|l| !l.is_empty())
        .unwrap_or_else(|| exemplars.first().cloned().unwrap_or_default());
    let exclusion = store
        .add_exclusion(&NewExclusion {
            job: job.clone(),
            golden_set,
            gap_id,
            label,
            scope,
            reason: reason.to_string(),
            exemplars,
            created_by: by.clone(),
        })
        .await?;
    let pending: Vec<Decision> = chosen
        .iter()
        .filter(|p| p.status == ProposalStatus::Pending.as_str())
        .map(|p| p.id)
        .collect::<std::collections::BTreeSet<i64>>()
        .into_iter()
        .map(|id| Decision {
            id,
            action: ReviewAction::Reject {
                reason: format!("topic {}: {reason}", scope.words()),
            },
            decided_by: by.clone(),
        })
        .collect();
    let rejected = store.decide_many(&pending).await?;
    Ok(ExcludeOutcome {
        exclusion,
        rejected,
    })
}

/// Lifts exclusion `id`: later runs may propose inside the topic again.
pub async fn lift_exclusion(
    store: &Store,
    id: i64,
    decided_by: &str,
) -> Result<TopicExclusion, ReviewError> {
    let by = check_reviewer(decided_by)?;
    Ok(store.lift_exclusion(id, &by).await?)
}
