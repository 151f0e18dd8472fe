-- The four core counts of the audit (missing_access, resource_not_found, unverifiable,
-- access_without_assignment), computed by DuckDB straight from a tenant directory's JSON
-- (/work/shared/reference/tenant-dir.md): the end-to-end counterpart of DUCKDB_SQL in run.py,
-- which starts from the stored snapshot's Parquet tables.
--
-- benches/run.py fills the placeholders in braces with read_json(...) calls over the
-- directory's files (or an empty relation when an optional file is absent); each source has
-- one column `value`, the Graph response's list, and the per-resource files also `filename`.
-- The rules mirror src/snapshot/roles.rs (classification), src/snapshot/tenant_dir.rs (read
-- status) and src/snapshot/builder.rs (holdings: principal types, direct tenant-wide
-- directory roles, de-duplication); ids compare lower-cased, states case-insensitively.
WITH
pkg AS (SELECT unnest(value) AS p FROM {packages}),
scopes AS (SELECT lower(p.id) AS access_package_id, unnest(p.resourceRoleScopes) AS s FROM pkg),
classified AS (
    SELECT access_package_id,
           lower(coalesce(s.role.originSystem, s.scope.originSystem)) AS sys,
           s.role.originId AS role_origin,
           s.scope.originId AS scope_origin,
           lower(split_part(s.role.originId, '_', 1)) AS group_kind,
           replace(replace(lower(s.role.originId), ' ', ''), '_', '') AS directory_kind
    FROM scopes),
package_roles AS (
    SELECT DISTINCT access_package_id,
        CASE sys WHEN 'aadgroup' THEN 'group' WHEN 'aadapplication' THEN 'application'
                 WHEN 'sharepointonline' THEN 'sharepoint_site' WHEN 'directoryrole' THEN 'directory_role'
                 ELSE 'other' END AS resource_type,
        CASE WHEN sys IN ('aadgroup', 'aadapplication', 'directoryrole') THEN lower(scope_origin) ELSE scope_origin END AS resource_id,
        CASE sys
            WHEN 'aadgroup' THEN CASE WHEN group_kind IN ('member', 'owner') THEN group_kind ELSE lower(role_origin) END
            WHEN 'aadapplication' THEN lower(role_origin)
            WHEN 'directoryrole' THEN CASE WHEN directory_kind IN ('eligible', 'eligiblemember') THEN 'eligible'
                                           WHEN directory_kind IN ('active', 'activemember') THEN 'active'
                                           ELSE role_origin END
            ELSE role_origin END AS role,
        CASE sys
            WHEN 'aadgroup' THEN CASE group_kind WHEN 'member' THEN 'members' WHEN 'owner' THEN 'owners' ELSE '' END
            WHEN 'aadapplication' THEN 'appRoleAssignedTo'
            WHEN 'directoryrole' THEN CASE WHEN directory_kind IN ('eligible', 'eligiblemember') THEN 'roleEligibilitySchedules'
                                           WHEN directory_kind IN ('active', 'activemember') THEN 'roleAssignments'
                                           ELSE '' END
            ELSE '' END AS "collection"
    FROM classified),
existing_groups AS (SELECT DISTINCT lower(g.id) AS id FROM (SELECT unnest(value) AS g FROM {groups})),
existing_sps AS (SELECT DISTINCT lower(s.id) AS id FROM (SELECT unnest(value) AS s FROM {service_principals})),
resource_status AS (
    SELECT r.resource_type, r.resource_id, r."collection",
        CASE
            WHEN r.resource_type = 'directory_role' AND r."collection" = 'roleAssignments' THEN CASE WHEN {active_recorded} THEN 'complete' ELSE 'unreadable' END
            WHEN r.resource_type = 'directory_role' AND r."collection" = 'roleEligibilitySchedules' THEN CASE WHEN {eligible_recorded} THEN 'complete' ELSE 'unreadable' END
            WHEN r.resource_type = 'group' AND r."collection" <> '' THEN CASE WHEN r.resource_id IN (SELECT id FROM existing_groups) THEN 'complete' ELSE 'not_found' END
            WHEN r.resource_type = 'application' THEN CASE WHEN r.resource_id IN (SELECT id FROM existing_sps) THEN 'complete' ELSE 'not_found' END
            ELSE 'unsupported' END AS read_status
    FROM (SELECT DISTINCT resource_type, resource_id, "collection" FROM package_roles) r),
assignments AS (
    SELECT lower(a.id) AS assignment_id, lower(a.accessPackage.id) AS access_package_id,
           lower(a.state) AS assignment_state, lower(nullif(a.target.objectId, '')) AS user_id
    FROM (SELECT unnest(value) AS a FROM {assignments})),
users AS (SELECT lower(u.id) AS user_id FROM (SELECT unnest(value) AS u FROM {users})),
held AS (
    SELECT 'group' AS resource_type, lower(string_split(filename, '/')[-2]) AS resource_id, 'member' AS role,
           lower(m.id) AS user_id, coalesce(lower(regexp_replace(m."@odata.type", '^#*(microsoft\.graph\.)*', '')), 'unknown') AS principal_type
    FROM (SELECT filename, unnest(value) AS m FROM {members})
    UNION ALL
    SELECT 'group', lower(string_split(filename, '/')[-2]), 'owner',
           lower(m.id), coalesce(lower(regexp_replace(m."@odata.type", '^#*(microsoft\.graph\.)*', '')), 'unknown')
    FROM (SELECT filename, unnest(value) AS m FROM {owners})
    UNION ALL
    SELECT 'application', lower(string_split(filename, '/')[-2]), lower(x.appRoleId),
           lower(x.principalId), coalesce(lower(x.principalType), 'unknown')
    FROM (SELECT filename, unnest(value) AS x FROM {app_roles})
    UNION ALL
    SELECT 'directory_role', lower(x.roleDefinitionId), 'active', lower(x.principalId), 'unknown'
    FROM (SELECT unnest(value) AS x FROM {role_assignments})
    WHERE x.roleDefinitionId IS NOT NULL AND coalesce(x.directoryScopeId, '/') = '/' AND lower(coalesce(x.memberType, 'direct')) = 'direct'
    UNION ALL
    SELECT 'directory_role', lower(x.roleDefinitionId), 'eligible', lower(x.principalId), 'unknown'
    FROM (SELECT unnest(value) AS x FROM {role_eligibility})
    WHERE x.roleDefinitionId IS NOT NULL AND coalesce(x.directoryScopeId, '/') = '/' AND lower(coalesce(x.memberType, 'direct')) = 'direct'),
-- Like the snapshot: only the holdings of roles some package delivers, each once.
holdings AS (
    SELECT DISTINCT h.* FROM held h
    SEMI JOIN (SELECT DISTINCT resource_type, resource_id, role FROM package_roles) g USING (resource_type, resource_id, role)),
-- From here on, the same joins as DUCKDB_SQL over the snapshot's tables.
delivered AS (SELECT assignment_id, access_package_id, user_id FROM assignments WHERE assignment_state = 'delivered'),
expected AS (SELECT d.*, r.resource_type, r.resource_id, r.role, r."collection" FROM delivered d JOIN package_roles r USING (access_package_id)),
judged AS (SELECT e.*, s.read_status FROM expected e LEFT JOIN resource_status s USING (resource_type, resource_id, "collection")),
missing AS (SELECT j.* FROM judged j WHERE j.user_id IS NOT NULL AND j.read_status = 'complete'
            AND NOT EXISTS (SELECT 1 FROM holdings h WHERE h.resource_type = j.resource_type AND h.resource_id = j.resource_id AND h.role = j.role AND h.user_id = j.user_id)),
complete_roles AS (SELECT DISTINCT r.resource_type, r.resource_id, r.role FROM package_roles r
            JOIN resource_status s USING (resource_type, resource_id, "collection") WHERE s.read_status = 'complete'),
explained AS (SELECT DISTINCT a.user_id, r.resource_type, r.resource_id, r.role FROM assignments a
            JOIN package_roles r USING (access_package_id)
            WHERE a.assignment_state IN ('delivered', 'delivering', 'partiallydelivered') AND a.user_id IS NOT NULL),
aww AS (SELECT h.user_id, h.resource_type, h.resource_id, h.role FROM holdings h
            WHERE (h.principal_type = 'user' OR (h.principal_type = 'unknown' AND h.user_id IN (SELECT user_id FROM users)))
            AND EXISTS (SELECT 1 FROM complete_roles c WHERE c.resource_type = h.resource_type AND c.resource_id = h.resource_id AND c.role = h.role)
            AND NOT EXISTS (SELECT 1 FROM explained x WHERE x.user_id = h.user_id AND x.resource_type = h.resource_type AND x.resource_id = h.resource_id AND x.role = h.role))
SELECT (SELECT count(*) FROM missing) AS missing, (SELECT count(*) FROM judged WHERE read_status = 'not_found' AND user_id IS NOT NULL) AS not_found,
       (SELECT count(*) FROM judged WHERE read_status IS NULL OR read_status NOT IN ('complete', 'not_found') OR user_id IS NULL) AS unverifiable,
       (SELECT count(*) FROM aww) AS aww
