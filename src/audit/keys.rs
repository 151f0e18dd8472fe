//! Integer keys for the core joins. Every id the joins compare — users, packages, governed
//! roles, and each package role's read status — is interned once into a `u32`, so the joins
//! over the large tables (assignments × package roles, holdings) hash and compare four bytes
//! instead of 36-character strings, and their intermediate tables are a few integer columns.
//! Findings are decoded back to the tables' own strings at the end ([`Keyed::decode`]).
//!
//! Null semantics follow the string joins this replaces: a null id matches nothing, so a
//! package role with a null type, id or role is no governed role, and a null target or
//! holder is kept with a null key (which no join matches).

use polars::prelude::*;

use crate::error::{FrameContext, Result};
use crate::snapshot::{col as s, read_status, roles, Tables};

/// A governed role as the tables write it: `(resource_type, resource_id, role)`.
type RoleText<'t> = (&'t str, &'t str, &'t str);

/// Row of `tables.assignments`.
pub const A: &str = "a_key";
pub const P: &str = "p_key";
pub const U: &str = "u_key";
/// A governed role: `(resource_type, resource_id, role)` some package delivers.
pub const R: &str = "r_key";
/// Row of `tables.package_roles` (to decode the resource columns).
pub const PR: &str = "pr_key";
/// Row of `tables.resource_status` for the package role's resource and collection; null when
/// the source reported nothing of it.
pub const SR: &str = "s_row";
/// [`Status`] of that row, as a number.
pub const SC: &str = "s_code";
/// A governed role and a user in one number (`r_key << 32 | u_key`; null when either is):
/// the joins on both then hash one column instead of encoding two per row.
pub const RU: &str = "ru_key";
/// `true` for the stand-in row of a package whose role list is incomplete.
pub const WHOLE: &str = "whole_package";

/// The read status of a package role's resource, as [`SC`] holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Status {
    Complete = 0,
    NotFound = 1,
    /// Unreadable, unsupported, or anything else a source wrote.
    Other = 2,
    /// The source reported nothing of the resource.
    NotReported = 3,
}

/// The interned tables the core joins read.
pub struct Keyed<'t> {
    tables: &'t Tables,
    /// `a_key, p_key, u_key, assignment_state`
    pub assignments: DataFrame,
    /// `p_key, r_key, pr_key, s_row, s_code, whole_package`: the package roles that are
    /// governed roles (no null in their role's three parts).
    pub package_roles: DataFrame,
    /// `r_key, u_key, principal_type, ru_key`: holdings of governed roles only.
    pub holdings: DataFrame,
    /// `u_key` of each user of the users table.
    pub users: DataFrame,
    /// The id of each `u_key`.
    user_ids: Vec<&'t str>,
    /// A `tables.package_roles` row of each `r_key`.
    role_rows: Vec<IdxSize>,
}

/// Interns strings into dense `u32` keys, in order of first sight. Lower-case GUIDs — every
/// directory id, as the snapshot checks and lower-cases them — are keyed by their 128 bits,
/// so a lookup compares two integers instead of following a pointer to 36 bytes; anything
/// else by its text. Both maps use polars' fast hasher (ids, not attacker-chosen keys at a
/// scale that matters here).
struct Interner<'t> {
    guids: PlHashMap<u128, u32>,
    others: PlHashMap<&'t str, u32>,
    values: Vec<&'t str>,
}

impl<'t> Interner<'t> {
    fn with_capacity(capacity: usize) -> Self {
        Interner {
            guids: PlHashMap::with_capacity_and_hasher(capacity, Default::default()),
            others: PlHashMap::default(),
            values: Vec::with_capacity(capacity),
        }
    }

    fn key(&mut self, value: &'t str) -> u32 {
        self.key_with(value, guid_bits(value))
    }

    /// [`Interner::key`] of a value whose [`guid_bits`] are known.
    fn key_with(&mut self, value: &'t str, bits: Option<u128>) -> u32 {
        let next = self.values.len() as u32;
        let values = &mut self.values;
        let key = match bits {
            Some(bits) => *self.guids.entry(bits).or_insert(next),
            None => *self.others.entry(value).or_insert(next),
        };
        if key == next {
            values.push(value);
        }
        key
    }

    /// Keys of a column (`None` for null), in two passes for the reason [`Lookups`] gives:
    /// each id's bits first, then the insertions in a loop of their own.
    fn keys(&mut self, ids: &[Option<&'t str>]) -> Vec<Option<u32>> {
        let bits: Vec<Option<u128>> = ids.iter().map(|id| id.and_then(guid_bits)).collect();
        ids.iter()
            .zip(bits)
            .map(|(id, bits)| id.map(|id| self.key_with(id, bits)))
            .collect()
    }
}

/// The 128 bits of a lower-case GUID (`8-4-4-4-12` hex digits); `None` for anything else, so
/// that two different strings never share bits.
fn guid_bits(text: &str) -> Option<u128> {
    if text.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    entra_model::ids::guid_value(text)
}

/// Keys of `ids` already interned: `None` for a null id, [`PENDING`]
/// for one not interned yet (which [`intern_pending`] then keys, in row order).
fn known_keys<'t>(
    interner: &Interner<'t>,
    ids: impl Iterator<Item = Option<&'t str>>,
) -> Vec<Option<u32>> {
    let mut lookups = Lookups::default();
    for id in ids {
        lookups.push(id);
    }
    lookups.keys(interner)
}

/// Ids to look up, in two passes: their GUID bits first, then the lookups in a loop of their
/// own. Each lookup in a table of millions of users is a cache miss or two; only a loop that
/// does nothing else keeps several of them in flight (looked up while reading the strings,
/// each waited for the memory in turn: ~500 ns a key at `xl`).
#[derive(Default)]
struct Lookups<'t> {
    bits: Vec<u128>,
    /// Rows whose id is null or no lower-case GUID, with that id: looked up by text.
    others: Vec<(usize, Option<&'t str>)>,
}

impl<'t> Lookups<'t> {
    fn push(&mut self, id: Option<&'t str>) {
        match id.and_then(guid_bits) {
            Some(bits) => self.bits.push(bits),
            None => {
                self.others.push((self.bits.len(), id));
                self.bits.push(0);
            }
        }
    }

    fn keys(self, interner: &Interner<'t>) -> Vec<Option<u32>> {
        let guids = &interner.guids;
        let mut keys: Vec<Option<u32>> = self
            .bits
            .iter()
            .map(|bits| Some(guids.get(bits).copied().unwrap_or(PENDING)))
            .collect();
        for (row, id) in self.others {
            keys[row] = id.map(|id| interner.others.get(id).copied().unwrap_or(PENDING));
        }
        keys
    }
}

/// Stands in, in [`known_keys`]' result, for an id still to be keyed.
const PENDING: u32 = u32::MAX;

/// Keys the ids [`known_keys`] left pending, in row order (the keys a sequential pass would
/// have given them).
fn intern_pending<'t>(
    interner: &mut Interner<'t>,
    keys: &mut [Option<u32>],
    ids: impl Iterator<Item = Option<&'t str>>,
) {
    for (key, id) in keys.iter_mut().zip(ids) {
        if let (Some(PENDING), Some(id)) = (*key, id) {
            *key = Some(interner.key(id));
        }
    }
}

fn strings<'t>(frame: &'t DataFrame, name: &str) -> Result<&'t StringChunked> {
    frame
        .column(name)
        .frame("interning ids")?
        .str()
        .frame("interning ids")
}

fn check_capacity(rows: usize, what: &str) -> Result<()> {
    if rows >= u32::MAX as usize {
        return Err(crate::error::Error::Capacity(format!(
            "more than 4 billion {what}"
        )));
    }
    Ok(())
}

/// The holdings' columns the keys are made from.
struct HeldRoles<'t> {
    types: &'t StringChunked,
    ids: &'t StringChunked,
    roles: &'t StringChunked,
    holders: &'t StringChunked,
}

impl<'t> HeldRoles<'t> {
    /// Which of the `rows` hold a governed role, that role's key and the holder's key (or
    /// [`PENDING`]) for each of them.
    fn keys(
        &self,
        rows: std::ops::Range<usize>,
        role_keys: &PlHashMap<RoleText<'t>, u32>,
        users: &Interner<'t>,
    ) -> (Vec<bool>, Vec<u32>, Vec<Option<u32>>) {
        let mut keep = Vec::with_capacity(rows.len());
        let (mut r, mut holders) = (Vec::new(), Lookups::default());
        // Holdings come resource by resource: most rows repeat the row before's role.
        let mut last: Option<(RoleText, Option<u32>)> = None;
        for (((t, id), role), holder) in self
            .types
            .iter()
            .zip(self.ids.iter())
            .zip(self.roles.iter())
            .zip(self.holders.iter())
            .skip(rows.start)
            .take(rows.len())
        {
            let key = match (t, id, role) {
                (Some(t), Some(id), Some(role)) => match last {
                    Some((seen, key)) if seen == (t, id, role) => key,
                    _ => {
                        let key = role_keys.get(&(t, id, role)).copied();
                        last = Some(((t, id, role), key));
                        key
                    }
                },
                _ => None,
            };
            keep.push(key.is_some());
            if let Some(key) = key {
                r.push(key);
                // A holder no table names cannot be a missing user or explain anything: it
                // still gets a key, since access without assignment reports it.
                holders.push(holder);
            }
        }
        (keep, r, holders.keys(users))
    }
}

impl<'t> Keyed<'t> {
    pub fn new(tables: &'t Tables) -> Result<Keyed<'t>> {
        for (frame, what) in [
            (&tables.assignments, "assignments"),
            (&tables.holdings, "holdings"),
            (&tables.users, "users"),
            (&tables.package_roles, "package roles"),
        ] {
            check_capacity(frame.height(), what)?;
        }
        // Every user key, and [`PENDING`], must fit a `u32`.
        check_capacity(
            tables.users.height() + tables.assignments.height() + tables.holdings.height(),
            "user ids",
        )?;
        let started = std::time::Instant::now();
        let lap = |what: &str| {
            tracing::debug!(
                elapsed_ms = started.elapsed().as_millis() as u64,
                "interned {what}"
            )
        };
        let mut users = Interner::with_capacity(tables.users.height());
        let mut packages = Interner::with_capacity(tables.packages.height());

        let user_column = strings(&tables.users, s::USER_ID)?;
        let listed_users = users.keys(&user_column.iter().collect::<Vec<_>>());

        lap("users");
        // Governed roles, and each package role's read status.
        let status_rows: PlHashMap<(&str, &str, &str), (u32, Status)> = {
            let types = strings(&tables.resource_status, s::RESOURCE_TYPE)?;
            let ids = strings(&tables.resource_status, s::RESOURCE_ID)?;
            let collections = strings(&tables.resource_status, s::COLLECTION)?;
            let statuses = strings(&tables.resource_status, s::READ_STATUS)?;
            let mut rows = PlHashMap::with_capacity_and_hasher(
                tables.resource_status.height(),
                Default::default(),
            );
            for (row, (((t, id), c), status)) in types
                .iter()
                .zip(ids.iter())
                .zip(collections.iter())
                .zip(statuses.iter())
                .enumerate()
            {
                let (Some(t), Some(id), Some(c)) = (t, id, c) else {
                    continue;
                };
                let status = match status {
                    Some(read_status::COMPLETE) => Status::Complete,
                    Some(read_status::NOT_FOUND) => Status::NotFound,
                    _ => Status::Other,
                };
                // The tables are deduplicated; were they not, the first row would win, as a
                // left join would have multiplied rows instead: keep it simple and first.
                rows.entry((t, id, c)).or_insert((row as u32, status));
            }
            rows
        };
        let mut role_keys: PlHashMap<RoleText, u32> = PlHashMap::default();
        let mut role_rows: Vec<IdxSize> = Vec::new();
        let package_roles = {
            let frame = &tables.package_roles;
            let package_ids = strings(frame, s::PACKAGE_ID)?;
            let types = strings(frame, s::RESOURCE_TYPE)?;
            let ids = strings(frame, s::RESOURCE_ID)?;
            let role_names = strings(frame, s::ROLE)?;
            let collections = strings(frame, s::COLLECTION)?;
            let (mut p, mut r, mut pr, mut sr, mut sc, mut whole) = (
                Vec::new(),
                Vec::new(),
                Vec::new(),
                Vec::new(),
                Vec::new(),
                Vec::new(),
            );
            for (row, ((((package, t), id), role), collection)) in package_ids
                .iter()
                .zip(types.iter())
                .zip(ids.iter())
                .zip(role_names.iter())
                .zip(collections.iter())
                .enumerate()
            {
                let (Some(t), Some(id), Some(role)) = (t, id, role) else {
                    continue;
                };
                let next = role_rows.len() as u32;
                let key = *role_keys.entry((t, id, role)).or_insert_with(|| {
                    role_rows.push(row as IdxSize);
                    next
                });
                let status = collection.and_then(|c| status_rows.get(&(t, id, c)));
                p.push(package.map(|id| packages.key(id)));
                r.push(key);
                pr.push(row as u32);
                sr.push(status.map(|(row, _)| *row));
                sc.push(status.map_or(Status::NotReported, |(_, s)| *s) as u8 as u32);
                whole.push(t == roles::ACCESS_PACKAGE);
            }
            DataFrame::new(
                r.len(),
                vec![
                    Column::new(P.into(), p),
                    Column::new(R.into(), r),
                    Column::new(PR.into(), pr),
                    Column::new(SR.into(), sr),
                    Column::new(SC.into(), sc),
                    Column::new(WHOLE.into(), whole),
                ],
            )
            .frame("interning package roles")?
        };

        lap("package roles");
        // The two large tables at once, one per core. Their user ids are looked up in the
        // users' keys; the few the users table does not name are keyed after, in row order.
        let assignment_packages = strings(&tables.assignments, s::PACKAGE_ID)?;
        let assignment_users = strings(&tables.assignments, s::USER_ID)?;
        let frame = &tables.holdings;
        let holders = strings(frame, s::USER_ID)?;
        let held = HeldRoles {
            types: strings(frame, s::RESOURCE_TYPE)?,
            ids: strings(frame, s::RESOURCE_ID)?,
            roles: strings(frame, s::ROLE)?,
            holders,
        };
        // The first core takes the assignments and as many holdings as makes the two even.
        let split = frame.height().saturating_sub(assignment_users.len()) / 2;
        let held = &held;
        let (first, rest) = (0..split, split..frame.height());
        let (known, role_keys) = (&users, &role_keys);
        let ((p, mut assignment_u, (mut keep, mut r, mut holding_u)), more) = crate::threads::both(
            || {
                let p: Vec<Option<u32>> = assignment_packages
                    .iter()
                    .map(|id| id.map(|id| packages.key(id)))
                    .collect();
                let u = known_keys(known, assignment_users.iter());
                (p, u, held.keys(first, role_keys, known))
            },
            move || held.keys(rest, role_keys, known),
        );
        let (more_keep, more_r, more_held_by) = more;
        keep.extend(more_keep);
        r.extend(more_r);
        holding_u.extend(more_held_by);
        intern_pending(&mut users, &mut assignment_u, assignment_users.iter());
        intern_pending(
            &mut users,
            &mut holding_u,
            holders
                .iter()
                .zip(keep.iter())
                .filter_map(|(holder, kept)| kept.then_some(holder)),
        );
        let rows = tables.assignments.height() as u32;
        let assignments = DataFrame::new(
            rows as usize,
            vec![
                Column::new(A.into(), (0..rows).collect::<Vec<u32>>()),
                Column::new(P.into(), p),
                Column::new(U.into(), assignment_u),
                tables
                    .assignments
                    .column(s::STATE)
                    .frame("interning ids")?
                    .clone(),
            ],
        )
        .frame("interning assignments")?;
        let holdings = {
            let mask = BooleanChunked::from_slice("keep".into(), &keep);
            let types = frame
                .column(s::PRINCIPAL_TYPE)
                .frame("interning holdings")?
                .filter(&mask)
                .frame("interning holdings")?;
            with_role_user(
                DataFrame::new(
                    r.len(),
                    vec![
                        Column::new(R.into(), r),
                        Column::new(U.into(), holding_u),
                        types,
                    ],
                )
                .frame("interning holdings")?,
            )?
        };

        lap("assignments and holdings");
        let users_frame = DataFrame::new(
            listed_users.len(),
            vec![Column::new(U.into(), listed_users)],
        )
        .frame("interning users")?;
        Ok(Keyed {
            tables,
            assignments,
            package_roles,
            holdings,
            users: users_frame,
            user_ids: users.values,
            role_rows,
        })
    }

    /// Rows keyed by assignment and package role (`a_key`, `pr_key`, `s_row`) back to strings:
    /// the contract's id columns, and the resource's `read_status` and `read_reason`.
    pub fn decode(&self, frame: &DataFrame) -> Result<DataFrame> {
        let index = |name: &str| -> Result<IdxCa> {
            let values = frame.column(name).frame("decoding findings")?;
            let values = values.u32().frame("decoding findings")?;
            Ok(IdxCa::from_iter_options(
                name.into(),
                values.iter().map(|v| v.map(|v| v as IdxSize)),
            ))
        };
        let assignments = keep_take(
            &self.tables.assignments,
            &[s::ASSIGNMENT_ID, s::PACKAGE_ID, s::USER_ID],
            &index(A)?,
        )?;
        let roles = keep_take(
            &self.tables.package_roles,
            &[s::RESOURCE_TYPE, s::RESOURCE_ID, s::ROLE],
            &index(PR)?,
        )?;
        let status = self.status_of(&index(SR)?)?;
        let mut columns = assignments.into_columns();
        columns.extend(roles.into_columns());
        columns.extend(status);
        DataFrame::new(frame.height(), columns).frame("decoding findings")
    }

    /// `read_status` and `read_reason` of resource status rows (null: not reported).
    fn status_of(&self, rows: &IdxCa) -> Result<Vec<Column>> {
        let frame = &self.tables.resource_status;
        let statuses = strings(frame, s::READ_STATUS)?;
        let reasons = strings(frame, s::READ_REASON)?;
        let pick = |values: &StringChunked, name: &str| {
            Column::new(
                name.into(),
                rows.iter()
                    .map(|row| row.and_then(|row| values.get(row as usize)))
                    .collect::<Vec<Option<&str>>>(),
            )
        };
        Ok(vec![
            pick(statuses, s::READ_STATUS),
            pick(reasons, s::READ_REASON),
        ])
    }

    /// Rows keyed by holder and governed role (`u_key`, `r_key`) back to the contract's
    /// `user_id, resource_type, resource_id, role`.
    pub fn decode_holdings(&self, frame: &DataFrame) -> Result<DataFrame> {
        let holders = frame.column(U).frame("decoding findings")?;
        let holders = holders.u32().frame("decoding findings")?;
        let user_ids: Vec<Option<&str>> = holders
            .iter()
            .map(|key| key.and_then(|key| self.user_ids.get(key as usize).copied()))
            .collect();
        let role_keys = frame.column(R).frame("decoding findings")?;
        let role_keys = role_keys.u32().frame("decoding findings")?;
        let rows = IdxCa::from_iter_options(
            PR.into(),
            role_keys
                .iter()
                .map(|key| key.and_then(|key| self.role_rows.get(key as usize).copied())),
        );
        let roles = keep_take(
            &self.tables.package_roles,
            &[s::RESOURCE_TYPE, s::RESOURCE_ID, s::ROLE],
            &rows,
        )?;
        let mut columns = vec![Column::new(s::USER_ID.into(), user_ids)];
        columns.extend(roles.into_columns());
        DataFrame::new(frame.height(), columns).frame("decoding findings")
    }
}

/// `frame` with its [`RU`] column, from its [`R`] and [`U`] columns.
pub fn with_role_user(mut frame: DataFrame) -> Result<DataFrame> {
    let roles = frame
        .column(R)
        .frame("role and user keys")?
        .u32()
        .frame("role and user keys")?;
    let users = frame
        .column(U)
        .frame("role and user keys")?
        .u32()
        .frame("role and user keys")?;
    let pairs: Vec<Option<u64>> = roles
        .iter()
        .zip(users.iter())
        .map(|(r, u)| Some((u64::from(r?) << 32) | u64::from(u?)))
        .collect();
    frame
        .with_column(Column::new(RU.into(), pairs))
        .frame("role and user keys")?;
    Ok(frame)
}

/// The named columns of `frame`, at the rows `index` names (a null index: a null row).
fn keep_take(frame: &DataFrame, names: &[&str], index: &IdxCa) -> Result<DataFrame> {
    frame
        .select(names.iter().copied())
        .frame("decoding findings")?
        .take(index)
        .frame("decoding findings")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_lower_case_guids_are_keyed_by_their_bits() {
        assert_eq!(
            guid_bits("00000000-0000-0000-0000-0000000000ff"),
            Some(0xff)
        );
        assert_eq!(
            guid_bits("ffffffff-ffff-ffff-ffff-ffffffffffff"),
            Some(u128::MAX)
        );
        for other in [
            "FFFFFFFF-ffff-ffff-ffff-ffffffffffff",
            "ffffffff-ffff-ffff-ffff-fffffffffff",
            "ffffffffffffffffffffffffffffffffffff",
            "ffffffff-ffff-ffff-ffff-fffffffffff-",
            "https://contoso.sharepoint.com/site",
        ] {
            assert_eq!(guid_bits(other), None, "{other}");
        }
    }

    #[test]
    fn equal_strings_share_a_key_and_different_ones_never_do() {
        let mut interner = Interner::with_capacity(4);
        let a = "0f8fad5b-d9cb-469f-a165-70867728950e";
        let upper = "0F8FAD5B-D9CB-469F-A165-70867728950E";
        assert_eq!(interner.key(a), 0);
        assert_eq!(interner.key("site"), 1);
        assert_eq!(interner.key(upper), 2, "a different string");
        assert_eq!(interner.key(a), 0);
        assert_eq!(interner.key("site"), 1);
        assert_eq!(interner.values, vec![a, "site", upper]);
    }

    #[test]
    fn a_column_is_keyed_as_its_values_one_by_one() {
        let a = "0f8fad5b-d9cb-469f-a165-70867728950e";
        let upper = "0F8FAD5B-D9CB-469F-A165-70867728950E";
        let column = [
            Some(a),
            None,
            Some("site"),
            Some(upper),
            Some(a),
            Some("site"),
            None,
        ];
        let mut one_by_one = Interner::with_capacity(4);
        let expected: Vec<Option<u32>> = column
            .iter()
            .map(|id| id.map(|id| one_by_one.key(id)))
            .collect();
        let mut at_once = Interner::with_capacity(4);
        assert_eq!(at_once.keys(&column), expected);
        assert_eq!(at_once.values, one_by_one.values);
    }
}
