//! What the GitLab agent server's calls read and keep: agents with their projects, reported
//! configurations and the `user_access` grants derived from them, usage counters, Starboard
//! findings and scans, and scan-execution policies.

use gl_model::seed::SeedWorld;
use gl_model::unique_count;
use gl_model::{
    AccessLevel, Agent, AgentConfiguration, AgentId, GrantTarget, PersonalAccessToken, Project,
    ScanExecutionPolicy, Settings, StarboardFinding, StarboardScan, UsageCounts, User,
    UserAccessGrants, UserId,
};
use serde::{Deserialize, Serialize};

use super::git_access::ProjectQuery;
use super::identity::{
    Route, RouteSource, group_membership_keys, highest_role, project_membership_keys,
};
use super::seed::SeedRecord;
use super::{Repository, decode, put, put_new};
use crate::{Addend, Condition, Item, Key, StoreError, WriteOp, keys};

/// What an agent configuration's `user_access` names, as KAS reported it: the `access_as`
/// slice GitLab keeps, and the project and group full paths (at most 500 of each).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserAccessRequest {
    pub config: serde_json::Map<String, serde_json::Value>,
    pub project_paths: Vec<String>,
    pub group_paths: Vec<String>,
}

/// A personal access token's user and their roles on an agent's `user_access` grants.
#[derive(Debug, Clone, PartialEq)]
pub struct GrantRoles {
    pub user: Option<User>,
    /// In the grants' order.
    pub project_roles: Vec<AccessLevel>,
    pub group_roles: Vec<AccessLevel>,
}

/// Every Starboard finding of an agent, and the agent's last scan.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StarboardFindings {
    pub findings: Vec<StarboardFinding>,
    pub last_scan: Option<StarboardScan>,
}

/// A project's scan-execution policies (`PROJECT#<id>` / `POLICIES`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ProjectPolicies {
    #[serde(default)]
    pub(crate) policies: Vec<ScanExecutionPolicy>,
}

/// One part of an agent's last scan (`AGENT#<id>` / `SCAN#<part>`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ScanPart {
    #[serde(default)]
    uuids: Vec<String>,
    #[serde(default)]
    scanned_at_us: i64,
    /// How many parts the scan that wrote this part had.
    #[serde(default = "one_part")]
    parts: usize,
}

fn one_part() -> usize {
    1
}

/// Kept UUIDs per scan item: 8,000 of 36 bytes (callers keep only hyphenated UUIDs) stay
/// below DynamoDB's 400 KB item limit, and a 4 MiB request body fits in fewer parts than a
/// transaction's 100 items.
const SCAN_UUIDS_PER_PART: usize = 8_000;

/// The attribute of a unique counter's item that holds its observations.
const SKETCH: &str = "observations";

/// Which day's KAS counters a report goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageReport {
    /// `usage_metrics`.
    Metrics,
    /// `agent_events`.
    Events,
}

impl UsageReport {
    fn name(self) -> &'static str {
        match self {
            Self::Metrics => "USAGE",
            Self::Events => "EVENTS",
        }
    }
}

#[derive(Clone, Copy)]
pub struct Kas<'r> {
    pub(super) repo: &'r Repository,
}

impl Kas<'_> {
    /// The agent of this token with the settings, and the project asked about (its own when
    /// `project` is `None`): round 1 reads the token, the settings and the project by id or
    /// its route; round 2 the project itself when round 1 only found where it is.
    pub async fn agent_with_project(
        self,
        token_digest: &str,
        project: Option<&ProjectQuery>,
    ) -> Result<(Option<Agent>, Option<Project>, Settings), StoreError> {
        let mut first = vec![keys::agent_token(token_digest)];
        match project {
            Some(ProjectQuery::Id(id)) => first.push(keys::project(*id)),
            Some(ProjectQuery::FullPath(path)) => first.push(keys::route(path)),
            _ => {}
        }
        let (found, settings) = self.repo.get_many_with_settings(&first).await?;
        let agent: Option<Agent> = decode(found[0].as_ref())?;
        let Some(agent) = agent.filter(|agent| !agent.revoked) else {
            return Ok((None, None, settings));
        };
        let project_id = match project {
            None => Some(agent.project_id),
            Some(ProjectQuery::Id(_)) => {
                let project = decode(found[1].as_ref())?;
                return Ok((Some(agent), project, settings));
            }
            Some(ProjectQuery::FullPath(_)) => decode::<Route>(found[1].as_ref())?
                .and_then(Route::project)
                .map(|(id, _)| id),
            Some(ProjectQuery::Nothing | ProjectQuery::RepositoryPath(_)) => None,
        };
        let project = match project_id {
            Some(id) => self.repo.get(keys::project(id)).await?,
            None => None,
        };
        Ok((Some(agent), project, settings))
    }

    /// Adds counters to the day's totals and unique-counter ids to the day's sketches, in one
    /// transaction of atomic adds (a number to a counter, a set union to a sketch), so
    /// concurrent reports never lose each other's counts and no item grows past a bound.
    pub async fn record_usage(
        self,
        report: UsageReport,
        day: &str,
        counters: Vec<(String, i64)>,
        uniques: Vec<(String, Vec<i64>)>,
    ) -> Result<(), StoreError> {
        let add = |add: Vec<(String, Addend)>, key: Key| WriteOp::Update {
            key,
            add,
            set: Vec::new(),
            set_if_absent: Vec::new(),
            condition: Condition::None,
        };
        let mut ops = Vec::new();
        if !counters.is_empty() {
            let counters = counters.into_iter().map(|(n, v)| (n, v.into())).collect();
            ops.push(add(counters, keys::kas_counters(report.name(), day)));
        }
        for (name, ids) in uniques {
            let observations = unique_count::observations(&ids);
            if !observations.is_empty() {
                let key = keys::kas_unique_counter(report.name(), day, &name);
                let sketch = vec![(SKETCH.to_owned(), Addend::NumberSet(observations))];
                ops.push(add(sketch, key));
            }
        }
        if ops.is_empty() {
            return Ok(());
        }
        self.repo.write(ops).await
    }

    /// The day's recorded totals and estimated unique counts, for tests and operators.
    pub async fn usage(self, report: UsageReport, day: &str) -> Result<UsageCounts, StoreError> {
        let prefix = keys::kas_unique_counters_sk_prefix(report.name(), day);
        let (counters, sketches) = futures_util::future::try_join(
            self.repo.get_item(keys::kas_counters(report.name(), day)),
            self.repo.query_all(keys::KAS_METRICS_PARTITION, &prefix),
        )
        .await?;
        let mut usage = UsageCounts::default();
        for (name, value) in counters.map(|item| item.attrs).unwrap_or_default() {
            if let Some(count) = value.as_i64() {
                usage.counts.insert(name, count);
            }
        }
        for sketch in sketches {
            let name = sketch.key.sk[prefix.len()..].to_owned();
            let observations = sketch
                .attrs
                .get(SKETCH)
                .and_then(serde_json::Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(serde_json::Value::as_i64);
            usage
                .uniques
                .insert(name, unique_count::estimate(observations));
        }
        Ok(usage)
    }

    /// Keeps the configuration KAS reports and refreshes the agent's `user_access` grants from
    /// it, as `UserAccess::RefreshService` does: the named projects and groups that exist
    /// under the agent's root namespace (groups only when that root is a group). Round 1 reads
    /// the agent and every named route; round 2 writes. `false` when there is no such agent.
    pub async fn refresh_agent_configuration(
        self,
        agent_id: AgentId,
        config: &serde_json::Value,
        user_access: UserAccessRequest,
    ) -> Result<bool, StoreError> {
        let mut wanted = vec![keys::agent(agent_id)];
        wanted.extend(
            user_access
                .project_paths
                .iter()
                .chain(&user_access.group_paths)
                .map(|path| keys::route(path)),
        );
        let found = self.repo.get_many(&wanted).await?;
        let Some(agent) = decode::<Agent>(found[0].as_ref())? else {
            return Ok(false);
        };
        if agent.root_namespace_id.is_none() {
            tracing::warn!(
                agent_id,
                "agent stored without its root namespace (imported before grants were kept); its user_access grants stay empty until it is imported again"
            );
        }
        let routes: Vec<Option<Route>> = found[1..]
            .iter()
            .map(|item| decode(item.as_ref()))
            .collect::<Result<_, _>>()?;
        let (project_routes, group_routes) = routes.split_at(user_access.project_paths.len());
        let targets = |routes: &[Option<Route>], source_type: RouteSource| {
            let mut targets: Vec<GrantTarget> = Vec::new();
            for route in routes.iter().flatten() {
                let under_root = route.source_type == source_type
                    && agent.root_namespace_id.is_some()
                    && route.namespace_ancestor_ids.last().copied() == agent.root_namespace_id;
                if under_root && !targets.iter().any(|t| t.id == route.source_id) {
                    targets.push(GrantTarget {
                        id: route.source_id,
                        namespace_ancestor_ids: route.namespace_ancestor_ids.clone(),
                    });
                }
            }
            targets
        };
        let record = AgentConfiguration {
            agent_id,
            agent_config: config.clone(),
            user_access: UserAccessGrants {
                config: user_access.config,
                projects: targets(project_routes, RouteSource::Project),
                // Only group routes carry a chain, so a personal namespace is never a group
                // grant, and a group under the root means the root is a group.
                groups: targets(group_routes, RouteSource::Namespace),
            },
            updated_at: gl_model::gitlab_timestamp(chrono::Utc::now()),
        };
        self.repo
            .write(vec![put(Item::new(
                keys::agent_configuration(agent_id),
                &record,
            ))])
            .await?;
        Ok(true)
    }

    pub async fn agent_configuration(
        self,
        agent_id: AgentId,
    ) -> Result<Option<AgentConfiguration>, StoreError> {
        self.repo.get(keys::agent_configuration(agent_id)).await
    }

    /// The personal access token by digest (when one was given), the agent, and the agent's
    /// `user_access` grants, in one round trip.
    pub async fn agent_grants_with_token(
        self,
        token_digest: Option<&str>,
        agent_id: AgentId,
    ) -> Result<(Option<PersonalAccessToken>, Option<Agent>, UserAccessGrants), StoreError> {
        let mut wanted = vec![keys::agent(agent_id), keys::agent_configuration(agent_id)];
        wanted.extend(token_digest.map(keys::personal_access_token_digest));
        let found = self.repo.get_many(&wanted).await?;
        let agent = decode(found[0].as_ref())?;
        let grants = decode::<AgentConfiguration>(found[1].as_ref())?
            .map(|configuration| configuration.user_access)
            .unwrap_or_default();
        let token = decode(found.get(2).and_then(Option::as_ref))?;
        Ok((token, agent, grants))
    }

    /// The user, and their role on each granted project and group, memberships inherited down
    /// the namespace chain, in one round trip.
    pub async fn roles_on_grants(
        self,
        user_id: UserId,
        grants: &UserAccessGrants,
    ) -> Result<GrantRoles, StoreError> {
        let mut wanted = vec![keys::user(user_id)];
        let mut spans = Vec::new();
        for project in &grants.projects {
            let start = wanted.len();
            wanted.extend(project_membership_keys(
                project.id,
                &project.namespace_ancestor_ids,
                user_id,
            ));
            spans.push(start..wanted.len());
        }
        for group in &grants.groups {
            let start = wanted.len();
            wanted.extend(group_membership_keys(
                &group.namespace_ancestor_ids,
                user_id,
            ));
            spans.push(start..wanted.len());
        }
        let found = self.repo.get_many(&wanted).await?;
        let user = decode(found[0].as_ref())?;
        let mut project_roles = spans
            .into_iter()
            .map(|span| highest_role(&wanted[span.clone()], &found[span], user_id))
            .collect::<Result<Vec<_>, _>>()?;
        let group_roles = project_roles.split_off(grants.projects.len());
        Ok(GrantRoles {
            user,
            project_roles,
            group_roles,
        })
    }

    /// Creates or refreshes a Starboard finding under its agent; the UUID is the idempotency key.
    pub async fn put_starboard_finding(self, finding: &StarboardFinding) -> Result<(), StoreError> {
        let key = keys::starboard_finding(finding.agent_id, &finding.uuid);
        self.repo.write(vec![put(Item::new(key, finding))]).await
    }

    /// Records an agent's `scan_result`: the finding UUIDs (hyphenated, 36 bytes each) it still
    /// sees, replacing the previous scan in one transaction. Nothing is written onto each
    /// finding (that would need the findings read first, a third round trip).
    pub async fn record_starboard_scan(
        self,
        agent_id: AgentId,
        uuids: &[String],
        scanned_at_us: i64,
    ) -> Result<(), StoreError> {
        let mut kept: Vec<&str> = uuids.iter().map(String::as_str).collect();
        kept.sort_unstable();
        kept.dedup();
        let chunks: Vec<&[&str]> = if kept.is_empty() {
            vec![&[]]
        } else {
            kept.chunks(SCAN_UUIDS_PER_PART).collect()
        };
        let parts = chunks.len();
        let ops = chunks
            .into_iter()
            .enumerate()
            .map(|(part, uuids)| {
                let record = ScanPart {
                    uuids: uuids.iter().map(|uuid| (*uuid).to_owned()).collect(),
                    scanned_at_us,
                    parts,
                };
                put(Item::new(
                    keys::starboard_scan_part(agent_id, part),
                    &record,
                ))
            })
            .collect();
        self.repo.write(ops).await
    }

    /// Every Starboard finding of an agent and its last scan, all pages.
    pub async fn starboard_findings(
        self,
        agent_id: AgentId,
    ) -> Result<StarboardFindings, StoreError> {
        let partition = keys::agent_state_partition(agent_id);
        let (findings, scan) = futures_util::future::try_join(
            self.repo.query_all(&partition, keys::FINDING_PREFIX),
            self.repo.query_all(&partition, keys::SCAN_PREFIX),
        )
        .await?;
        let findings = findings
            .iter()
            .map(Item::decode)
            .collect::<Result<_, _>>()?;
        let parts: Vec<ScanPart> = scan.iter().map(Item::decode).collect::<Result<_, _>>()?;
        let last_scan = parts.first().map(|first| StarboardScan {
            scanned_at_us: first.scanned_at_us,
            // A larger earlier scan may have left parts behind; only this scan's count.
            kept_uuids: parts
                .iter()
                .take(first.parts.max(1))
                .filter(|part| part.scanned_at_us == first.scanned_at_us)
                .flat_map(|part| part.uuids.iter().cloned())
                .collect(),
        });
        Ok(StarboardFindings {
            findings,
            last_scan,
        })
    }

    /// The scan-execution policies of a project.
    pub async fn scan_execution_policies(
        self,
        project_id: gl_model::ProjectId,
    ) -> Result<Vec<ScanExecutionPolicy>, StoreError> {
        let stored: Option<ProjectPolicies> =
            self.repo.get(keys::project_policies(project_id)).await?;
        Ok(stored.map(|stored| stored.policies).unwrap_or_default())
    }
}

/// This part's records of a seed: each project's scan-execution policies.
pub(crate) fn seed_records(world: &SeedWorld) -> Vec<SeedRecord> {
    world
        .scan_execution_policies
        .iter()
        .map(|(project_id, policies)| {
            let record = ProjectPolicies {
                policies: policies.clone(),
            };
            SeedRecord::new(
                format!("project {project_id} scan execution policies"),
                vec![put_new(Item::new(
                    keys::project_policies(*project_id),
                    &record,
                ))],
            )
        })
        .collect()
}
