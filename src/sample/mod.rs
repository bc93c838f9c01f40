//! `metricc sample-data`: a deterministic generator of the API-product data
//! behind the example catalog. Rows stream to Parquet in batches, so memory
//! stays bounded whatever the size.

mod rng;
mod table;

use rng::Rng;
use std::path::Path;
use table::{Kind, Table, Val};

/// What to generate.
#[derive(Debug, Clone)]
pub struct Options {
    pub developers: u64,
    pub seed: u64,
    /// First day of data (UTC).
    pub start: chrono::NaiveDate,
    pub days: u32,
    /// Mean events per developer, about; `None` keeps the default rate
    /// (about 380 over 120 days).
    pub events_per_developer: Option<f64>,
    /// API calls of one more developer, `dev_heavy` (a bot, a load test, one
    /// customer's production traffic), spread at random over the days; 0
    /// adds none.
    pub heavy_developer_calls: u64,
}

/// Events per developer at the default rate over 120 days, of which about
/// two (the signup, the API key) do not depend on the rate: the figures
/// `events_per_developer` is scaled by, measured on 26,000 developers.
const DEFAULT_EVENTS_PER_DEVELOPER: f64 = 383.0;
const FIXED_EVENTS_PER_DEVELOPER: f64 = 2.0;

/// Rows written per table.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub tables: Vec<(String, u64)>,
}

const CHANNELS: [&str; 5] = ["organic", "search_ads", "social", "referral", "conference"];
const CHANNEL_WEIGHTS: [f64; 5] = [0.4, 0.25, 0.15, 0.1, 0.1];
const SDKS: [&str; 6] = ["python", "node", "go", "java", "ruby", "curl"];
const SDK_WEIGHTS: [f64; 6] = [0.35, 0.3, 0.1, 0.1, 0.05, 0.1];
const ENDPOINTS: [&str; 5] = [
    "/v1/charges",
    "/v1/customers",
    "/v1/refunds",
    "/v1/payouts",
    "/v1/balance",
];
const ENDPOINT_WEIGHTS: [f64; 5] = [0.45, 0.25, 0.1, 0.08, 0.12];
const ENDPOINT_LATENCY_MS: [f64; 5] = [180.0, 60.0, 220.0, 300.0, 40.0];
const COUNTRIES: [&str; 8] = ["US", "IN", "GB", "DE", "BR", "FR", "JP", "CA"];
const COUNTRY_WEIGHTS: [f64; 8] = [0.35, 0.14, 0.11, 0.1, 0.09, 0.08, 0.07, 0.06];
const COMPANY_SIZES: [&str; 5] = ["1-10", "11-50", "51-200", "201-1000", "1000+"];
const COMPANY_SIZE_WEIGHTS: [f64; 5] = [0.45, 0.25, 0.15, 0.1, 0.05];
const PAGES: [&str; 5] = ["/", "/docs", "/docs/quickstart", "/pricing", "/blog"];
/// Day (from the start) of the incident with elevated 5xx errors.
pub const INCIDENT_DAY: i64 = 40;

const MICROS_PER_DAY: i64 = 86_400_000_000;
const MICROS_PER_HOUR: i64 = 3_600_000_000;

/// Writes every sample table into `dir`.
pub fn generate(dir: &Path, opts: &Options) -> std::io::Result<Summary> {
    std::fs::create_dir_all(dir)?;
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
    let start_day = (opts.start - epoch).num_days();
    let start = start_day * MICROS_PER_DAY;
    let end = start + opts.days as i64 * MICROS_PER_DAY;
    let g = Gen {
        root: Rng::new(opts.seed),
        start,
        end,
        start_day,
        days: opts.days as i64,
        rate: opts.events_per_developer.map(|n| {
            (n - FIXED_EVENTS_PER_DEVELOPER).max(0.5)
                / (DEFAULT_EVENTS_PER_DEVELOPER - FIXED_EVENTS_PER_DEVELOPER)
        }),
    };

    let mut page_views = Table::create(
        &dir.join("page_views.parquet"),
        &[
            ("ts", Kind::Ts, false),
            ("visitor_id", Kind::Str, false),
            ("page", Kind::Str, true),
            ("channel", Kind::Str, true),
        ],
    )?;
    let mut events = Table::create(
        &dir.join("events.parquet"),
        &[
            ("ts", Kind::Ts, false),
            ("developer_id", Kind::Str, false),
            ("event", Kind::Str, false),
            ("channel", Kind::Str, true),
            ("sdk", Kind::Str, true),
            ("api_key_id", Kind::Str, true),
            ("endpoint", Kind::Str, true),
            ("status", Kind::I32, true),
            ("latency_ms", Kind::F64, true),
            ("environment", Kind::Str, true),
            ("success", Kind::Bool, true),
            ("from_plan", Kind::Str, true),
            ("to_plan", Kind::Str, true),
        ],
    )?;
    let mut payments = Table::create(
        &dir.join("payments.parquet"),
        &[
            ("paid_at", Kind::Ts, false),
            ("developer_id", Kind::Str, false),
            ("amount", Kind::F64, false),
            ("currency", Kind::Str, false),
            ("kind", Kind::Str, false),
            ("plan", Kind::Str, true),
            ("period", Kind::Date, false),
            ("overage_calls", Kind::I64, true),
        ],
    )?;
    let mut surveys = Table::create(
        &dir.join("survey_answers.parquet"),
        &[
            ("answered_at", Kind::Ts, false),
            ("developer_id", Kind::Str, false),
            ("score", Kind::I32, false),
        ],
    )?;
    let mut tickets = Table::create(
        &dir.join("support_tickets.parquet"),
        &[
            ("opened_at", Kind::Ts, false),
            ("developer_id", Kind::Str, false),
            ("severity", Kind::Str, false),
        ],
    )?;
    // The developers' attributes, one row per version: from the signup on
    // the free plan, and from the day a developer changes plan.
    let mut developers = Table::create(
        &dir.join("developers.parquet"),
        &[
            ("developer_id", Kind::Str, false),
            ("valid_from", Kind::Ts, false),
            ("plan", Kind::Str, false),
            ("country", Kind::Str, false),
            ("company_size", Kind::Str, false),
            ("signup_channel", Kind::Str, false),
            ("visitor_id", Kind::Str, false),
        ],
    )?;
    for d in 0..opts.developers {
        g.developer(
            d,
            &mut page_views,
            &mut events,
            &mut payments,
            &mut surveys,
            &mut tickets,
            &mut developers,
        )?;
    }
    if opts.heavy_developer_calls > 0 {
        g.heavy_developer(opts.heavy_developer_calls, &mut events)?;
    }
    // Visitors who never sign up: about nine per developer.
    for v in 0..opts.developers * 9 {
        let mut r = g.root.fork(1_000_000_000 + v);
        let t = g.random_time(&mut r);
        let channel = CHANNELS[r.weighted(&CHANNEL_WEIGHTS)];
        for k in 0..1 + r.below(3) as i64 {
            let page = PAGES[r.below(PAGES.len() as u64) as usize];
            page_views.push(vec![
                Val::Ts((t + k * 60_000_000).min(g.end - 1)),
                Val::Str(format!("v{v:08}")),
                Val::Str(page.into()),
                Val::Str(channel.into()),
            ])?;
        }
    }
    let mut spend = Table::create(
        &dir.join("marketing_spend.parquet"),
        &[
            ("day", Kind::Date, false),
            ("channel", Kind::Str, false),
            ("amount", Kind::F64, false),
        ],
    )?;
    let scale = opts.developers as f64 / 100.0;
    for day in 0..g.days {
        let mut r = g.root.fork(2_000_000_000 + day as u64);
        for (channel, base) in [
            ("search_ads", 60.0),
            ("social", 35.0),
            ("conference", 15.0),
            ("referral", 8.0),
        ] {
            let amount = (base * scale * (0.7 + 0.6 * r.f64()) * 100.0).round() / 100.0;
            spend.push(vec![
                Val::Date((g.start_day + day) as i32),
                Val::Str(channel.into()),
                Val::F64(amount),
            ])?;
        }
    }
    let mut summary = Summary::default();
    for (name, t) in [
        ("page_views", page_views),
        ("events", events),
        ("payments", payments),
        ("survey_answers", surveys),
        ("support_tickets", tickets),
        ("marketing_spend", spend),
        ("developers", developers),
    ] {
        summary.tables.push((name.to_string(), t.finish()?));
    }
    Ok(summary)
}

struct Gen {
    root: Rng,
    start: i64,
    end: i64,
    start_day: i64,
    days: i64,
    /// Factor on each developer's daily calls; `None` is 1 with the
    /// original rounding, so default files stay byte-identical.
    rate: Option<f64>,
}

/// Weekday activity factor: weekends are quiet.
fn weekday_factor(day_number: i64) -> f64 {
    // 1970-01-01 was a Thursday: day_number % 7 == 2 is Saturday, 3 Sunday.
    match day_number.rem_euclid(7) {
        2 | 3 => 0.35,
        _ => 1.0,
    }
}

impl Gen {
    fn random_time(&self, r: &mut Rng) -> i64 {
        loop {
            let day = r.below(self.days as u64) as i64;
            if r.chance(weekday_factor(self.start_day + day)) {
                let hour = 7.0 + r.f64() * 14.0;
                return self.start + day * MICROS_PER_DAY + (hour * MICROS_PER_HOUR as f64) as i64;
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    /// One developer who signs up in the first hour, creates a key in the
    /// second and then makes `calls` API calls at random times.
    fn heavy_developer(&self, calls: u64, events: &mut Table) -> std::io::Result<()> {
        let mut r = self.root.fork(3_000_000_000);
        let dev = "dev_heavy";
        let signup = self.start + MICROS_PER_HOUR / 2;
        let key_at = signup + MICROS_PER_HOUR;
        let key = "key_heavy_1";
        let row = |ts: i64, event: &str| {
            let mut row = vec![Val::Null; 13];
            row[0] = Val::Ts(ts);
            row[1] = Val::Str(dev.into());
            row[2] = Val::Str(event.into());
            row[4] = Val::Str("go".into());
            row
        };
        let mut s = row(signup, "signup");
        s[3] = Val::Str("organic".into());
        events.push(s)?;
        let mut k = row(key_at, "api_key_created");
        k[5] = Val::Str(key.into());
        events.push(k)?;
        let span = (self.end - key_at - 1).max(1) as u64;
        for _ in 0..calls {
            let ts = key_at + 1 + r.below(span) as i64;
            let e = r.weighted(&ENDPOINT_WEIGHTS);
            let status = if r.chance(0.01) { 503 } else { 200 };
            let mut c = row(ts, "api_call");
            c[5] = Val::Str(key.into());
            c[6] = Val::Str(ENDPOINTS[e].into());
            c[7] = Val::I32(status);
            c[8] = Val::F64((r.lognormal(ENDPOINT_LATENCY_MS[e], 0.5) * 10.0).round() / 10.0);
            c[9] = Val::Str("production".into());
            events.push(c)?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn developer(
        &self,
        d: u64,
        page_views: &mut Table,
        events: &mut Table,
        payments: &mut Table,
        surveys: &mut Table,
        tickets: &mut Table,
        developers: &mut Table,
    ) -> std::io::Result<()> {
        let mut r = self.root.fork(d);
        let dev = format!("dev{d:06}");
        let channel = CHANNELS[r.weighted(&CHANNEL_WEIGHTS)];
        let sdk = SDKS[r.weighted(&SDK_WEIGHTS)];
        let signup = self.random_time(&mut r);
        // Attributes from a stream of their own: the other tables stay as
        // they were before the table existed.
        let mut a = self.root.fork(3_000_000_000 + d);
        let country = COUNTRIES[a.weighted(&COUNTRY_WEIGHTS)];
        let size = COMPANY_SIZES[a.weighted(&COMPANY_SIZE_WEIGHTS)];
        // The anonymous id of the docs visits before the signup, which the
        // signup ties to the developer (an identify call).
        let visitor = format!("v{:08}", 900_000_000 + d);
        let version = |from: i64, plan: &str| {
            vec![
                Val::Str(dev.clone()),
                Val::Ts(from),
                Val::Str(plan.into()),
                Val::Str(country.into()),
                Val::Str(size.into()),
                Val::Str(channel.into()),
                Val::Str(visitor.clone()),
            ]
        };
        developers.push(version(signup, "free"))?;
        let ev = |ts: i64, event: &str| -> Vec<Val> {
            let mut row = vec![Val::Null; 13];
            row[0] = Val::Ts(ts);
            row[1] = Val::Str(dev.clone());
            row[2] = Val::Str(event.to_string());
            row
        };
        // The docs visit that led to the signup.
        for k in 0..1 + r.below(4) as i64 {
            let ts = (signup - (k + 1) * 20 * 60_000_000).max(self.start);
            let page = PAGES[r.below(PAGES.len() as u64) as usize];
            page_views.push(vec![
                Val::Ts(ts),
                Val::Str(visitor.clone()),
                Val::Str(page.into()),
                Val::Str(channel.into()),
            ])?;
        }
        let mut row = ev(signup, "signup");
        row[3] = Val::Str(channel.into());
        // A few malformed signups carry no sdk.
        row[4] = if r.chance(0.01) {
            Val::Null
        } else {
            Val::Str(sdk.into())
        };
        events.push(row)?;
        if r.chance(0.3) {
            let at = signup + 14 * MICROS_PER_DAY + r.below(MICROS_PER_DAY as u64) as i64;
            if at < self.end {
                let score = [10, 9, 9, 10, 8, 7, 8, 6, 5, 3, 9, 10, 2, 7][r.below(14) as usize];
                surveys.push(vec![Val::Ts(at), Val::Str(dev.clone()), Val::I32(score)])?;
            }
        }
        if !r.chance(0.85) {
            return Ok(());
        }
        let key_at = signup + r.exp(6.0 * MICROS_PER_HOUR as f64) as i64;
        if key_at >= self.end {
            return Ok(());
        }
        let key = format!("key_{d:06}_1");
        let mut row = ev(key_at, "api_key_created");
        row[5] = Val::Str(key.clone());
        row[4] = Val::Str(sdk.into());
        events.push(row)?;
        if !r.chance(0.75) {
            return Ok(());
        }
        let first_call = key_at + r.exp(20.0 * MICROS_PER_HOUR as f64) as i64;
        let lifetime = r.exp(45.0 * MICROS_PER_DAY as f64) as i64 + 3 * MICROS_PER_DAY;
        let last = (first_call + lifetime).min(self.end);
        let intensity = 4.0 * r.pareto(1.4).min(60.0);
        let production_at = if r.chance(0.5) {
            Some(first_call + r.exp(9.0 * MICROS_PER_DAY as f64) as i64)
        } else {
            None
        };
        let plan = if production_at.is_some() {
            match r.below(100) {
                0..=29 => Some(("starter", 49.0)),
                30..=39 => Some(("growth", 199.0)),
                _ => None,
            }
        } else {
            None
        };
        let breadth = 1 + r.below(ENDPOINTS.len() as u64) as usize;
        let mut t = first_call;
        let mut first = true;
        while t < last {
            let day_start = t - (t - self.start).rem_euclid(MICROS_PER_DAY);
            let day_index = (day_start - self.start) / MICROS_PER_DAY;
            let expected = intensity * weekday_factor(self.start_day + day_index) * (0.5 + r.f64());
            let mut n = match self.rate {
                None => expected.round() as i64,
                // Rounded at random, so a low rate still gives calls.
                Some(rate) => {
                    let x = expected * rate;
                    x.floor() as i64 + i64::from(r.chance(x.fract()))
                }
            };
            if first {
                n = n.max(1);
            }
            let in_prod = production_at.is_some_and(|p| t >= p);
            if in_prod {
                n *= 3;
            }
            for _ in 0..n.min(5_000) {
                let ts = if first {
                    t
                } else {
                    day_start + r.below(MICROS_PER_DAY as u64) as i64
                };
                if ts >= self.end || ts >= last {
                    continue;
                }
                let e = r.weighted(&ENDPOINT_WEIGHTS[..breadth.max(1)]);
                let incident = day_index == INCIDENT_DAY;
                let status = if first && r.chance(0.35) {
                    401
                } else if r.chance(if incident { 0.2 } else { 0.006 }) {
                    [500, 502, 503][r.below(3) as usize]
                } else if r.chance(0.04) {
                    [400, 404, 422, 429][r.below(4) as usize]
                } else {
                    200
                };
                let latency =
                    r.lognormal(ENDPOINT_LATENCY_MS[e], 0.5) * if incident { 3.0 } else { 1.0 };
                let env = if in_prod && ts >= production_at.unwrap_or(i64::MAX) {
                    "production"
                } else {
                    "sandbox"
                };
                let mut row = ev(ts, "api_call");
                row[4] = Val::Str(sdk.into());
                row[5] = Val::Str(key.clone());
                // A few malformed rows: the gateway lost the endpoint or the status.
                row[6] = if r.chance(0.002) {
                    Val::Null
                } else {
                    Val::Str(ENDPOINTS[e].into())
                };
                row[7] = if r.chance(0.001) {
                    Val::Null
                } else {
                    Val::I32(status)
                };
                row[8] = Val::F64((latency * 10.0).round() / 10.0);
                row[9] = Val::Str(env.into());
                events.push(row)?;
                if env == "production" && e == 0 && r.chance(0.3) {
                    let mut w = ev(ts + 2_000_000, "webhook_delivered");
                    w[6] = Val::Str(ENDPOINTS[e].into());
                    w[10] = Val::Bool(!r.chance(if incident { 0.3 } else { 0.03 }));
                    w[9] = Val::Str(env.into());
                    if ts + 2_000_000 < self.end {
                        events.push(w)?;
                    }
                }
                first = false;
            }
            first = false;
            t = day_start + MICROS_PER_DAY;
        }
        if let (Some((plan, price)), Some(prod)) = (plan, production_at) {
            let upgraded = prod + r.exp(4.0 * MICROS_PER_DAY as f64) as i64;
            if upgraded < last {
                let mut row = ev(upgraded, "plan_changed");
                row[11] = Val::Str("free".into());
                row[12] = Val::Str(plan.into());
                events.push(row)?;
                developers.push(version(upgraded, plan))?;
                let mut paid = upgraded;
                while paid < last {
                    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid");
                    let day = epoch + chrono::Duration::days(paid.div_euclid(MICROS_PER_DAY));
                    let period = chrono::Datelike::with_day(&day, 1).expect("day 1 exists");
                    let period_days = (period - epoch).num_days() as i32;
                    payments.push(vec![
                        Val::Ts(paid),
                        Val::Str(dev.clone()),
                        Val::F64(price),
                        Val::Str("USD".into()),
                        Val::Str("subscription".into()),
                        Val::Str(plan.into()),
                        Val::Date(period_days),
                        Val::Null,
                    ])?;
                    if intensity > 40.0 || r.chance(0.1) {
                        let calls = (1000.0 * r.pareto(1.5)).round() as i64;
                        payments.push(vec![
                            Val::Ts(paid + MICROS_PER_HOUR),
                            Val::Str(dev.clone()),
                            Val::F64(calls as f64 * 0.002),
                            Val::Str("USD".into()),
                            Val::Str("overage".into()),
                            Val::Str(plan.into()),
                            Val::Date(period_days),
                            Val::I64(calls),
                        ])?;
                    }
                    paid += 30 * MICROS_PER_DAY;
                }
            }
        }
        let n_tickets = (r.exp(0.4) * if production_at.is_some() { 2.0 } else { 1.0 }) as i64;
        for _ in 0..n_tickets {
            let at = first_call + r.below((last - first_call).max(1) as u64) as i64;
            let sev = ["low", "low", "medium", "high"][r.below(4) as usize];
            tickets.push(vec![
                Val::Ts(at),
                Val::Str(dev.clone()),
                Val::Str(sev.into()),
            ])?;
        }
        Ok(())
    }
}
