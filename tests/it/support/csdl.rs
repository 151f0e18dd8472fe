//! Owns checking Microsoft Graph requests (method, path, query options) against Graph's own
//! published v1.0 CSDL metadata, so that a fake Graph cannot drift from the real one.
//!
//! The checker is deliberately a subset of OData: it resolves entity sets, singletons, keys,
//! navigation and structural properties, type casts, bound actions and functions, `$ref`,
//! `$count` and `$value`, and validates `$select`, `$expand` (with nested options), `$filter`
//! and `$orderby` property paths. It does not validate literal values (enum members, key
//! formats, function parameters) and ignores annotations and capability restrictions.

// Each test module uses only part of this API, and the integration-test crate warns per binary.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

/// Base-type chains are walked with a bound so that a cyclic (malformed) document cannot hang us.
const MAX_DEPTH: usize = 64;

/// Canonical OData functions a client may call inside `$filter` / `$orderby`.
const FILTER_FUNCTIONS: &[&str] = &[
    "contains",
    "startswith",
    "endswith",
    "length",
    "indexof",
    "substring",
    "tolower",
    "toupper",
    "trim",
    "concat",
    "matchespattern",
    "year",
    "month",
    "day",
    "hour",
    "minute",
    "second",
    "fractionalseconds",
    "totalseconds",
    "date",
    "time",
    "totaloffsetminutes",
    "now",
    "mindatetime",
    "maxdatetime",
    "round",
    "floor",
    "ceiling",
    "isof",
    "cast",
    "hassubset",
    "hassubsequence",
    "geo.distance",
    "geo.length",
    "geo.intersects",
    "case",
];

const BINARY_OPERATORS: &[&str] = &[
    "eq", "ne", "gt", "ge", "lt", "le", "and", "or", "has", "in", "add", "sub", "mul", "div",
    "divby", "mod",
];

#[derive(Debug, Clone, PartialEq, Eq)]
struct TypeRef {
    name: String,
    collection: bool,
}

impl TypeRef {
    fn parse(raw: &str) -> TypeRef {
        let raw = raw.trim();
        match raw
            .strip_prefix("Collection(")
            .and_then(|r| r.strip_suffix(')'))
        {
            Some(inner) => TypeRef {
                name: inner.trim().to_string(),
                collection: true,
            },
            None => TypeRef {
                name: raw.to_string(),
                collection: false,
            },
        }
    }

    fn single(name: &str) -> TypeRef {
        TypeRef {
            name: name.to_string(),
            collection: false,
        }
    }
}

#[derive(Debug)]
struct Prop {
    ty: TypeRef,
    nav: bool,
}

#[derive(Debug, Default)]
struct StructType {
    base: Option<String>,
    entity: bool,
    open: bool,
    props: HashMap<String, Prop>,
}

#[derive(Debug)]
struct Operation {
    namespace: String,
    action: bool,
    bound: bool,
    binding: Option<TypeRef>,
    returns: Option<TypeRef>,
    composable: bool,
}

/// Graph's v1.0 CSDL, reduced to what request checking needs, with every type name qualified
/// by its namespace (schema aliases such as `graph.` and `self.` are resolved at parse time).
#[derive(Debug)]
pub struct Metadata {
    types: HashMap<String, StructType>,
    enums: HashSet<String>,
    /// Entity sets (collection) and singletons (single) of the EntityContainer.
    roots: HashMap<String, TypeRef>,
    /// Keyed by unqualified name because Graph URLs mostly use that form; overloads differ by
    /// binding parameter.
    operations: HashMap<String, Vec<Operation>>,
    aliases: HashMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Resource,
    Function { name: String, composable: bool },
    Action { name: String },
    Ref,
    Count,
    Value,
    Batch,
    Metadata,
}

/// Where path resolution stands after a segment.
#[derive(Debug, Clone)]
struct Cursor {
    kind: Kind,
    /// `None` only for `$batch`, `$metadata` and actions that return nothing.
    ty: Option<String>,
    collection: bool,
    /// Whether `$ref` may follow: only a navigation target (or its key) has references.
    refable: bool,
}

impl Metadata {
    pub fn parse(xml: &str) -> Result<Metadata, String> {
        let mut reader = Reader::from_str(xml);
        let mut types: HashMap<String, StructType> = HashMap::new();
        let mut enums = HashSet::new();
        let mut roots = HashMap::new();
        let mut operations: HashMap<String, Vec<Operation>> = HashMap::new();
        let mut aliases = HashMap::new();

        let mut namespace: Option<String> = None;
        let mut current_type: Option<(String, StructType)> = None;
        let mut current_op: Option<(String, Operation)> = None;
        let mut in_container = false;
        let mut saw_container = false;

        loop {
            let event = reader.read_event().map_err(|e| {
                format!(
                    "metadata is not well-formed XML near byte {}: {e}",
                    reader.buffer_position()
                )
            })?;
            let (element, empty) = match &event {
                Event::Start(e) => (e, false),
                Event::Empty(e) => (e, true),
                Event::End(e) => {
                    match e.local_name().as_ref() {
                        "EntityType" | "ComplexType" => {
                            if let Some((name, t)) = current_type.take() {
                                types.insert(name, t);
                            }
                        }
                        "Action" | "Function" => {
                            if let Some((name, op)) = current_op.take() {
                                operations.entry(name).or_default().push(op);
                            }
                        }
                        "Schema" => namespace = None,
                        "EntityContainer" => in_container = false,
                        _ => {}
                    }
                    continue;
                }
                Event::Eof => break,
                _ => continue,
            };
            let local = element.local_name();
            match local.as_ref() {
                "Schema" => {
                    let ns =
                        attr(element, "Namespace")?.ok_or("metadata: Schema without Namespace")?;
                    if let Some(alias) = attr(element, "Alias")? {
                        aliases.insert(alias, ns.clone());
                    }
                    namespace = Some(ns);
                }
                kind @ ("EntityType" | "ComplexType") => {
                    let ns = namespace
                        .as_deref()
                        .ok_or("metadata: type outside a Schema")?;
                    let name = attr(element, "Name")?.ok_or("metadata: type without Name")?;
                    let t = StructType {
                        base: attr(element, "BaseType")?,
                        entity: kind == "EntityType",
                        open: attr(element, "OpenType")?.as_deref() == Some("true"),
                        props: HashMap::new(),
                    };
                    let qualified = format!("{ns}.{name}");
                    if empty {
                        types.insert(qualified, t);
                    } else {
                        current_type = Some((qualified, t));
                    }
                }
                kind @ ("Property" | "NavigationProperty") => {
                    if let Some((_, t)) = current_type.as_mut() {
                        let name =
                            attr(element, "Name")?.ok_or("metadata: property without Name")?;
                        let ty = attr(element, "Type")?.ok_or("metadata: property without Type")?;
                        t.props.insert(
                            name,
                            Prop {
                                ty: TypeRef::parse(&ty),
                                nav: kind == "NavigationProperty",
                            },
                        );
                    }
                }
                "EnumType" => {
                    let ns = namespace
                        .as_deref()
                        .ok_or("metadata: EnumType outside a Schema")?;
                    let name = attr(element, "Name")?.ok_or("metadata: EnumType without Name")?;
                    enums.insert(format!("{ns}.{name}"));
                }
                kind @ ("Action" | "Function") => {
                    let ns = namespace
                        .as_deref()
                        .ok_or("metadata: operation outside a Schema")?;
                    let name = attr(element, "Name")?.ok_or("metadata: operation without Name")?;
                    let op = Operation {
                        namespace: ns.to_string(),
                        action: kind == "Action",
                        bound: attr(element, "IsBound")?.as_deref() == Some("true"),
                        binding: None,
                        returns: None,
                        composable: attr(element, "IsComposable")?.as_deref() == Some("true"),
                    };
                    if empty {
                        operations.entry(name).or_default().push(op);
                    } else {
                        current_op = Some((name, op));
                    }
                }
                "Parameter" => {
                    if let Some((_, op)) = current_op.as_mut() {
                        // The binding parameter is, by CSDL rule, the first one.
                        if op.bound && op.binding.is_none() {
                            let ty =
                                attr(element, "Type")?.ok_or("metadata: parameter without Type")?;
                            op.binding = Some(TypeRef::parse(&ty));
                        }
                    }
                }
                "ReturnType" => {
                    if let Some((_, op)) = current_op.as_mut() {
                        let ty =
                            attr(element, "Type")?.ok_or("metadata: ReturnType without Type")?;
                        op.returns = Some(TypeRef::parse(&ty));
                    }
                }
                "EntityContainer" => {
                    in_container = !empty;
                    saw_container = true;
                }
                "EntitySet" if in_container => {
                    let name = attr(element, "Name")?.ok_or("metadata: EntitySet without Name")?;
                    let ty = attr(element, "EntityType")?
                        .ok_or("metadata: EntitySet without EntityType")?;
                    roots.insert(
                        name,
                        TypeRef {
                            name: ty,
                            collection: true,
                        },
                    );
                }
                "Singleton" if in_container => {
                    let name = attr(element, "Name")?.ok_or("metadata: Singleton without Name")?;
                    let ty = attr(element, "Type")?.ok_or("metadata: Singleton without Type")?;
                    roots.insert(name, TypeRef::single(&ty));
                }
                _ => {}
            }
        }
        if !saw_container || roots.is_empty() {
            return Err("metadata has no EntityContainer with entity sets or singletons".into());
        }

        // Aliases are declared per Schema but may be used anywhere in the document, so type
        // references can only be qualified once every Schema has been seen.
        let qualify = |name: &mut String| {
            if let Some(full) = qualify_alias(&aliases, name) {
                *name = full;
            }
        };
        for t in types.values_mut() {
            if let Some(base) = t.base.as_mut() {
                qualify(base);
            }
            for p in t.props.values_mut() {
                qualify(&mut p.ty.name);
            }
        }
        for ops in operations.values_mut() {
            for op in ops.iter_mut() {
                if let Some(b) = op.binding.as_mut() {
                    qualify(&mut b.name);
                }
                if let Some(r) = op.returns.as_mut() {
                    qualify(&mut r.name);
                }
            }
        }
        for r in roots.values_mut() {
            qualify(&mut r.name);
        }

        Ok(Metadata {
            types,
            enums,
            roots,
            operations,
            aliases,
        })
    }

    /// Resolves one request as sent: `method` (GET/POST/PATCH/DELETE), `target` = path below the
    /// service root with its raw query, e.g. "/identityGovernance/entitlementManagement/assignments?$filter=state%20eq%20'Delivered'&$expand=target,accessPackage".
    /// Ok(()) when every part resolves; Err(message naming the request part that does not, and the type it was resolved against).
    pub fn check(&self, method: &str, target: &str) -> Result<(), String> {
        let (path, query) = split_target(target);
        let cursor = self.walk(path)?;
        self.check_method(method, &cursor, path)?;
        if let Some(query) = query {
            self.check_query(&cursor, query)?;
        }
        Ok(())
    }

    /// Whether the (qualified) type, e.g. "microsoft.graph.group", or any of its base types, has a structural or navigation property `name`.
    pub fn has_property(&self, type_name: &str, name: &str) -> bool {
        let ty = self.qualify(type_name);
        self.find_prop(&ty, name).is_some()
    }

    /// The (qualified) element type of a property of `type_name` or its base types — `T` for
    /// `Collection(T)` — when that is an entity or complex type (what nested objects are checked
    /// against); `None` for a primitive, an enum or an unknown property.
    pub fn property_type(&self, type_name: &str, name: &str) -> Option<String> {
        let ty = self.qualify(type_name);
        let prop = self.find_prop(&ty, name)?;
        let inner = self.qualify(&prop.ty.name);
        self.types.contains_key(&inner).then_some(inner)
    }

    /// The qualified type a path resolves to (entity or complex type, collection or not), for checking returned properties; Err as in `check`.
    pub fn resolve_path(&self, path: &str) -> Result<String, String> {
        let (path, _) = split_target(path);
        let cursor = self.walk(path)?;
        match (&cursor.kind, &cursor.ty) {
            (Kind::Resource | Kind::Function { .. } | Kind::Action { .. }, Some(ty))
                if self.types.contains_key(ty) =>
            {
                Ok(ty.clone())
            }
            _ => Err(format!(
                "path '{path}' resolves to {}, not an entity or complex type",
                describe(&cursor)
            )),
        }
    }

    fn qualify(&self, name: &str) -> String {
        qualify_alias(&self.aliases, name).unwrap_or_else(|| name.to_string())
    }

    /// Declared properties only, walking the base-type chain.
    fn find_prop(&self, ty: &str, name: &str) -> Option<&Prop> {
        let mut current = ty;
        for _ in 0..MAX_DEPTH {
            let t = self.types.get(current)?;
            if let Some(p) = t.props.get(name) {
                return Some(p);
            }
            current = t.base.as_deref()?;
        }
        None
    }

    fn is_open(&self, ty: &str) -> bool {
        let mut current = ty;
        for _ in 0..MAX_DEPTH {
            let Some(t) = self.types.get(current) else {
                return false;
            };
            if t.open {
                return true;
            }
            match t.base.as_deref() {
                Some(b) => current = b,
                None => return false,
            }
        }
        false
    }

    /// A property usable in a request: declared, or a directory extension attribute
    /// (`extension_<appId>_<name>`) on an open type, which is the only kind of dynamic property
    /// Graph serves on its open directory types.
    fn member(&self, ty: &str, name: &str) -> Option<(TypeRef, bool)> {
        if let Some(p) = self.find_prop(ty, name) {
            return Some((p.ty.clone(), p.nav));
        }
        if name.starts_with("extension_") && self.is_open(ty) {
            return Some((TypeRef::single("Edm.Untyped"), false));
        }
        None
    }

    /// Whether `ty` is `base` or derives from it.
    fn derives(&self, ty: &str, base: &str) -> bool {
        let mut current = ty;
        for _ in 0..MAX_DEPTH {
            if current == base {
                return true;
            }
            match self.types.get(current).and_then(|t| t.base.as_deref()) {
                Some(b) => current = b,
                None => return false,
            }
        }
        false
    }

    fn is_entity(&self, ty: &str) -> bool {
        self.types.get(ty).is_some_and(|t| t.entity)
    }

    fn is_structured(&self, ty: &str) -> bool {
        self.types.contains_key(ty)
    }

    fn find_operation(
        &self,
        name: &str,
        ty: &str,
        collection: bool,
    ) -> Option<(String, &Operation)> {
        let (ns, simple) = match name.rsplit_once('.') {
            // The namespace part may itself be a schema alias (`graph.reprocess`).
            Some((ns, simple)) => (
                Some(
                    self.aliases
                        .get(ns)
                        .cloned()
                        .unwrap_or_else(|| ns.to_string()),
                ),
                simple,
            ),
            None => (None, name),
        };
        let candidates = self.operations.get(simple)?;
        let binds = |op: &&Operation, exact: bool| {
            ns.as_deref().is_none_or(|n| n == op.namespace)
                && op.binding.as_ref().is_some_and(|b| {
                    b.collection == collection
                        && (b.name == ty || (!exact && self.derives(ty, &b.name)))
                })
        };
        // An overload bound to the type itself wins over one bound to a base type (`delta` on
        // groups returns groups, not directory objects).
        candidates
            .iter()
            .find(|op| binds(op, true))
            .or_else(|| candidates.iter().find(|op| binds(op, false)))
            .map(|op| (format!("{}.{simple}", op.namespace), op))
    }

    /// For error messages: what the operations of that name bind to instead.
    fn operation_bindings(&self, name: &str) -> Vec<String> {
        let simple = name.rsplit_once('.').map_or(name, |(_, s)| s);
        self.operations
            .get(simple)
            .map(|ops| {
                ops.iter()
                    .filter_map(|op| op.binding.as_ref())
                    .map(|b| {
                        if b.collection {
                            format!("Collection({})", b.name)
                        } else {
                            b.name.clone()
                        }
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn walk(&self, path: &str) -> Result<Cursor, String> {
        let raw: Vec<&str> = path.split('/').collect();
        let last = raw.len().saturating_sub(1);
        let mut segments = Vec::with_capacity(raw.len());
        for (i, r) in raw.iter().enumerate() {
            let s = percent_decode(r)?;
            if s.is_empty() {
                // A leading slash and one trailing slash are harmless; an inner `//` is not.
                if i == 0 || i == last {
                    continue;
                }
                return Err(format!("path '{path}' has an empty segment"));
            }
            segments.push(s);
        }
        if segments.first().map(String::as_str) == Some("v1.0") {
            segments.remove(0);
        }
        let Some((first, rest)) = segments.split_first() else {
            return Err("empty path: it names no entity set or singleton".into());
        };

        let special = match first.as_str() {
            "$batch" => Some(Kind::Batch),
            "$metadata" => Some(Kind::Metadata),
            _ => None,
        };
        if let Some(kind) = special {
            if let Some(next) = rest.first() {
                return Err(format!("path segment '{next}' cannot follow '{first}'"));
            }
            return Ok(Cursor {
                kind,
                ty: None,
                collection: false,
                refable: false,
            });
        }

        let (name, args) = split_parens(first);
        let Some(root) = self.roots.get(name) else {
            return Err(format!(
                "path segment '{first}' is not an entity set or singleton of the EntityContainer"
            ));
        };
        let mut cursor = Cursor {
            kind: Kind::Resource,
            ty: Some(root.name.clone()),
            collection: root.collection,
            refable: false,
        };
        if args.is_some() {
            if !root.collection {
                return Err(format!(
                    "path segment '{first}': singleton '{name}' takes no key"
                ));
            }
            cursor.collection = false;
        }
        let mut previous = first.as_str();
        for seg in rest {
            cursor = self.step(cursor, seg, previous)?;
            previous = seg;
        }
        Ok(cursor)
    }

    fn step(&self, cur: Cursor, seg: &str, previous: &str) -> Result<Cursor, String> {
        let navigable = match &cur.kind {
            Kind::Resource => true,
            Kind::Function { composable, .. } => *composable,
            _ => false,
        };
        let ty = match (&cur.ty, navigable) {
            (Some(ty), true) => ty.clone(),
            _ => {
                return Err(format!(
                    "path segment '{seg}' cannot follow '{previous}' ({})",
                    describe(&cur)
                ))
            }
        };

        match seg {
            "$ref" => {
                if cur.refable {
                    return Ok(Cursor {
                        kind: Kind::Ref,
                        ..cur
                    });
                }
                return Err(format!(
                    "path segment '$ref' must follow a navigation property or its key, not '{previous}' ({})",
                    describe(&cur)
                ));
            }
            "$count" => {
                if cur.collection {
                    return Ok(Cursor {
                        kind: Kind::Count,
                        refable: false,
                        ..cur
                    });
                }
                return Err(format!(
                    "path segment '$count' must follow a collection, not '{previous}' ({})",
                    describe(&cur)
                ));
            }
            "$value" => {
                if !cur.collection {
                    return Ok(Cursor {
                        kind: Kind::Value,
                        refable: false,
                        ..cur
                    });
                }
                return Err(format!(
                    "path segment '$value' cannot follow a collection ('{previous}', {})",
                    describe(&cur)
                ));
            }
            _ => {}
        }

        let (name, args) = split_parens(seg);

        // Properties of a collection are only reachable through a key, so a name after a
        // collection is a property only when it follows a single value.
        if !cur.collection {
            if let Some((pty, nav)) = self.member(&ty, name) {
                let mut next = Cursor {
                    kind: Kind::Resource,
                    ty: Some(pty.name.clone()),
                    collection: pty.collection,
                    refable: nav,
                };
                if args.is_some() {
                    if !(nav && pty.collection) {
                        return Err(format!(
                            "path segment '{seg}': '{name}' of {ty} is not a collection and takes no key"
                        ));
                    }
                    next.collection = false;
                }
                return Ok(next);
            }
        }

        if name.contains('.') && self.is_structured(&self.qualify(name)) {
            let cast = self.qualify(name);
            if !self.derives(&cast, &ty) {
                return Err(format!("type cast '{seg}' is not {ty} nor derived from it"));
            }
            return Ok(Cursor {
                ty: Some(cast),
                ..cur
            });
        }

        if let Some((qualified, op)) = self.find_operation(name, &ty, cur.collection) {
            let (rty, rcoll) = match &op.returns {
                Some(r) => (Some(r.name.clone()), r.collection),
                None => (None, false),
            };
            let kind = if op.action {
                Kind::Action { name: qualified }
            } else {
                Kind::Function {
                    name: qualified,
                    composable: op.composable,
                }
            };
            return Ok(Cursor {
                kind,
                ty: rty,
                collection: rcoll,
                refable: false,
            });
        }

        if cur.collection && self.is_entity(&ty) {
            // Real keys are opaque ids; one spelled like a property almost always means the
            // client dropped the id (`/groups/members`), which Graph would answer with 404.
            if self.find_prop(&ty, name).is_some() {
                return Err(format!(
                    "path segment '{seg}' follows Collection({ty}) without a key; '{name}' is a property of {ty}"
                ));
            }
            return Ok(Cursor {
                collection: false,
                ..cur
            });
        }

        let mut msg = if cur.collection {
            format!(
                "path segment '{seg}' is not a type cast or bound operation of Collection({ty}), and a collection of {ty} has no keys"
            )
        } else {
            format!(
                "path segment '{seg}' is not a navigation property, property, type cast or bound operation of {ty}"
            )
        };
        let bindings = self.operation_bindings(name);
        if !bindings.is_empty() {
            msg.push_str(&format!(
                " (operation '{name}' binds to {})",
                bindings.join(", ")
            ));
        }
        Err(msg)
    }

    fn check_method(&self, method: &str, cur: &Cursor, path: &str) -> Result<(), String> {
        let m = method.to_ascii_uppercase();
        let entity = cur.ty.as_deref().is_some_and(|t| self.is_entity(t));
        let allowed = match (&cur.kind, m.as_str()) {
            (_, "GET") => !matches!(cur.kind, Kind::Action { .. } | Kind::Batch),
            (Kind::Resource, "POST") => cur.collection && entity,
            (Kind::Resource, "PATCH" | "PUT" | "DELETE") => !cur.collection && entity,
            (Kind::Action { .. } | Kind::Batch, "POST") => true,
            (Kind::Ref, "POST") => cur.collection,
            (Kind::Ref, "PUT" | "DELETE") => !cur.collection,
            (Kind::Value, "PUT") => true,
            _ => false,
        };
        if allowed {
            return Ok(());
        }
        let hint = match &cur.kind {
            Kind::Action { .. } => " (actions are invoked with POST)",
            Kind::Function { .. } => " (functions are invoked with GET)",
            _ => "",
        };
        Err(format!(
            "method {m} is not allowed on '{path}' ({}){hint}",
            describe(cur)
        ))
    }

    fn check_query(&self, cur: &Cursor, query: &str) -> Result<(), String> {
        let ty = cur.ty.as_deref();
        for part in query.split('&') {
            if part.is_empty() {
                continue;
            }
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            let key = percent_decode(k)?;
            let value = percent_decode(v)?;
            match key.as_str() {
                "$select" => self.check_select(self.structured(ty, "$select")?, &value, "$select")?,
                "$expand" => self.check_expand(self.structured(ty, "$expand")?, &value, "$expand")?,
                "$filter" => self.check_filter(self.structured(ty, "$filter")?, &value, "$filter")?,
                "$orderby" => {
                    self.check_orderby(self.structured(ty, "$orderby")?, &value, "$orderby")?
                }
                "$top" | "$skip" => check_integer(&key, &value)?,
                "$count" => check_bool(&key, &value)?,
                "$skiptoken" | "$search" | "$format" => {}
                k if k.starts_with('$') => {
                    return Err(format!("query option '{k}' is not a supported OData system query option"))
                }
                k => {
                    return Err(format!(
                        "query parameter '{k}' is not an OData system query option (they start with '$')"
                    ))
                }
            }
        }
        Ok(())
    }

    fn structured<'a>(&self, ty: Option<&'a str>, option: &str) -> Result<&'a str, String> {
        match ty {
            Some(t) if self.is_structured(t) => Ok(t),
            Some(t) => Err(format!(
                "{option}: {t} has no properties to select, expand, filter or order by"
            )),
            None => Err(format!(
                "{option}: the request addresses nothing with properties"
            )),
        }
    }

    /// Resolves one `/`-separated member path (properties, navigations, casts) from `ty`.
    fn member_path(&self, ty: &str, path: &str, option: &str) -> Result<(TypeRef, bool), String> {
        let mut current = TypeRef::single(ty);
        let mut nav = false;
        for seg in path.split('/') {
            let seg = seg.trim();
            if seg.is_empty() {
                return Err(format!("{option}: '{path}' has an empty path segment"));
            }
            (current, nav) = self.member_step(&current, seg, path, option)?;
        }
        Ok((current, nav))
    }

    fn member_step(
        &self,
        current: &TypeRef,
        seg: &str,
        path: &str,
        option: &str,
    ) -> Result<(TypeRef, bool), String> {
        if seg == "$count" && current.collection {
            return Ok((TypeRef::single("Edm.Int64"), false));
        }
        if current.collection {
            return Err(format!(
                "{option}: '{seg}'{} follows a collection of {} (use any/all)",
                within(seg, path),
                current.name
            ));
        }
        let ty = current.name.as_str();
        if !self.is_structured(ty) {
            return Err(format!(
                "{option}: '{seg}'{} follows {ty}, which has no properties",
                within(seg, path)
            ));
        }
        if seg.contains('.') {
            let cast = self.qualify(seg);
            if self.is_structured(&cast) {
                if !self.derives(&cast, ty) {
                    return Err(format!(
                        "{option}: type cast '{seg}'{} is not {ty} nor derived from it",
                        within(seg, path)
                    ));
                }
                return Ok((TypeRef::single(&cast), false));
            }
        }
        match self.member(ty, seg) {
            Some(found) => Ok(found),
            None => Err(format!(
                "{option}: '{seg}'{} is not a property of {ty}",
                within(seg, path)
            )),
        }
    }

    fn check_select(&self, ty: &str, value: &str, option: &str) -> Result<(), String> {
        for item in split_top(value, ',', option)? {
            let item = item.trim();
            if item.is_empty() {
                return Err(format!("{option}: empty item in '{value}'"));
            }
            if item == "*" || item.ends_with(".*") {
                continue;
            }
            self.member_path(ty, item, option)?;
        }
        Ok(())
    }

    fn check_expand(&self, ty: &str, value: &str, option: &str) -> Result<(), String> {
        for item in split_top(value, ',', option)? {
            let item = item.trim();
            if item.is_empty() {
                return Err(format!("{option}: empty item in '{value}'"));
            }
            let (path, options) = match item.find('(') {
                Some(i) => {
                    let (p, rest) = item.split_at(i);
                    let inner = rest
                        .strip_prefix('(')
                        .and_then(|r| r.strip_suffix(')'))
                        .ok_or_else(|| format!("{option}: '{item}' has unbalanced parentheses"))?;
                    (p.trim(), Some(inner))
                }
                None => (item, None),
            };
            let path = path
                .strip_suffix("/$ref")
                .or_else(|| path.strip_suffix("/$count"))
                .unwrap_or(path);
            let target = if path == "*" {
                None
            } else {
                // A plain name gets the message a reader expects for `$expand`.
                if !path.contains('/') && self.member(ty, path).is_none() {
                    return Err(format!(
                        "{option}: '{path}' is not a navigation property of {ty}"
                    ));
                }
                let (t, nav) = self.member_path(ty, path, option)?;
                if !nav {
                    return Err(format!(
                        "{option}: '{path}' is not a navigation property of {ty}"
                    ));
                }
                Some(t.name)
            };
            if let Some(options) = options {
                let label = format!("{option} {path}");
                for opt in split_top(options, ';', &label)? {
                    let opt = opt.trim();
                    if opt.is_empty() {
                        continue;
                    }
                    let (k, v) = opt.split_once('=').unwrap_or((opt, ""));
                    let k = k.trim();
                    let nested = format!("{label}: {k}");
                    let need = |t: &Option<String>| {
                        t.clone().ok_or_else(|| {
                            format!("{nested}: '*' has no single target type to check against")
                        })
                    };
                    match k {
                        "$select" => self.check_select(&need(&target)?, v, &nested)?,
                        "$expand" => self.check_expand(&need(&target)?, v, &nested)?,
                        "$filter" => self.check_filter(&need(&target)?, v, &nested)?,
                        "$orderby" => self.check_orderby(&need(&target)?, v, &nested)?,
                        "$top" | "$skip" => check_integer(&nested, v)?,
                        "$levels" if v.trim() == "max" => {}
                        "$levels" => check_integer(&nested, v)?,
                        "$count" => check_bool(&nested, v)?,
                        "$search" => {}
                        _ => {
                            return Err(format!(
                                "{label}: '{k}' is not a supported nested query option"
                            ))
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn check_filter(&self, ty: &str, value: &str, option: &str) -> Result<(), String> {
        let tokens = tokenize(value, option)?;
        let mut parser = ExprParser {
            md: self,
            tokens,
            pos: 0,
            option,
            root: ty,
        };
        let mut vars = Vec::new();
        parser.expr(&mut vars)?;
        parser.finish()
    }

    fn check_orderby(&self, ty: &str, value: &str, option: &str) -> Result<(), String> {
        for item in split_top(value, ',', option)? {
            let item = item.trim();
            let expr = match item.rsplit_once(char::is_whitespace) {
                Some((e, "asc" | "desc")) => e.trim(),
                _ => item,
            };
            if expr.is_empty() {
                return Err(format!("{option}: empty item in '{value}'"));
            }
            self.check_filter(ty, expr, option)?;
        }
        Ok(())
    }
}

/// Names the enclosing path in a message only when it says more than the segment itself.
fn within(seg: &str, path: &str) -> String {
    if seg == path {
        String::new()
    } else {
        format!(" in '{path}'")
    }
}

fn qualify_alias(aliases: &HashMap<String, String>, name: &str) -> Option<String> {
    let (head, rest) = name.split_once('.')?;
    aliases.get(head).map(|ns| format!("{ns}.{rest}"))
}

fn attr(e: &BytesStart, key: &str) -> Result<Option<String>, String> {
    for a in e.attributes() {
        let a = a.map_err(|err| format!("metadata: bad attribute: {err}"))?;
        if a.key.local_name().as_ref() == key {
            return Ok(Some(a.value.into_owned()));
        }
    }
    Ok(None)
}

/// Splits a request target into its path and raw query, tolerating an absolute URL.
fn split_target(target: &str) -> (&str, Option<&str>) {
    let target = target.split_once('#').map_or(target, |(t, _)| t);
    let target = match target
        .strip_prefix("https://")
        .or_else(|| target.strip_prefix("http://"))
    {
        Some(rest) => rest.find('/').map_or("", |i| &rest[i..]),
        None => target,
    };
    match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    }
}

/// `name(args)` → (`name`, Some(`args`)); anything else → (segment, None).
fn split_parens(seg: &str) -> (&str, Option<&str>) {
    if seg.ends_with(')') {
        if let Some(i) = seg.find('(') {
            if let Some(args) = seg.get(i + 1..seg.len() - 1) {
                return (&seg[..i], Some(args));
            }
        }
    }
    (seg, None)
}

fn percent_decode(s: &str) -> Result<String, String> {
    if !s.contains('%') {
        return Ok(s.to_string());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hi = bytes.get(i + 1).and_then(|c| (*c as char).to_digit(16));
            let lo = bytes.get(i + 2).and_then(|c| (*c as char).to_digit(16));
            match (hi, lo) {
                (Some(hi), Some(lo)) => out.push((hi * 16 + lo) as u8),
                _ => return Err(format!("bad percent-encoding in '{s}'")),
            }
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("percent-decoded '{s}' is not UTF-8"))
}

/// Splits on `sep` outside parentheses and single-quoted strings.
fn split_top<'a>(s: &'a str, sep: char, option: &str) -> Result<Vec<&'a str>, String> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut in_string = false;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            // A doubled quote inside a string toggles twice, so it needs no special case.
            '\'' => in_string = !in_string,
            _ if in_string => {}
            '(' => depth += 1,
            ')' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| format!("{option}: unbalanced ')' in '{s}'"))?
            }
            c if c == sep && depth == 0 => {
                parts.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    if in_string {
        return Err(format!("{option}: unterminated string in '{s}'"));
    }
    if depth != 0 {
        return Err(format!("{option}: unbalanced '(' in '{s}'"));
    }
    parts.push(&s[start..]);
    Ok(parts)
}

fn check_integer(option: &str, value: &str) -> Result<(), String> {
    value
        .trim()
        .parse::<u64>()
        .map(|_| ())
        .map_err(|_| format!("{option}: '{value}' is not a non-negative integer"))
}

fn check_bool(option: &str, value: &str) -> Result<(), String> {
    match value.trim() {
        "true" | "false" => Ok(()),
        _ => Err(format!("{option}: '{value}' is not true or false")),
    }
}

fn describe(cur: &Cursor) -> String {
    let ty = cur.ty.as_deref().unwrap_or("nothing");
    let shape = if cur.collection {
        format!("Collection({ty})")
    } else {
        ty.to_string()
    };
    match &cur.kind {
        Kind::Resource => shape,
        Kind::Function { name, .. } => format!("function {name} returning {shape}"),
        Kind::Action { name } => format!("action {name}"),
        Kind::Ref => format!("references to {shape}"),
        Kind::Count => format!("the count of {shape}"),
        Kind::Value => format!("the raw value of {shape}"),
        Kind::Batch => "$batch".into(),
        Kind::Metadata => "$metadata".into(),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Literal(String),
    LParen,
    RParen,
    Comma,
    Colon,
    Slash,
}

impl std::fmt::Display for Tok {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Tok::Ident(s) | Tok::Literal(s) => f.write_str(s),
            Tok::LParen => f.write_str("("),
            Tok::RParen => f.write_str(")"),
            Tok::Comma => f.write_str(","),
            Tok::Colon => f.write_str(":"),
            Tok::Slash => f.write_str("/"),
        }
    }
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '.' || c == '$'
}

/// Unquoted GUIDs start with letters as often as with digits, so they must be recognised before
/// identifiers would swallow their first group.
fn guid_at(chars: &[char], i: usize) -> bool {
    const GROUPS: [usize; 5] = [8, 4, 4, 4, 12];
    let mut j = i;
    for (g, len) in GROUPS.iter().enumerate() {
        for _ in 0..*len {
            if !chars.get(j).is_some_and(|c| c.is_ascii_hexdigit()) {
                return false;
            }
            j += 1;
        }
        if g < GROUPS.len() - 1 {
            if chars.get(j) != Some(&'-') {
                return false;
            }
            j += 1;
        }
    }
    !chars.get(j).is_some_and(|c| is_ident_char(*c))
}

/// Scans a quoted string starting at `chars[i] == '\''`; returns the index after it.
fn scan_string(chars: &[char], mut i: usize, option: &str, src: &str) -> Result<usize, String> {
    i += 1;
    loop {
        match chars.get(i) {
            None => return Err(format!("{option}: unterminated string in '{src}'")),
            Some('\'') if chars.get(i + 1) == Some(&'\'') => i += 2,
            Some('\'') => return Ok(i + 1),
            Some(_) => i += 1,
        }
    }
}

fn tokenize(src: &str, option: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = src.chars().collect();
    let text = |a: usize, b: usize| chars.get(a..b).map(|s| s.iter().collect::<String>());
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                tokens.push(Tok::LParen);
                i += 1;
            }
            ')' => {
                tokens.push(Tok::RParen);
                i += 1;
            }
            ',' => {
                tokens.push(Tok::Comma);
                i += 1;
            }
            ':' => {
                tokens.push(Tok::Colon);
                i += 1;
            }
            '/' => {
                tokens.push(Tok::Slash);
                i += 1;
            }
            '\'' => {
                let end = scan_string(&chars, i, option, src)?;
                tokens.push(Tok::Literal(text(i, end).unwrap_or_default()));
                i = end;
            }
            '@' => {
                // Parameter aliases stand for values supplied elsewhere in the query.
                let start = i;
                i += 1;
                while chars.get(i).is_some_and(|c| is_ident_char(*c)) {
                    i += 1;
                }
                tokens.push(Tok::Literal(text(start, i).unwrap_or_default()));
            }
            c if c.is_ascii_digit()
                || (c == '-' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())) =>
            {
                // Numbers, GUIDs, dates, times and offsets share one loose shape: digits mixed
                // with letters, '.', ':', '+' and '-', never containing spaces or parentheses.
                let start = i;
                i += 1;
                while chars.get(i).is_some_and(|c| {
                    c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '+' | '-' | '_')
                }) {
                    i += 1;
                }
                tokens.push(Tok::Literal(text(start, i).unwrap_or_default()));
            }
            c if c.is_alphabetic() || c == '_' || c == '$' => {
                if guid_at(&chars, i) {
                    tokens.push(Tok::Literal(text(i, i + 36).unwrap_or_default()));
                    i += 36;
                    continue;
                }
                let start = i;
                while chars.get(i).is_some_and(|c| is_ident_char(*c)) {
                    i += 1;
                }
                if chars.get(i) == Some(&'\'') {
                    // duration'P1D', binary'..', microsoft.graph.someEnum'value'
                    let end = scan_string(&chars, i, option, src)?;
                    tokens.push(Tok::Literal(text(start, end).unwrap_or_default()));
                    i = end;
                } else {
                    tokens.push(Tok::Ident(text(start, i).unwrap_or_default()));
                }
            }
            other => {
                return Err(format!(
                    "{option}: unexpected character '{other}' in '{src}'"
                ))
            }
        }
    }
    Ok(tokens)
}

/// A recursive-descent walk over a `$filter` / `$orderby` expression. Operator precedence is
/// irrelevant for validation, so binary expressions are read as a flat chain.
struct ExprParser<'a> {
    md: &'a Metadata,
    tokens: Vec<Tok>,
    pos: usize,
    option: &'a str,
    root: &'a str,
}

impl ExprParser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.tokens.get(self.pos).cloned();
        if t.is_some() {
            self.pos += 1;
        }
        t
    }

    fn expect(&mut self, want: &Tok) -> Result<(), String> {
        match self.next() {
            Some(t) if &t == want => Ok(()),
            Some(t) => Err(format!("{}: expected '{want}', found '{t}'", self.option)),
            None => Err(format!("{}: expected '{want}', found the end", self.option)),
        }
    }

    fn finish(&self) -> Result<(), String> {
        match self.peek() {
            None => Ok(()),
            Some(t) => Err(format!("{}: unexpected '{t}'", self.option)),
        }
    }

    fn expr(&mut self, vars: &mut Vec<(String, TypeRef)>) -> Result<(), String> {
        self.unary(vars)?;
        while let Some(Tok::Ident(op)) = self.peek() {
            if !BINARY_OPERATORS.contains(&op.as_str()) {
                return Err(format!(
                    "{}: '{op}' is not an operator (expected eq, ne, and, or, ...)",
                    self.option
                ));
            }
            self.pos += 1;
            self.unary(vars)?;
        }
        Ok(())
    }

    fn unary(&mut self, vars: &mut Vec<(String, TypeRef)>) -> Result<(), String> {
        if matches!(self.peek(), Some(Tok::Ident(w)) if w == "not") {
            self.pos += 1;
            return self.unary(vars);
        }
        self.primary(vars)
    }

    fn primary(&mut self, vars: &mut Vec<(String, TypeRef)>) -> Result<(), String> {
        match self.next() {
            Some(Tok::Literal(_)) => Ok(()),
            Some(Tok::LParen) => {
                // A parenthesised expression, or the list on the right of `in`.
                self.expr(vars)?;
                while self.peek() == Some(&Tok::Comma) {
                    self.pos += 1;
                    self.expr(vars)?;
                }
                self.expect(&Tok::RParen)
            }
            Some(Tok::Ident(name)) => {
                let followed_by_slash = self.peek() == Some(&Tok::Slash);
                if matches!(name.as_str(), "true" | "false" | "null" | "INF" | "NaN")
                    && !followed_by_slash
                {
                    return Ok(());
                }
                if self.peek() == Some(&Tok::LParen)
                    && FILTER_FUNCTIONS.contains(&name.to_ascii_lowercase().as_str())
                {
                    self.pos += 1;
                    if self.peek() == Some(&Tok::RParen) {
                        self.pos += 1;
                        return Ok(());
                    }
                    self.expr(vars)?;
                    while self.peek() == Some(&Tok::Comma) {
                        self.pos += 1;
                        self.expr(vars)?;
                    }
                    return self.expect(&Tok::RParen);
                }
                // A bare qualified type name is an argument of isof/cast.
                let qualified = self.md.qualify(&name);
                if name.contains('.')
                    && !followed_by_slash
                    && (self.md.is_structured(&qualified) || self.md.enums.contains(&qualified))
                {
                    return Ok(());
                }
                self.path(name, vars)
            }
            Some(t) => Err(format!("{}: unexpected '{t}'", self.option)),
            None => Err(format!("{}: expression ends too early", self.option)),
        }
    }

    fn path(&mut self, first: String, vars: &mut Vec<(String, TypeRef)>) -> Result<(), String> {
        let mut text = first.clone();
        let mut current = if let Some((_, t)) = vars.iter().rev().find(|(v, _)| *v == first) {
            t.clone()
        } else if first == "$it" || first == "$this" {
            TypeRef::single(self.root)
        } else {
            self.md
                .member_step(&TypeRef::single(self.root), &first, &first, self.option)?
                .0
        };
        while self.peek() == Some(&Tok::Slash) {
            self.pos += 1;
            let seg = match self.next() {
                Some(Tok::Ident(s)) => s,
                Some(t) => {
                    return Err(format!(
                        "{}: expected a property after '{text}/', found '{t}'",
                        self.option
                    ))
                }
                None => {
                    return Err(format!(
                        "{}: '{text}/' ends without a property",
                        self.option
                    ))
                }
            };
            text.push('/');
            text.push_str(&seg);
            if (seg == "any" || seg == "all") && self.peek() == Some(&Tok::LParen) {
                if !current.collection {
                    return Err(format!(
                        "{}: '{text}' applies {seg} to {}, which is not a collection",
                        self.option, current.name
                    ));
                }
                self.pos += 1;
                if self.peek() == Some(&Tok::RParen) {
                    self.pos += 1;
                } else {
                    let var = match (self.next(), self.next()) {
                        (Some(Tok::Ident(v)), Some(Tok::Colon)) => v,
                        _ => {
                            return Err(format!(
                                "{}: '{text}(' must start with 'variable:'",
                                self.option
                            ))
                        }
                    };
                    vars.push((var, TypeRef::single(&current.name)));
                    let result = self.expr(vars);
                    vars.pop();
                    result?;
                    self.expect(&Tok::RParen)?;
                }
                current = TypeRef::single("Edm.Boolean");
                continue;
            }
            current = self.md.member_step(&current, &seg, &text, self.option)?.0;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::OnceLock;

    const ID: &str = "3b280e9f-a116-499a-bebc-fb9ccae627b7";

    fn md() -> &'static Metadata {
        static MD: OnceLock<Metadata> = OnceLock::new();
        MD.get_or_init(|| {
            // Relative to the crate rather than an absolute checkout path, so CI's fresh clone
            // finds its own fixtures copy.
            let path = std::env::var("GRAPH_METADATA").unwrap_or_else(|_| {
                concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/fixtures/graph/graph-v1.0-metadata.xml"
                )
                .to_string()
            });
            let xml = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("reading Graph metadata {path}: {e}"));
            Metadata::parse(&xml).unwrap_or_else(|e| panic!("parsing {path}: {e}"))
        })
    }

    fn ok(method: &str, target: &str) {
        if let Err(e) = md().check(method, target) {
            panic!("{method} {target} should resolve: {e}");
        }
    }

    fn bad(method: &str, target: &str, must_name: &str) {
        match md().check(method, target) {
            Ok(()) => panic!("{method} {target} should be rejected"),
            Err(e) => assert!(
                e.contains(must_name),
                "{method} {target}: error should name '{must_name}': {e}"
            ),
        }
    }

    #[test]
    fn requests_the_tool_sends_resolve() {
        let em = "/identityGovernance/entitlementManagement";
        ok(
            "GET",
            &format!("{em}/accessPackages?$expand=resourceRoleScopes($expand=role,scope)"),
        );
        ok("GET", &format!("{em}/assignments?$filter=state eq 'Delivered'&$expand=target,accessPackage&$select=id,state,status,schedule,target,accessPackage"));
        ok(
            "GET",
            &format!(
                "{em}/assignments?$filter=accessPackage/id eq '{ID}' and state eq 'Delivered'"
            ),
        );
        ok("GET", &format!("{em}/assignmentRequests?$filter=state eq 'deliveryFailed'&$expand=assignment($expand=target)"));
        ok("POST", &format!("{em}/assignments/{ID}/reprocess"));
        ok("POST", &format!("{em}/assignmentRequests/{ID}/reprocess"));
        ok("POST", &format!("{em}/assignmentRequests"));
        ok(
            "GET",
            "/users?$select=id,displayName,userPrincipalName,accountEnabled,userType",
        );
        ok("GET", &format!("/groups/{ID}/members?$select=id"));
        ok("GET", &format!("/groups/{ID}/owners"));
        ok(
            "DELETE",
            &format!("/groups/{ID}/members/3b280e9f-a116-499a-bebc-fb9ccae627b8/$ref"),
        );
        ok(
            "GET",
            &format!("/servicePrincipals/{ID}/appRoleAssignedTo?$select=id,principalId,appRoleId"),
        );
        ok(
            "DELETE",
            &format!("/servicePrincipals/{ID}/appRoleAssignedTo/abc"),
        );
        ok("GET", "/auditLogs/directoryAudits?$filter=activityDateTime ge 2026-11-01T00:00:00Z and (activityDisplayName eq 'Add member to group' or activityDisplayName eq 'Remove service principal')&$top=999");
        ok(
            "GET",
            "/auditLogs/directoryAudits?$filter=targetResources/any(t: t/id eq 'x')",
        );
        ok(
            "GET",
            "/roleManagement/directory/roleAssignments?$filter=roleDefinitionId eq 'x'&$expand=principal",
        );
        ok(
            "GET",
            "/roleManagement/directory/roleEligibilitySchedules?$filter=roleDefinitionId eq 'x'",
        );
        ok("POST", &format!("/users/{ID}/sendMail"));
        ok("GET", "/organization?$select=id,displayName");
        ok("POST", "/$batch");
        ok(
            "GET",
            "/groups?$filter=id in ('a','b')&$select=id,displayName",
        );
    }

    #[test]
    fn encoded_and_other_valid_forms_resolve() {
        ok("GET", "/identityGovernance/entitlementManagement/assignments?$filter=state%20eq%20'Delivered'&$expand=target,accessPackage");
        ok("GET", "/v1.0/users?%24select=id");
        ok(
            "GET",
            "https://graph.microsoft.com/v1.0/groups/x/members/microsoft.graph.user?$select=displayName",
        );
        ok("GET", "/groups/x/members/$count");
        ok("POST", "/groups/x/members/$ref");
        ok("GET", "/groups('x')/owners");
        ok(
            "POST",
            &format!("/identityGovernance/entitlementManagement/assignments/{ID}/microsoft.graph.reprocess"),
        );
        ok("GET", "/users/delta()");
        ok("POST", &format!("/users/{ID}/graph.sendMail"));
        ok("GET", "/users/x/manager");
        ok("DELETE", "/users/x/manager/$ref");
        ok("PATCH", "/users/x");
        ok("GET", "/$metadata");
        ok(
            "GET",
            "/groups?$filter=groupTypes/any(c:c eq 'Unified') and startswith(displayName,'a''b')&$orderby=displayName desc&$count=true",
        );
        ok(
            "GET",
            &format!("/servicePrincipals?$filter=appRoles/any(r: r/id eq {ID}) and not(accountEnabled eq false)"),
        );
        ok(
            "GET",
            "/identityGovernance/entitlementManagement/accessPackages?$expand=resourceRoleScopes($expand=role($select=id,displayName),scope;$top=5)",
        );
        ok(
            "GET",
            "/users?$select=id,extension_0123456789abcdef_costCenter",
        );
    }

    #[test]
    fn bad_requests_are_rejected_naming_the_part() {
        bad("GET", "/widgets", "widgets");
        bad("GET", "/groups/x/fans", "fans");
        bad("GET", "/users?$select=id,shoeSize", "shoeSize");
        bad(
            "GET",
            "/identityGovernance/entitlementManagement/assignments?$filter=colour eq 'red'",
            "colour",
        );
        bad(
            "GET",
            "/identityGovernance/entitlementManagement/assignments?$expand=target,bananas",
            "bananas",
        );
        bad(
            "GET",
            "/identityGovernance/entitlementManagement/assignments/x/reprocess",
            "action microsoft.graph.reprocess",
        );
        bad("GET", "/users?$frobnicate=1", "$frobnicate");
        bad("GET", "/users?select=id", "select");
        bad("POST", "/users/x/reprocess", "reprocess");
        bad(
            "GET",
            "/identityGovernance/entitlementManagement/accessPackages?$expand=resourceRoleScopes($expand=role,sceptre)",
            "sceptre",
        );
        bad(
            "GET",
            "/auditLogs/directoryAudits?$filter=targetResources/any(t: t/colour eq 'x')",
            "colour",
        );
        bad("GET", "/users?$orderby=shoeSize desc", "shoeSize");
        bad(
            "GET",
            "/users/x/microsoft.graph.group",
            "microsoft.graph.group",
        );
        bad(
            "GET",
            "/identityGovernance/entitlementManagement/assignments/x/microsoft.graph.reprocess",
            "action microsoft.graph.reprocess",
        );
        bad("POST", "/users/delta()", "function microsoft.graph.delta");
        bad("GET", "/groups/members", "members");
        bad("PATCH", "/groups/x/members/$ref", "PATCH");
        bad("DELETE", "/users", "DELETE");
        bad("POST", "/users/x", "POST");
        bad("GET", "/users/$ref", "$ref");
        bad(
            "GET",
            "/users?$filter=displayName eq 'unterminated",
            "unterminated",
        );
        bad("GET", "/users?$expand=manager(", "unbalanced");
        bad("GET", "/users/%zz", "percent");
        bad("GET", "", "empty");
    }

    #[test]
    fn properties_and_path_types() {
        let m = md();
        assert!(m.has_property("microsoft.graph.accessPackageAssignment", "state"));
        assert!(!m.has_property("microsoft.graph.accessPackageAssignment", "nonsense"));
        assert!(
            m.has_property("microsoft.graph.user", "id"),
            "inherited from entity"
        );
        assert!(m.has_property("microsoft.graph.group", "members"));
        assert_eq!(
            m.resolve_path("/groups/x/members").as_deref(),
            Ok("microsoft.graph.directoryObject")
        );
        assert_eq!(
            m.resolve_path("/identityGovernance/entitlementManagement/assignments/x")
                .as_deref(),
            Ok("microsoft.graph.accessPackageAssignment")
        );
        assert!(m.resolve_path("/groups/x/members/$ref").is_err());
        assert!(m.resolve_path("/nothing").is_err());
    }

    #[test]
    fn hostile_input_is_an_error_not_a_panic() {
        assert!(Metadata::parse("").is_err());
        assert!(Metadata::parse("<not-closed").is_err());
        assert!(Metadata::parse("<a></b>").is_err());
        let m = md();
        for target in [
            "/users?$filter=",
            "/users?$filter=(((",
            "/users?$filter=a/",
            "/users?$filter=x/any(",
            "/users?$expand=(",
            "/users?$select=,",
            "/users/%",
            "/users/%e2%82",
            "/users?$filter=é eq 'ü'",
            "/users?$orderby= desc",
            "/users()/x",
            "/users/x/)(",
            "/$batch/x",
            "//",
        ] {
            let _ = m.check("GET", target);
            let _ = m.resolve_path(target);
        }
    }
}
