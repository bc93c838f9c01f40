//! lower: what metricc's per-entity aggregates share: one
//! `AggregateUDFImpl` for all of them ([`Grouped`]), list-of-struct states
//! and results, specs carried as JSON inside the function value, and
//! interned tuples of breakdown values.

use datafusion::arrow::array::{Array, ArrayRef, AsArray, ListArray, StructArray};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields};
use datafusion::common::{Result, exec_err, not_impl_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Expr, GroupsAccumulator, Signature, Volatility,
};
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;

/// What one of metricc's grouped aggregates states of its own; [`Grouped`]
/// is the function value for all of them. They run only grouped (by entity
/// or breakdown values), keep one list-of-struct state column, and take
/// their settings from a spec, not from arguments.
pub(super) trait GroupedAggregate:
    std::fmt::Debug + PartialEq + Eq + std::hash::Hash + Default + Send + Sync + 'static
{
    /// The name in plans.
    const NAME: &'static str;
    /// The settings, carried as JSON in the function value.
    type Spec: serde::Serialize + DeserializeOwned;
    /// The result type for arguments of `types`. The spec comes as its
    /// JSON, parsed only by an aggregate whose type depends on it: planning
    /// asks for the type many times, and a spec can list every bucket.
    fn return_type(spec: &str, types: &[DataType]) -> Result<DataType>;
    /// The type of the one state column.
    fn state_type() -> DataType;
    /// The accumulator of a call with `args`.
    fn groups(spec: Self::Spec, args: AccumulatorArgs) -> Result<Box<dyn GroupsAccumulator>>;
}

/// `A` as a DataFusion aggregate with one spec. The settings live in the
/// function value (as JSON), not in an argument, because DataFusion turns a
/// literal argument into an array of one copy per row before an aggregate
/// sees it (with a spec listing every bucket, megabytes per batch).
#[derive(Debug, PartialEq, Eq, Hash)]
pub(super) struct Grouped<A> {
    spec: String,
    signature: Signature,
    aggregate: PhantomData<A>,
}

/// Aggregate `A` with a spec already written as JSON.
pub(super) fn grouped<A: GroupedAggregate>(spec: String) -> Arc<AggregateUDF> {
    Arc::new(AggregateUDF::from(Grouped::<A> {
        spec,
        signature: Signature::variadic_any(Volatility::Immutable),
        aggregate: PhantomData,
    }))
}

/// The spec (JSON) of `u`, when it is aggregate `A`.
pub(super) fn spec_of<A: GroupedAggregate>(u: &AggregateUDF) -> Option<&str> {
    (u.inner().as_ref() as &dyn std::any::Any)
        .downcast_ref::<Grouped<A>>()
        .map(|g| g.spec.as_str())
}

/// The call of aggregate `A` with `spec` on `args`.
pub(super) fn call<A: GroupedAggregate>(spec: &A::Spec, args: Vec<Expr>) -> Expr {
    let udaf = Grouped::<A> {
        spec: json(spec),
        signature: Signature::variadic_any(Volatility::Immutable),
        aggregate: PhantomData,
    };
    Arc::new(AggregateUDF::from(udaf)).call(args)
}

impl<A: GroupedAggregate> AggregateUDFImpl for Grouped<A> {
    fn name(&self) -> &str {
        A::NAME
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, types: &[DataType]) -> Result<DataType> {
        A::return_type(&self.spec, types)
    }
    fn accumulator(&self, _: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        not_impl_err!("{} runs grouped only", A::NAME)
    }
    fn state_fields(&self, _: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new("events", A::state_type(), true))])
    }
    fn groups_accumulator_supported(&self, _: AccumulatorArgs) -> bool {
        true
    }
    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        A::groups(parse(&self.spec, A::NAME)?, args)
    }
}

pub(super) fn list_of(fields: Fields) -> DataType {
    DataType::List(Arc::new(Field::new_list_field(
        DataType::Struct(fields),
        true,
    )))
}

/// A spec as the JSON a function value carries.
pub(super) fn json<T: serde::Serialize>(spec: &T) -> String {
    serde_json::to_string(spec).unwrap_or_default()
}

/// The spec of function `name` from its JSON.
pub(super) fn parse<T: DeserializeOwned>(spec: &str, name: &str) -> Result<T> {
    serde_json::from_str::<T>(spec).or_else(|e| exec_err!("{name}: bad spec: {e}"))
}

/// The list lengths of an emission of `groups` rows that returns `items`
/// totals over all of them: every item on the first row, empty lists on
/// the others (summed over emissions by the plan, not per row). `name`
/// and `what` say whose items, should there be items and no row.
pub(super) fn on_first_row(
    groups: usize,
    items: usize,
    name: &str,
    what: &str,
) -> Result<Vec<usize>> {
    let mut lengths = vec![0; groups];
    match lengths.first_mut() {
        Some(first) => *first = items,
        None if items > 0 => return exec_err!("{name}: {what} without an entity"),
        None => {}
    }
    Ok(lengths)
}

pub(super) fn list(
    fields: Fields,
    columns: Vec<ArrayRef>,
    lengths: Vec<usize>,
) -> Result<ArrayRef> {
    let structs = StructArray::try_new(fields.clone(), columns, None)?;
    Ok(Arc::new(ListArray::try_new(
        Arc::new(Field::new_list_field(DataType::Struct(fields), true)),
        OffsetBuffer::from_lengths(lengths),
        Arc::new(structs),
        None,
    )?))
}

/// The state lists of a merge, one per row: each non-null list with the
/// group it merges into.
pub(super) fn merged<'a>(
    values: &'a [ArrayRef],
    group_indices: &'a [usize],
) -> impl Iterator<Item = (usize, ArrayRef)> + 'a {
    let lists = values[0].as_list::<i32>();
    group_indices
        .iter()
        .enumerate()
        .filter(move |(row, _)| lists.is_valid(*row))
        .map(move |(row, group)| (*group, lists.value(row)))
}

/// Tuples of optional strings, each kept once, as `u32` ids.
#[derive(Debug, Default)]
pub(super) struct Interner {
    ids: HashMap<String, u32>,
    pub(super) values: Vec<String>,
    /// Approximate heap bytes held.
    bytes: usize,
}

impl Interner {
    pub(super) fn id(&mut self, key: &str) -> u32 {
        if let Some(id) = self.ids.get(key) {
            return *id;
        }
        let id = self.values.len() as u32;
        self.values.push(key.to_string());
        self.ids.insert(key.to_string(), id);
        self.bytes += 2 * key.len() + 64;
        id
    }

    /// Two ids compared as [`Interner::ranks`] orders them.
    pub(super) fn cmp(&self, a: u32, b: u32) -> std::cmp::Ordering {
        if a == b {
            return std::cmp::Ordering::Equal;
        }
        split_key(&self.values[a as usize]).cmp(&split_key(&self.values[b as usize]))
    }

    /// Rank of each id in the order of the values (the engine's tie order).
    pub(super) fn ranks(&self) -> (Vec<u32>, Vec<u32>) {
        let mut order: Vec<u32> = (0..self.values.len() as u32).collect();
        // By the values themselves (null first), not their encoded keys.
        let keys: Vec<Vec<Option<&str>>> = self.values.iter().map(|v| split_key(v)).collect();
        order.sort_by(|a, b| keys[*a as usize].cmp(&keys[*b as usize]));
        let mut rank = vec![0; order.len()];
        for (r, id) in order.iter().enumerate() {
            rank[*id as usize] = r as u32;
        }
        (rank, order)
    }

    pub(super) fn size(&self) -> usize {
        self.bytes
    }
}

/// Appends one value of a tuple key: `N` for null, `S<len>:<text>` otherwise,
/// so no text can be mistaken for another tuple.
pub(super) fn push_key(key: &mut String, v: Option<&str>) {
    match v {
        None => key.push('N'),
        Some(s) => {
            key.push('S');
            key.push_str(&s.len().to_string());
            key.push(':');
            key.push_str(s);
        }
    }
}

/// The values of a tuple key, in order.
pub(super) fn split_key(mut key: &str) -> Vec<Option<&str>> {
    let mut out = Vec::new();
    loop {
        if let Some(rest) = key.strip_prefix('N') {
            out.push(None);
            key = rest;
        } else if let Some(rest) = key.strip_prefix('S') {
            let Some((len, rest)) = rest.split_once(':') else {
                break;
            };
            let len = len.parse::<usize>().unwrap_or(0).min(rest.len());
            if !rest.is_char_boundary(len) {
                break;
            }
            out.push(Some(&rest[..len]));
            key = &rest[len..];
        } else {
            break;
        }
    }
    out
}
