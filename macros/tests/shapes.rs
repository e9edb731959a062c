//! Every supported shape of function builds under `#[instrument_all]`, in a
//! crate that forbids `unsafe` code and names no `tracing` of its own, and
//! gets its span.

// The unsafe fn below is a shape to support; the generated code adds no
// `unsafe` of its own, which `forbid` would reject.
#![deny(unsafe_code)]
// The expansion adds no warning of its own to the code it wraps.
#![deny(unused)]

use std::fmt::Display;
use std::pin::Pin;

use autotel_layers::testing::{Run, SpanStatus, capture};
use autotel_presets::instrument_all;

#[instrument_all]
mod shapes {
    use std::fmt::{Debug, Display};

    // On one line, as rustc's unused-braces lint looks at such bodies.
    #[rustfmt::skip]
    pub fn one_expression(n: u64) -> u64 { n.wrapping_mul(3) }

    pub fn generic<T: Display + Clone>(value: &T) -> String {
        value.to_string()
    }

    pub fn generic_where<T>(items: Vec<T>) -> usize
    where
        T: Debug,
    {
        items.len()
    }

    pub fn impl_trait_argument(value: impl Display) -> String {
        format!("<{value}>")
    }

    pub fn returns_impl_trait(n: u32) -> impl Iterator<Item = u32> {
        0..n
    }

    pub fn early_return(n: i32) -> &'static str {
        if n < 0 {
            return "negative";
        }
        "non-negative"
    }

    pub fn question_mark(text: &str) -> Result<i64, std::num::ParseIntError> {
        let n: i64 = text.trim().parse()?;
        Ok(n * 2)
    }

    pub fn early_return_err(n: i32) -> Result<i32, String> {
        if n == 0 {
            return Err("zero".to_owned());
        }
        Ok(10 / n)
    }

    pub fn option_question_mark(values: &[u8]) -> Option<u8> {
        let first = values.first()?;
        Some(first + 1)
    }

    pub fn borrowed<'a>(text: &'a str, _other: &str) -> &'a str {
        text.split(',').next().unwrap_or(text)
    }

    pub fn elided(text: &str) -> Result<&str, ()> {
        text.split_once(':').map(|(head, _)| head).ok_or(())
    }

    pub fn generic_error<E: Display>(error: E) -> Result<(), E> {
        Err(error)
    }

    pub fn unbounded_error<E>(error: E) -> Result<(), E> {
        Err(error)
    }

    pub fn mutable_argument(mut n: u64) -> u64 {
        n += 1;
        n
    }

    pub fn pattern_argument((a, b): (u32, u32)) -> u32 {
        a + b
    }

    pub const fn constant() -> u32 {
        7
    }

    pub const CONSTANT: u32 = constant();

    #[allow(unsafe_code)]
    pub unsafe fn raw_read(pointer: *const u32) -> u32 {
        // SAFETY: the caller passes a valid pointer.
        unsafe { *pointer }
    }

    #[allow(unsafe_code)]
    pub unsafe fn raw_checked(pointer: *const u32) -> Result<u32, String> {
        if pointer.is_null() {
            return Err("null".into());
        }
        // SAFETY: the caller passes a valid or null pointer.
        Ok(unsafe { *pointer })
    }

    pub fn never_returns_normally(flag: bool) -> u8 {
        if flag {
            panic!("asked to panic");
        }
        1
    }

    pub async fn async_value(n: u64) -> u64 {
        n * 3
    }

    pub async fn async_result(text: String) -> Result<u64, std::num::ParseIntError> {
        let n: u64 = text.parse()?;
        Ok(async_value(n).await)
    }

    #[tracing::instrument(name = "own_instrument")]
    pub fn already_instrumented(n: u8) -> u8 {
        n
    }

    pub mod inner {
        pub fn nested() -> u8 {
            1
        }

        pub mod deeper {
            pub fn nested_twice() -> u8 {
                2
            }
        }
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn not_traced() {}
    }
}

/// A type whose methods cover the receivers.
#[derive(Debug)]
struct Counter {
    count: u64,
}

#[instrument_all]
impl Counter {
    pub fn new() -> Self {
        Self { count: 0 }
    }

    pub fn by_ref(&self) -> u64 {
        self.count
    }

    pub fn by_mut(&mut self) -> &mut u64 {
        self.count += 1;
        &mut self.count
    }

    pub fn by_value(self) -> u64 {
        self.count
    }

    #[allow(clippy::boxed_local)] // the receiver is the shape under test
    pub fn boxed(self: Box<Self>) -> u64 {
        self.count
    }

    pub fn pinned(self: Pin<&mut Self>) -> u64 {
        self.get_mut().count
    }

    pub fn fallible(&mut self, by: u64) -> Result<u64, std::io::Error> {
        self.count = self
            .count
            .checked_add(by)
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
        Ok(self.count)
    }

    pub async fn async_by_ref(&self) -> u64 {
        self.count
    }
}

impl Default for Counter {
    fn default() -> Self {
        Self::new()
    }
}

/// A trait with sync and `async fn` methods.
trait Store {
    /// Reads a key.
    fn get(&self, key: &str) -> Option<u64>;
    /// Writes a key.
    fn put(&mut self, key: &str, value: u64) -> impl Future<Output = Result<(), String>>;
    /// A default method, left alone.
    fn describe(&self) -> &'static str {
        "store"
    }
}

#[instrument_all]
impl Store for Counter {
    fn get(&self, key: &str) -> Option<u64> {
        (key == "count").then_some(self.count)
    }

    async fn put(&mut self, key: &str, value: u64) -> Result<(), String> {
        if key != "count" {
            return Err(format!("no key {key}"));
        }
        self.count = value;
        Ok(())
    }
}

/// A generic type.
struct Wrapper<T>(T);

#[instrument_all]
impl<T: Display> Wrapper<T> {
    pub fn show(&self) -> String {
        self.0.to_string()
    }
}

fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime starts")
        .block_on(future)
}

fn names(run: &Run) -> Vec<&str> {
    run.spans().iter().map(|span| span.name()).collect()
}

#[test]
fn free_functions_of_every_shape_are_traced() {
    let run = capture(|| {
        assert_eq!(shapes::one_expression(2), 6);
        assert_eq!(shapes::generic(&5), "5");
        assert_eq!(shapes::generic_where(vec![1, 2]), 2);
        assert_eq!(shapes::impl_trait_argument(3), "<3>");
        assert_eq!(shapes::returns_impl_trait(3).sum::<u32>(), 3);
        assert_eq!(shapes::early_return(-1), "negative");
        assert_eq!(shapes::question_mark("21"), Ok(42));
        assert!(shapes::early_return_err(0).is_err());
        assert_eq!(shapes::option_question_mark(&[1]), Some(2));
        assert_eq!(shapes::borrowed("a,b", "c"), "a");
        assert_eq!(shapes::elided("k:v"), Ok("k"));
        assert!(shapes::generic_error("bad").is_err());
        assert!(shapes::unbounded_error(()).is_err());
        assert_eq!(shapes::mutable_argument(1), 2);
        assert_eq!(shapes::pattern_argument((1, 2)), 3);
        assert_eq!(shapes::CONSTANT, 7);
        let value = 9;
        #[allow(unsafe_code)]
        // SAFETY: a pointer to a live local.
        let read = unsafe { shapes::raw_read(&value) };
        assert_eq!(read, 9);
        #[allow(unsafe_code)]
        // SAFETY: null is handled.
        let checked = unsafe { shapes::raw_checked(std::ptr::null()) };
        assert!(checked.is_err());
        assert_eq!(shapes::never_returns_normally(false), 1);
        assert_eq!(block_on(shapes::async_value(2)), 6);
        assert_eq!(block_on(shapes::async_result("2".into())), Ok(6));
        assert_eq!(shapes::already_instrumented(1), 1);
        assert_eq!(shapes::inner::nested(), 1);
        assert_eq!(shapes::inner::deeper::nested_twice(), 2);
    });
    let expected = [
        "shapes::one_expression",
        "shapes::generic",
        "shapes::generic_where",
        "shapes::impl_trait_argument",
        "shapes::returns_impl_trait",
        "shapes::early_return",
        "shapes::question_mark",
        "shapes::early_return_err",
        "shapes::option_question_mark",
        "shapes::borrowed",
        "shapes::elided",
        "shapes::generic_error",
        "shapes::unbounded_error",
        "shapes::mutable_argument",
        "shapes::pattern_argument",
        "shapes::raw_read",
        "shapes::raw_checked",
        "shapes::never_returns_normally",
        "shapes::async_value",
        "shapes::async_value",
        "shapes::async_result",
        "own_instrument",
        "shapes::inner::nested",
        "shapes::inner::deeper::nested_twice",
    ];
    let mut got = names(&run);
    got.sort_unstable();
    let mut expected = expected.to_vec();
    expected.sort_unstable();
    assert_eq!(got, expected);
    // The `const fn` has no span, and `#[tracing::instrument]` keeps its own.
    assert!(run.span("shapes::constant").is_none());
    assert!(run.span("shapes::already_instrumented").is_none());
}

#[test]
fn a_panic_closes_the_span() {
    let run = capture(|| {
        let panicked = std::panic::catch_unwind(|| shapes::never_returns_normally(true));
        assert!(panicked.is_err());
    });
    assert_eq!(names(&run), ["shapes::never_returns_normally"]);
}

#[test]
fn methods_of_every_receiver_are_traced() {
    let run = capture(|| {
        let mut counter = Counter::new();
        *counter.by_mut() += 1;
        assert_eq!(counter.by_ref(), 2);
        assert_eq!(Pin::new(&mut counter).pinned(), 2);
        assert_eq!(counter.fallible(1).unwrap(), 3);
        assert!(counter.fallible(u64::MAX).is_err());
        assert_eq!(block_on(counter.async_by_ref()), 3);
        assert_eq!(counter.get("count"), Some(3));
        assert_eq!(counter.describe(), "store");
        assert!(block_on(counter.put("other", 1)).is_err());
        assert!(block_on(counter.put("count", 5)).is_ok());
        assert_eq!(Box::new(Counter::new()).boxed(), 0);
        assert_eq!(counter.by_value(), 5);
        assert_eq!(Wrapper(1.5).show(), "1.5");
    });
    assert_eq!(
        names(&run),
        [
            "Counter::new",
            "Counter::by_mut",
            "Counter::by_ref",
            "Counter::pinned",
            "Counter::fallible",
            "Counter::fallible",
            "Counter::async_by_ref",
            "Counter::get",
            "Counter::put",
            "Counter::put",
            "Counter::new",
            "Counter::boxed",
            "Counter::by_value",
            "Wrapper::show",
        ]
    );
    let failed: Vec<_> = run
        .spans()
        .iter()
        .filter(|span| span.status() == SpanStatus::Error)
        .map(|span| span.name())
        .collect();
    assert_eq!(failed, ["Counter::fallible", "Counter::put"]);
    assert_eq!(
        run.counter(
            "span_errors_total",
            &[
                ("span_name", "Counter::fallible"),
                ("error_type", "invalid_input")
            ]
        ),
        1
    );
}
