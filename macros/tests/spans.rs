//! The spans `#[instrument_all]` makes: names, parents, levels, recorded
//! fields, and the span metrics that follow, sync and async.

use autotel_layers::testing::{Capture, Run, capture};
use autotel_presets::instrument_all;
use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt as _;

#[instrument_all(fields(tenant))]
mod orders {
    pub fn place(tenant: &str, password: &str, quantity: u32) -> u32 {
        let _ = password;
        reserve(quantity) + price(tenant, quantity)
    }

    fn reserve(quantity: u32) -> u32 {
        quantity
    }

    #[autotel(fields(quantity, currency = "EUR"), name = "pricing")]
    fn price(tenant: &str, quantity: u32) -> u32 {
        let _ = tenant;
        quantity * 10
    }

    #[autotel(level = "debug")]
    pub fn audit() {}

    #[autotel(skip)]
    pub fn untraced() {}

    pub async fn ship(tenant: String, parcels: u32) -> u32 {
        let mut shipped = 0;
        for _ in 0..parcels {
            shipped += label(parcels).await;
        }
        let _ = tenant;
        shipped
    }

    async fn label(parcels: u32) -> u32 {
        tokio::task::yield_now().await;
        parcels.min(1)
    }
}

#[autotel_layers::instrument_all(level = "debug")]
mod quiet {
    pub fn background() {}
}

fn parent_name<'r>(run: &'r Run, child: &str) -> Option<&'r str> {
    let parent = run.span(child)?.parent()?;
    run.spans()
        .iter()
        .find(|span| span.id() == parent)
        .map(|span| span.name())
}

#[test]
fn spans_are_named_and_nested_like_the_calls() {
    let run = capture(|| {
        orders::place("acme", "hunter2", 3);
    });
    let names: Vec<_> = run.spans().iter().map(|span| span.name()).collect();
    assert_eq!(names, ["orders::reserve", "pricing", "orders::place"]);
    assert_eq!(parent_name(&run, "orders::reserve"), Some("orders::place"));
    assert_eq!(parent_name(&run, "pricing"), Some("orders::place"));
    assert_eq!(parent_name(&run, "orders::place"), None);
    assert_eq!(run.span("orders::place").unwrap().target(), "spans::orders");
    assert_eq!(
        run.counter(
            "span_calls_total",
            &[("span_name", "orders::place"), ("status", "ok")]
        ),
        1
    );
    assert_eq!(
        run.histogram("span_duration_seconds", &[("span_name", "pricing")])
            .len(),
        1
    );
}

#[test]
fn only_listed_arguments_are_recorded() {
    let run = capture(|| {
        orders::place("acme", "hunter2", 3);
    });
    let place = run.span("orders::place").unwrap();
    let fields: Vec<_> = place.fields().iter().map(|(name, _)| *name).collect();
    assert_eq!(fields, ["tenant"]);
    assert_eq!(place.field("tenant").unwrap().to_string(), "acme");
    // `reserve` has no `tenant` argument: nothing recorded.
    assert!(run.span("orders::reserve").unwrap().fields().is_empty());
    let pricing = run.span("pricing").unwrap();
    assert_eq!(pricing.field("quantity").unwrap().to_string(), "3");
    assert_eq!(pricing.field("currency").unwrap().to_string(), "EUR");
    assert_eq!(pricing.field("tenant").unwrap().to_string(), "acme");
    let everything = format!("{:?}", run.spans());
    assert!(!everything.contains("hunter2"), "{everything}");
}

#[test]
fn levels_and_skip_apply() {
    let traced = |filter: LevelFilter| {
        let capture = Capture::new();
        let subscriber = tracing_subscriber::registry().with(capture.layer().with_filter(filter));
        tracing::subscriber::with_default(subscriber, || {
            orders::audit();
            orders::untraced();
            quiet::background();
            orders::place("acme", "", 1);
        });
        let run = capture.snapshot();
        let mut names: Vec<String> = run
            .spans()
            .iter()
            .map(|span| span.name().to_owned())
            .collect();
        names.sort();
        names
    };
    assert_eq!(
        traced(LevelFilter::DEBUG),
        [
            "orders::audit",
            "orders::place",
            "orders::reserve",
            "pricing",
            "quiet::background"
        ]
    );
    assert_eq!(
        traced(LevelFilter::INFO),
        ["orders::place", "orders::reserve", "pricing"]
    );
}

#[test]
fn async_functions_are_spans_over_every_poll() {
    let run = capture(|| {
        let shipped = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(orders::ship("acme".into(), 3));
        assert_eq!(shipped, 3);
    });
    let labels: Vec<_> = run
        .spans()
        .iter()
        .filter(|span| span.name() == "orders::label")
        .collect();
    assert_eq!(labels.len(), 3);
    let ship = run.span("orders::ship").unwrap();
    assert!(labels.iter().all(|label| label.parent() == Some(ship.id())));
    assert_eq!(ship.field("tenant").unwrap().to_string(), "acme");
    assert_eq!(
        run.counter(
            "span_calls_total",
            &[("span_name", "orders::label"), ("status", "ok")]
        ),
        3
    );
}
