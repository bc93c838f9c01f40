//! lower: the function values of this module as a tag and their settings
//! (JSON), and back. A plan sent to another process (a Ballista scheduler
//! or executor) must carry each function with its settings: sent by name,
//! the receiver would use its own instance of that name, with other
//! settings (another funnel window, time zone or percentile budget) or,
//! for names DataFusion also uses (`round`), DataFusion's function.
//! `engine::portable` frames these as bytes, with engine's own functions.

use super::lists::{grouped, spec_of};
use super::{active, credit, funnel, pattern, percentile, retention, round, running, wall};
use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::{AggregateUDF, ScalarUDF, WindowUDF};
use serde_json::{Value, json};
use std::sync::Arc;

/// The tag and settings of aggregate `u`, when it is one of these.
pub fn udaf_parts(u: &AggregateUDF) -> Option<(&'static str, Value)> {
    let grouped = [
        (active::ACTIVE, spec_of::<active::Active>(u)),
        (funnel::FUNNEL, spec_of::<funnel::Funnel>(u)),
        (pattern::SEQUENCE, spec_of::<pattern::Sequence>(u)),
        (retention::RETENTION, spec_of::<retention::Retention>(u)),
        (running::RUNNING, spec_of::<running::Running>(u)),
    ];
    if let Some((tag, Some(spec))) = grouped.into_iter().find(|(_, s)| s.is_some()) {
        return Some((tag, json!({ "spec": spec })));
    }
    if let Some(budget) = percentile::percentile_budget(u) {
        return Some((percentile::PERCENTILE, json!({ "budget": budget })));
    }
    if let Some(budget) = percentile::percentiles_budget(u) {
        return Some((percentile::PERCENTILES, json!({ "budget": budget })));
    }
    None
}

/// The aggregate of `tag` with `settings`; `None` for a tag not of these.
pub fn udaf_of(tag: &str, settings: &Value) -> Option<Result<Arc<AggregateUDF>>> {
    let spec = || -> Result<String> {
        match settings.get("spec").and_then(Value::as_str) {
            Some(s) => Ok(s.to_string()),
            None => plan_err!("{tag} came without its spec"),
        }
    };
    let budget = || {
        settings
            .get("budget")
            .and_then(Value::as_u64)
            .map(|b| b as usize)
    };
    Some(match tag {
        active::ACTIVE => spec().map(grouped::<active::Active>),
        funnel::FUNNEL => spec().map(grouped::<funnel::Funnel>),
        pattern::SEQUENCE => spec().map(grouped::<pattern::Sequence>),
        retention::RETENTION => spec().map(grouped::<retention::Retention>),
        running::RUNNING => spec().map(grouped::<running::Running>),
        percentile::PERCENTILE => Ok(match budget() {
            Some(b) => percentile::bounded_percentile(b),
            None => percentile::unbounded_percentile(),
        }),
        percentile::PERCENTILES => Ok(percentile::shared_percentiles(budget())),
        _ => return None,
    })
}

/// The tag and settings of scalar function `u`, when it is one of these.
pub fn udf_parts(u: &ScalarUDF) -> Option<(&'static str, Value)> {
    if let Some(tz) = wall::zone_of(u) {
        return Some((wall::LOCAL_TIME, json!({ "tz": tz.name() })));
    }
    round::is_round(u).then_some((ROUND, Value::Null))
}

/// The tag of metricc's `round`, which shares DataFusion's name.
const ROUND: &str = "metricc_round";

/// The scalar function of `tag` with `settings`; `None` for a tag not of these.
pub fn udf_of(tag: &str, settings: &Value) -> Option<Result<Arc<ScalarUDF>>> {
    Some(match tag {
        wall::LOCAL_TIME => match settings.get("tz").and_then(Value::as_str).map(str::parse) {
            Some(Ok(tz)) => Ok(wall::local_time_udf(tz)),
            _ => plan_err!("{tag} came without a known time zone: {settings}"),
        },
        ROUND => Ok(round::round()),
        _ => return None,
    })
}

/// The tag and settings of window function `u`, when it is one of these.
pub fn udwf_parts(u: &WindowUDF) -> Option<(&'static str, Value)> {
    let (keys, names) = credit::credit_parts(u)?;
    Some((credit::CREDIT, json!({ "keys": keys, "names": names })))
}

/// The window function of `tag` with `settings`; `None` for a tag not of these.
pub fn udwf_of(tag: &str, settings: &Value) -> Option<Result<Arc<WindowUDF>>> {
    if tag != credit::CREDIT {
        return None;
    }
    let keys = settings.get("keys").and_then(Value::as_u64);
    let names: Option<Vec<String>> = settings
        .get("names")
        .and_then(|n| serde_json::from_value(n.clone()).ok());
    Some(match (keys, names) {
        (Some(k), Some(n)) => Ok(credit::credit(k as usize, n)),
        _ => plan_err!("{tag} came without its keys and value names: {settings}"),
    })
}
