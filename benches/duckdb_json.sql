-- The four core counts of the audit (missing_access, resource_not_found, unverifiable,
-- access_without_assignment), computed by DuckDB straight from a tenant directory's JSON
-- (docs/src/operator/tenant-directories.md): the end-to-end counterpart of DUCKDB_SQL in
-- run.py, which starts from the stored snapshot's Parquet tables.
--
-- benches/run.py fills the placeholders in braces with read_json(...) calls over the
-- directory's files (or an empty relation when an optional file is absent); each source has
-- one column `value`, the Graph response's list, and the per-resource files also `filename`
-- (and sharepoint_recorded: whether sharepoint/sites.json exists); literal braces are doubled.
-- The rules mirror src/snapshot/roles.rs (classification), src/snapshot/tenant_dir.rs (read
-- status), src/snapshot/sharepoint.rs (SharePoint site groups: their status and the Entra users
-- they hold) and src/snapshot/builder.rs (holdings: principal types, direct tenant-wide
-- directory roles, de-duplication); ids compare lower-cased, states case-insensitively.
-- Rust's `trim` (Unicode White_Space) is the class [\t-\r\x85\p{{Z}}]; its ASCII-only
-- lower-casing (site URLs, UPNs) is translate(..., 'A-Z', 'a-z').
WITH
pkg AS (SELECT unnest(value) AS p FROM {packages}),
scopes AS (SELECT lower(p.id) AS access_package_id, unnest(p.resourceRoleScopes) AS s FROM pkg),
classified AS (
    SELECT access_package_id,
           lower(coalesce(s.role.originSystem, s.scope.originSystem)) AS sys,
           s.role.originId AS role_origin,
           s.scope.originId AS scope_origin,
           lower(split_part(s.role.originId, '_', 1)) AS group_kind,
           replace(replace(lower(s.role.originId), ' ', ''), '_', '') AS directory_kind,
           -- SharePoint: the role's originId trimmed (a site group number?) and the scope's
           -- site URL trimmed, without trailing '/', its scheme and host to be lower-cased.
           CASE WHEN sys = 'sharepointonline' THEN regexp_replace(role_origin, '^[\t-\r\x85\p{{Z}}]+|[\t-\r\x85\p{{Z}}]+$', '', 'g') END AS site_role,
           CASE WHEN sys = 'sharepointonline' THEN rtrim(regexp_replace(scope_origin, '^[\t-\r\x85\p{{Z}}]+|[\t-\r\x85\p{{Z}}]+$', '', 'g'), '/') END AS site_trimmed,
           regexp_extract(site_trimmed, '(?s)^.*?://[^/]*') AS site_head
    FROM scopes),
-- roles.rs: a SharePoint role is site group `n` (originId, trimmed, a u32) of the site URL
-- (`site_url`: scheme and host lower-cased, the path as spelled); any other originId stays.
sp_classified AS (
    SELECT *, CASE WHEN regexp_full_match(site_role, '\+?[0-9]+') THEN TRY_CAST(site_role AS UINTEGER) END AS site_group,
           translate(site_head, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') || substr(site_trimmed, length(site_head) + 1) AS site_url
    FROM classified),
-- Packages that spell one site two ways (ASCII case aside) name one site, spelled the least
-- way (builder.rs, site_spellings).
sp_spelled AS (
    SELECT *, min(site_url) OVER (PARTITION BY translate(site_url, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')) AS site_spelling
    FROM sp_classified),
package_roles AS (
    SELECT DISTINCT access_package_id,
        CASE sys WHEN 'aadgroup' THEN 'group' WHEN 'aadapplication' THEN 'application'
                 WHEN 'sharepointonline' THEN 'sharepoint_site' WHEN 'directoryrole' THEN 'directory_role'
                 ELSE 'other' END AS resource_type,
        CASE WHEN sys IN ('aadgroup', 'aadapplication', 'directoryrole') THEN lower(scope_origin)
             WHEN sys = 'sharepointonline' THEN site_spelling ELSE scope_origin END AS resource_id,
        CASE sys
            WHEN 'aadgroup' THEN CASE WHEN group_kind IN ('member', 'owner') THEN group_kind ELSE lower(role_origin) END
            WHEN 'aadapplication' THEN lower(role_origin)
            WHEN 'directoryrole' THEN CASE WHEN directory_kind IN ('eligible', 'eligiblemember') THEN 'eligible'
                                           WHEN directory_kind IN ('active', 'activemember') THEN 'active'
                                           ELSE role_origin END
            WHEN 'sharepointonline' THEN coalesce(CAST(site_group AS VARCHAR), role_origin)
            ELSE role_origin END AS role,
        CASE sys
            WHEN 'aadgroup' THEN CASE group_kind WHEN 'member' THEN 'members' WHEN 'owner' THEN 'owners' ELSE '' END
            WHEN 'aadapplication' THEN 'appRoleAssignedTo'
            WHEN 'directoryrole' THEN CASE WHEN directory_kind IN ('eligible', 'eligiblemember') THEN 'roleEligibilitySchedules'
                                           WHEN directory_kind IN ('active', 'activemember') THEN 'roleAssignments'
                                           ELSE '' END
            WHEN 'sharepointonline' THEN coalesce('siteGroup/' || site_group, '')
            ELSE '' END AS "collection"
    FROM sp_spelled),
existing_groups AS (SELECT DISTINCT lower(g.id) AS id FROM (SELECT unnest(value) AS g FROM {groups})),
existing_sps AS (SELECT DISTINCT lower(s.id) AS id FROM (SELECT unnest(value) AS s FROM {service_principals})),
-- SharePoint (sharepoint.rs, recorded_group and judge): site group n of a site, as the packages
-- name them (site URL as site_url spells it, n).
sp_roles AS (SELECT DISTINCT resource_id, role FROM package_roles WHERE resource_type = 'sharepoint_site' AND "collection" <> ''),
-- The first site of sites.json whose URL is the role's (site_url, ASCII case aside).
sp_sites AS (
    SELECT r.resource_id, arg_min(s.site, s.site_no) AS site
    FROM (SELECT DISTINCT resource_id FROM sp_roles) r
    JOIN (SELECT unnest(value) AS site, generate_subscripts(value, 1) AS site_no FROM {sharepoint_sites}) s
      ON translate(rtrim(regexp_replace(s.site.url, '^[\t-\r\x85\p{{Z}}]+|[\t-\r\x85\p{{Z}}]+$', '', 'g'), '/'), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
         = translate(r.resource_id, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
    GROUP BY r.resource_id),
sp_groups AS (SELECT resource_id, site."key" AS site_key, unnest(site.groups) AS g FROM sp_sites),
-- The recorded users.json files: sharepoint/<key>/groups/<n>/users.json.
sp_files AS (SELECT string_split(filename, '/')[-4] AS site_key, string_split(filename, '/')[-2] AS grp, value FROM {sharepoint_users}),
-- Their direct user entries (PrincipalType 1, or a user's claims login where the type is
-- absent), each with its Entra object id (AadObjectId.NameId, when a GUID) or else its UPN
-- (UserPrincipalName, or the end of the claims login) to match.
sp_entries AS (
    SELECT site_key, grp,
           CASE WHEN regexp_full_match(e.AadObjectId.NameId, '[0-9A-Fa-f]{{8}}-[0-9A-Fa-f]{{4}}-[0-9A-Fa-f]{{4}}-[0-9A-Fa-f]{{4}}-[0-9A-Fa-f]{{12}}')
                THEN lower(e.AadObjectId.NameId) END AS object_id,
           translate(coalesce(nullif(e.UserPrincipalName, ''),
                              CASE WHEN starts_with(e.LoginName, 'i:0#.f|membership|') THEN substr(e.LoginName, 19) END),
                     'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') AS upn
    FROM (SELECT site_key, grp, unnest(value) AS e FROM sp_files)
    WHERE CASE WHEN e.PrincipalType IS NULL THEN coalesce(starts_with(e.LoginName, 'i:0#.f|membership|'), false)
               ELSE e.PrincipalType = 1 END),
-- The users (read once: also the users table of access without assignment), each with its
-- UPN lower-cased (ASCII) only where an entry without an object id may name it: found by
-- lower() (fast, and a superset: equal ASCII-lowered, equal lowered), then keyed exactly
-- (translate is slow: few rows). user_no: the position in users.json.
users AS (SELECT lower(u.id) AS user_id,
                 CASE WHEN lower(u.userPrincipalName) IN (SELECT lower(upn) FROM sp_entries WHERE object_id IS NULL)
                      THEN translate(u.userPrincipalName, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') END AS upn, user_no
          FROM (SELECT unnest(value) AS u, generate_subscripts(value, 1) AS user_no FROM {users})),
-- users_by_upn, for the UPNs asked: lower-cased UPN → the user's id. Two users sharing a UPN
-- stop entra-drift with an error (sharepoint.rs, add_upn); here the later one is kept.
sp_upns AS (SELECT upn, arg_max(user_id, user_no) AS user_id FROM users WHERE upn IS NOT NULL GROUP BY upn),
-- Each entry's Entra user; null: no object id and no UPN of a tenant user (cannot be matched).
sp_held AS (
    SELECT e.site_key, e.grp, coalesce(e.object_id, u.user_id) AS user_id
    FROM sp_entries e LEFT JOIN sp_upns u ON u.upn = e.upn),
sp_unmatched AS (SELECT DISTINCT site_key, grp FROM sp_held WHERE user_id IS NULL),
-- A group's read: SharePoint not recorded → unreadable; its site, or the group on the site,
-- absent → not_found; membership hidden (CanCurrentUserViewMembership false), users.json not
-- recorded, or an entry that cannot be matched → unreadable; else complete.
sp_status AS (
    SELECT r.resource_id, r.role, g.site_key,
        CASE WHEN NOT {sharepoint_recorded} THEN 'unreadable'
             WHEN g.g IS NULL THEN 'not_found'
             -- Hidden: the reader cannot see the members, or, where the recording does not
             -- say, the group shows them only to its members.
             WHEN NOT coalesce(g.g.CanCurrentUserViewMembership, NOT coalesce(g.g.OnlyAllowMembersViewMembership, false)) THEN 'unreadable'
             WHEN f.site_key IS NULL THEN 'unreadable'
             WHEN u.site_key IS NOT NULL THEN 'unreadable'
             ELSE 'complete' END AS read_status
    FROM sp_roles r
    LEFT JOIN sp_groups g ON g.resource_id = r.resource_id AND CAST(g.g.Id AS VARCHAR) = r.role
    LEFT JOIN sp_files f ON f.site_key = g.site_key AND f.grp = r.role
    LEFT JOIN sp_unmatched u ON u.site_key = g.site_key AND u.grp = r.role),
resource_status AS (
    SELECT r.resource_type, r.resource_id, r."collection",
        CASE
            WHEN r.resource_type = 'directory_role' AND r."collection" = 'roleAssignments' THEN CASE WHEN {active_recorded} THEN 'complete' ELSE 'unreadable' END
            WHEN r.resource_type = 'directory_role' AND r."collection" = 'roleEligibilitySchedules' THEN CASE WHEN {eligible_recorded} THEN 'complete' ELSE 'unreadable' END
            WHEN r.resource_type = 'group' AND r."collection" <> '' THEN CASE WHEN r.resource_id IN (SELECT id FROM existing_groups) THEN 'complete' ELSE 'not_found' END
            WHEN r.resource_type = 'application' THEN CASE WHEN r.resource_id IN (SELECT id FROM existing_sps) THEN 'complete' ELSE 'not_found' END
            WHEN r.resource_type = 'sharepoint_site' AND r."collection" <> '' THEN sp.read_status
            ELSE 'unsupported' END AS read_status
    FROM (SELECT DISTINCT resource_type, resource_id, "collection" FROM package_roles) r
    LEFT JOIN sp_status sp ON r.resource_type = 'sharepoint_site' AND sp.resource_id = r.resource_id AND r."collection" = 'siteGroup/' || sp.role),
assignments AS (
    SELECT lower(a.id) AS assignment_id, lower(a.accessPackage.id) AS access_package_id,
           lower(a.state) AS assignment_state, lower(nullif(a.target.objectId, '')) AS user_id
    FROM (SELECT unnest(value) AS a FROM {assignments})),
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
    WHERE x.roleDefinitionId IS NOT NULL AND coalesce(x.directoryScopeId, '/') = '/' AND lower(coalesce(x.memberType, 'direct')) = 'direct'
    UNION ALL
    -- The Entra users a completely read site group holds (builder.rs add_site_holders).
    SELECT 'sharepoint_site', s.resource_id, s.role, h.user_id, 'user'
    FROM sp_status s JOIN sp_held h ON h.site_key = s.site_key AND h.grp = s.role
    WHERE s.read_status = 'complete'),
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
