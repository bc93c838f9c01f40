//! lower: the time rules. Local wall-clock time in the project's time zone,
//! calendar buckets, the half-open query range, and the bucket spine.
//!
//! Every bucket rule works on local wall-clock time (a timestamp without a
//! zone), where a calendar day is always `00:00` to the next `00:00` however
//! many real hours it holds (23 or 25 on daylight-saving days). Instants are
//! turned into wall-clock time once, per row, and never back.

use crate::syntax::ast::{Grain, Offset, Weekday};
use chrono::{Datelike, Days, Months, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike};
use chrono_tz::Tz;
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::ScalarValue;
use datafusion::functions::expr_fn::date_trunc;
use datafusion::logical_expr::{Expr, cast, lit};

/// The most buckets one query may ask for (checked when the query is
/// resolved; over 100 years by hour).
pub use crate::semantic::query::MAX_BUCKETS;

pub use crate::semantic::query::Range;

/// One bucket of the spine: the wall-clock period starting at `start` (its
/// key: the whole period's start, even when the range begins later) and
/// ending at `end`, clipped to the query range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    pub start: NaiveDateTime,
    pub end: NaiveDateTime,
}

/// The start of the period of `grain` holding wall-clock time `t`.
pub fn truncate(grain: Grain, week_start: Weekday, t: NaiveDateTime) -> NaiveDateTime {
    let d = t.date();
    let midnight = |d: NaiveDate| d.and_time(NaiveTime::MIN);
    match grain {
        Grain::Hour => d.and_hms_opt(t.hour(), 0, 0).expect("valid hour"),
        Grain::Day => midnight(d),
        Grain::Week => {
            let back = (d.weekday().num_days_from_monday() + 7 - weekday_index(week_start)) % 7;
            midnight(d - Days::new(back.into()))
        }
        Grain::Month => midnight(d.with_day(1).expect("day 1")),
        Grain::Quarter => {
            let m = (d.month0() / 3) * 3 + 1;
            midnight(NaiveDate::from_ymd_opt(d.year(), m, 1).expect("quarter start"))
        }
        Grain::Year => midnight(NaiveDate::from_ymd_opt(d.year(), 1, 1).expect("year start")),
    }
}

/// The start of the period after the one starting at `start`.
pub fn next(grain: Grain, start: NaiveDateTime) -> Option<NaiveDateTime> {
    match grain {
        Grain::Hour => start.checked_add_signed(chrono::Duration::hours(1)),
        Grain::Day => start.checked_add_days(Days::new(1)),
        Grain::Week => start.checked_add_days(Days::new(7)),
        Grain::Month => start.checked_add_months(Months::new(1)),
        Grain::Quarter => start.checked_add_months(Months::new(3)),
        Grain::Year => start.checked_add_months(Months::new(12)),
    }
}

/// Wall-clock time `t` moved back by a calendar offset: hours and days as
/// wall-clock time (a day is `00:00` to `00:00` across a daylight-saving
/// change), months as calendar months (the 31st of a month moved back one
/// month is the last day of the month before). `None` past the calendar.
pub fn move_back(t: NaiveDateTime, o: Offset) -> Option<NaiveDateTime> {
    let n = u64::from(o.count);
    match o.unit {
        Grain::Hour => t.checked_sub_signed(chrono::Duration::hours(i64::from(o.count))),
        Grain::Day => t.checked_sub_days(Days::new(n)),
        Grain::Week => t.checked_sub_days(Days::new(7 * n)),
        Grain::Month => t.checked_sub_months(Months::new(o.count)),
        Grain::Quarter => t.checked_sub_months(Months::new(o.count.checked_mul(3)?)),
        Grain::Year => t.checked_sub_months(Months::new(o.count.checked_mul(12)?)),
    }
}

/// A calendar offset as an interval that moves wall-clock times forward
/// the way [`move_back`] moves them back.
pub fn offset_interval(o: Offset) -> ScalarValue {
    use datafusion::arrow::datatypes::IntervalMonthDayNano;
    let n = o.count as i32;
    let (months, days, nanoseconds) = match o.unit {
        Grain::Hour => (0, 0, i64::from(o.count) * 3_600_000_000_000),
        Grain::Day => (0, n, 0),
        Grain::Week => (0, n.saturating_mul(7), 0),
        Grain::Month => (n, 0, 0),
        Grain::Quarter => (n.saturating_mul(3), 0, 0),
        Grain::Year => (n.saturating_mul(12), 0, 0),
    };
    ScalarValue::IntervalMonthDayNano(Some(IntervalMonthDayNano {
        months,
        days,
        nanoseconds,
    }))
}

/// Days from Monday: Monday 0 .. Sunday 6.
pub fn weekday_index(w: Weekday) -> u32 {
    match w {
        Weekday::Monday => 0,
        Weekday::Tuesday => 1,
        Weekday::Wednesday => 2,
        Weekday::Thursday => 3,
        Weekday::Friday => 4,
        Weekday::Saturday => 5,
        Weekday::Sunday => 6,
    }
}

/// The buckets covering `range`: whole calendar periods, the first and last
/// clipped to the range. `None` asks for one bucket, the range itself. An
/// hour skipped by a spring-forward change in `tz` has no bucket.
pub fn spine(
    grain: Option<Grain>,
    week_start: Weekday,
    tz: Tz,
    range: Range,
) -> Result<Vec<Bucket>, String> {
    let Some(grain) = grain else {
        return Ok(vec![Bucket {
            start: range.from,
            end: range.to,
        }]);
    };
    let mut out = Vec::new();
    let mut start = truncate(grain, week_start, range.from);
    while start < range.to {
        let end = next(grain, start).ok_or("the range reaches past the calendar's end")?;
        let exists = grain != Grain::Hour || tz.from_local_datetime(&start).earliest().is_some();
        if exists {
            out.push(Bucket {
                start,
                end: end.min(range.to),
            });
        }
        if out.len() > MAX_BUCKETS {
            return Err(format!(
                "the range holds more than {MAX_BUCKETS} {} buckets",
                grain.as_str()
            ));
        }
        start = end;
    }
    Ok(out)
}

/// The instant at which wall-clock time `t` begins in `tz`, as microseconds
/// since the epoch. A time skipped by a spring-forward change begins when the
/// gap ends; a time repeated by a fall-back change begins at its first
/// occurrence.
pub fn local_to_utc_micros(tz: Tz, t: NaiveDateTime) -> i64 {
    let mut probe = t;
    // Gaps are at most a few hours; step forward by minutes until time exists.
    for _ in 0..(48 * 60) {
        if let Some(dt) = tz.from_local_datetime(&probe).earliest() {
            return dt.timestamp_micros();
        }
        probe = truncate_minute(probe) + chrono::Duration::minutes(1);
    }
    t.and_utc().timestamp_micros()
}

fn truncate_minute(t: NaiveDateTime) -> NaiveDateTime {
    t.with_second(0)
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(t)
}

/// Microseconds since the epoch of a wall-clock time, taken as if it were UTC:
/// the representation of local times in plans.
pub fn wall_micros(t: NaiveDateTime) -> i64 {
    t.and_utc().timestamp_micros()
}

/// A wall-clock time as a literal of the plans' local-time type.
pub fn wall_lit(t: NaiveDateTime) -> Expr {
    lit(ScalarValue::TimestampMicrosecond(
        Some(wall_micros(t)),
        None,
    ))
}

/// A calendar date as a `Date32` value.
pub fn date_value(d: NaiveDate) -> ScalarValue {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch");
    ScalarValue::Date32(Some(d.signed_duration_since(epoch).num_days() as i32))
}

/// The plans' local-time type: microseconds, no zone.
pub const LOCAL: DataType = DataType::Timestamp(TimeUnit::Microsecond, None);

/// The wall-clock time of a time column of type `ty`. Timestamps with a zone
/// are instants; timestamps without one are read as UTC instants; dates are
/// already local calendar days and become their midnight.
pub fn local_time(column: Expr, ty: &DataType, tz: Tz) -> Expr {
    match ty {
        DataType::Date32 | DataType::Date64 => cast(column, LOCAL),
        // A timestamp without zone in a UTC project: the number itself. Not
        // through a cast to a zoned type, which converts each row with the
        // time-zone library (a fifth of a per-day aggregate's time).
        DataType::Timestamp(_, None) if tz == Tz::UTC => cast(column, LOCAL),
        DataType::Timestamp(_, zone) => {
            let utc = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
            let instant = match zone {
                Some(_) => cast(column, utc),
                // A timestamp without zone: same number, read as UTC.
                None => cast(cast(column, LOCAL), utc),
            };
            if tz == Tz::UTC {
                // Wall-clock time in UTC is the instant itself.
                return cast(instant, LOCAL);
            }
            let zoned = DataType::Timestamp(TimeUnit::Microsecond, Some(tz.name().into()));
            super::functions::wall::local_time(tz, cast(instant, zoned))
        }
        // The front end only accepts timestamp and date time columns.
        other => cast(column, other.clone()),
    }
}

/// Whether a time column of type `ty` holds dates (local days, no instant).
pub fn is_date(ty: &DataType) -> bool {
    matches!(ty, DataType::Date32 | DataType::Date64)
}

/// A time column as Int64 microseconds of the instant since the epoch. A
/// date is its wall-clock midnight (so windows on dates count local days).
pub fn instant_micros(column: Expr, ty: &DataType, tz: Tz) -> datafusion::common::Result<Expr> {
    match ty {
        DataType::Date32 | DataType::Date64 => {
            Ok(cast(local_time(column, ty, tz), DataType::Int64))
        }
        DataType::Timestamp(_, zone) => Ok(cast(
            cast(
                column,
                DataType::Timestamp(TimeUnit::Microsecond, zone.clone()),
            ),
            DataType::Int64,
        )),
        other => datafusion::common::internal_err!("a time column of type {other}"),
    }
}

/// A time column as Int64 microseconds of its local wall-clock time.
pub fn wall_micros_of(column: Expr, ty: &DataType, tz: Tz) -> Expr {
    cast(local_time(column, ty, tz), DataType::Int64)
}

/// The bucket start of a wall-clock time expression.
pub fn bucket(grain: Grain, week_start: Weekday, local: Expr) -> Expr {
    let unit = |u: &str| lit(u.to_string());
    match grain {
        Grain::Week if week_start != Weekday::Monday => {
            // Shift so the week starts on Monday, truncate, shift back.
            let shift = (7 - weekday_index(week_start)) % 7;
            let days = lit(ScalarValue::new_interval_mdn(0, shift as i32, 0));
            date_trunc(unit("week"), local + days.clone()) - days
        }
        g => date_trunc(unit(g.as_str()), local),
    }
}

/// Whether a time column of type `ty` lies in `range`, written on the raw
/// column so Parquet statistics can skip row groups.
pub fn in_range(
    column: Expr,
    ty: &DataType,
    tz: Tz,
    from: Option<NaiveDateTime>,
    to: NaiveDateTime,
) -> Expr {
    let bound = |t: NaiveDateTime| -> Expr {
        match ty {
            DataType::Date32 | DataType::Date64 => {
                // A date's rows sit at its midnight: the first date at or after t.
                let d = if t.time() == NaiveTime::MIN {
                    t.date()
                } else {
                    t.date() + Days::new(1)
                };
                cast(lit(date_value(d)), ty.clone())
            }
            DataType::Timestamp(unit, zone) => {
                let us = local_to_utc_micros(tz, t);
                let v = match unit {
                    TimeUnit::Second => {
                        ScalarValue::TimestampSecond(Some(us.div_euclid(1_000_000)), zone.clone())
                    }
                    TimeUnit::Millisecond => {
                        ScalarValue::TimestampMillisecond(Some(us.div_euclid(1_000)), zone.clone())
                    }
                    TimeUnit::Microsecond => {
                        ScalarValue::TimestampMicrosecond(Some(us), zone.clone())
                    }
                    TimeUnit::Nanosecond => ScalarValue::TimestampNanosecond(
                        Some(us.saturating_mul(1_000)),
                        zone.clone(),
                    ),
                };
                lit(v)
            }
            _ => lit(ScalarValue::Null),
        }
    };
    let upper = column.clone().lt(bound(to));
    match from {
        Some(f) => column.gt_eq(bound(f)).and(upper),
        None => upper,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    #[test]
    fn weeks_start_on_the_configured_day() {
        // 2026-01-07 is a Wednesday.
        let wed = t("2026-01-07 10:00");
        assert_eq!(
            truncate(Grain::Week, Weekday::Monday, wed),
            t("2026-01-05 00:00")
        );
        assert_eq!(
            truncate(Grain::Week, Weekday::Sunday, wed),
            t("2026-01-04 00:00")
        );
        assert_eq!(
            truncate(Grain::Week, Weekday::Wednesday, wed),
            t("2026-01-07 00:00")
        );
        assert_eq!(
            truncate(Grain::Week, Weekday::Thursday, wed),
            t("2026-01-01 00:00")
        );
    }

    #[test]
    fn quarters_and_years() {
        assert_eq!(
            truncate(Grain::Quarter, Weekday::Monday, t("2026-08-31 23:59")),
            t("2026-07-01 00:00")
        );
        assert_eq!(
            truncate(Grain::Year, Weekday::Monday, t("2026-08-31 23:59")),
            t("2026-01-01 00:00")
        );
    }

    #[test]
    fn spine_clips_first_and_last_bucket() {
        let r = Range {
            from: t("2026-01-07 00:00"),
            to: t("2026-01-20 00:00"),
        };
        let weeks = spine(Some(Grain::Week), Weekday::Monday, Tz::UTC, r).unwrap();
        assert_eq!(weeks.len(), 3);
        assert_eq!(
            weeks[0],
            Bucket {
                start: t("2026-01-05 00:00"),
                end: t("2026-01-12 00:00")
            }
        );
        assert_eq!(
            weeks[2],
            Bucket {
                start: t("2026-01-19 00:00"),
                end: t("2026-01-20 00:00")
            }
        );
    }

    #[test]
    fn spring_forward_hour_has_no_bucket() {
        let ny: Tz = "America/New_York".parse().unwrap();
        let r = Range {
            from: t("2026-03-08 00:00"),
            to: t("2026-03-08 05:00"),
        };
        let hours: Vec<u32> = spine(Some(Grain::Hour), Weekday::Monday, ny, r)
            .unwrap()
            .iter()
            .map(|b| b.start.hour())
            .collect();
        assert_eq!(hours, vec![0, 1, 3, 4]);
    }

    #[test]
    fn local_midnight_to_instant_across_dst() {
        let ny: Tz = "America/New_York".parse().unwrap();
        // 2026-03-08 is 23 hours long in New York: midnight is 05:00Z, the next 04:00Z.
        let a = local_to_utc_micros(ny, t("2026-03-08 00:00"));
        let b = local_to_utc_micros(ny, t("2026-03-09 00:00"));
        assert_eq!((b - a) / 3_600_000_000, 23);
        // 02:30 does not exist that day: it starts when the gap ends, 03:00 EDT = 07:00Z.
        let gap = local_to_utc_micros(ny, t("2026-03-08 02:30"));
        assert_eq!(gap, t("2026-03-08 07:00").and_utc().timestamp_micros());
        // 01:30 on 2026-11-01 happens twice: the first is 05:30Z.
        let twice = local_to_utc_micros(ny, t("2026-11-01 01:30"));
        assert_eq!(twice, t("2026-11-01 05:30").and_utc().timestamp_micros());
    }
}
