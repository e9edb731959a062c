//! What the `#[instrument_all]` attribute of autotel-macros needs at run
//! time: the error type of a failed call, and the text of its error.

use std::fmt;

/// The `error.type` of an error: the `error_type` label of
/// `span_errors_total` and `step_errors_total`, and the `error.type` field
/// of the error event, when a function traced by `#[instrument_all]` returns
/// it in an `Err`.
///
/// Without an implementation, the error type is the Rust type's name
/// ([`std::any::type_name`], such as `my_app::db::QueryError`). Implement it
/// to give each kind of error its own low-cardinality name:
///
/// ```
/// use autotel_layers::ErrorType;
///
/// #[derive(Debug)]
/// enum SaveError {
///     DiskFull,
///     ReadOnly,
/// }
///
/// impl ErrorType for SaveError {
///     fn error_type(&self) -> &str {
///         match self {
///             SaveError::DiskFull => "disk_full",
///             SaveError::ReadOnly => "read_only",
///         }
///     }
/// }
/// ```
///
/// [`std::io::Error`] implements it with the name of its
/// [`kind`](std::io::Error::kind) in snake case (`not_found`,
/// `connection_refused`, ...), or `std::io::Error` for the other kinds.
/// The value becomes a metric label: keep the set of values small (never
/// a message, an id or a path).
pub trait ErrorType {
    /// The error's type, as a short stable name.
    fn error_type(&self) -> &str;
}

impl ErrorType for std::io::Error {
    fn error_type(&self) -> &str {
        use std::io::ErrorKind::*;
        match self.kind() {
            NotFound => "not_found",
            PermissionDenied => "permission_denied",
            ConnectionRefused => "connection_refused",
            ConnectionReset => "connection_reset",
            ConnectionAborted => "connection_aborted",
            NotConnected => "not_connected",
            AddrInUse => "addr_in_use",
            AddrNotAvailable => "addr_not_available",
            BrokenPipe => "broken_pipe",
            AlreadyExists => "already_exists",
            WouldBlock => "would_block",
            InvalidInput => "invalid_input",
            InvalidData => "invalid_data",
            TimedOut => "timed_out",
            WriteZero => "write_zero",
            Interrupted => "interrupted",
            Unsupported => "unsupported",
            UnexpectedEof => "unexpected_eof",
            OutOfMemory => "out_of_memory",
            _ => "std::io::Error",
        }
    }
}

/// Support for the code that `#[instrument_all]` generates; not a public
/// API.
///
/// The tiers below pick, for an error of type `E`, the most specific
/// description it offers (autoref-based method resolution: the impl on the
/// type with fewer references wins when its bounds hold).
#[doc(hidden)]
pub mod __private {
    use std::fmt;

    pub use super::ErrorType;
    pub use tracing;
    pub use tracing::Instrument;

    /// An error whose `error.type` is looked up.
    pub struct Kind<'a, E: ?Sized>(pub &'a E);

    /// First choice: the error's [`ErrorType`].
    pub trait KindViaErrorType<'a> {
        fn __autotel_error_type(&self) -> &'a str;
    }

    impl<'a, E: ErrorType + ?Sized> KindViaErrorType<'a> for Kind<'a, E> {
        fn __autotel_error_type(&self) -> &'a str {
            self.0.error_type()
        }
    }

    /// Otherwise: the name of its type.
    pub trait KindViaTypeName<'a> {
        fn __autotel_error_type(&self) -> &'a str;
    }

    impl<'a, E: ?Sized> KindViaTypeName<'a> for &Kind<'a, E> {
        fn __autotel_error_type(&self) -> &'a str {
            std::any::type_name::<E>()
        }
    }

    /// An error whose text is looked up.
    pub struct Text<'a, E>(pub &'a E);

    /// The text of an error: its `Display`, else its `Debug`, else the name
    /// of its type.
    pub enum ErrorText<'a> {
        Display(&'a dyn fmt::Display),
        Debug(&'a dyn fmt::Debug),
        TypeName(&'static str),
    }

    impl fmt::Display for ErrorText<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                Self::Display(error) => fmt::Display::fmt(error, f),
                Self::Debug(error) => fmt::Debug::fmt(error, f),
                Self::TypeName(name) => f.write_str(name),
            }
        }
    }

    // Called as `(&&Text(error)).__autotel_error_text()`: method lookup
    // tries `Self = &Text` first, then `Self = &&Text`, then `Self = Text`.

    /// First choice: `Display`.
    pub trait TextViaDisplay<'a> {
        fn __autotel_error_text(&self) -> ErrorText<'a>;
    }

    impl<'a, E: fmt::Display> TextViaDisplay<'a> for &Text<'a, E> {
        fn __autotel_error_text(&self) -> ErrorText<'a> {
            ErrorText::Display(self.0)
        }
    }

    /// Then `Debug`.
    pub trait TextViaDebug<'a> {
        fn __autotel_error_text(&self) -> ErrorText<'a>;
    }

    impl<'a, E: fmt::Debug> TextViaDebug<'a> for &&Text<'a, E> {
        fn __autotel_error_text(&self) -> ErrorText<'a> {
            ErrorText::Debug(self.0)
        }
    }

    /// Last: the type's name.
    pub trait TextViaTypeName<'a> {
        fn __autotel_error_text(&self) -> ErrorText<'a>;
    }

    impl<'a, E> TextViaTypeName<'a> for Text<'a, E> {
        fn __autotel_error_text(&self) -> ErrorText<'a> {
            ErrorText::TypeName(std::any::type_name::<E>())
        }
    }
}

impl<E: ?Sized> fmt::Debug for __private::Kind<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Kind")
            .field(&std::any::type_name::<E>())
            .finish()
    }
}

impl<E> fmt::Debug for __private::Text<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Text")
            .field(&std::any::type_name::<E>())
            .finish()
    }
}

impl fmt::Debug for __private::ErrorText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ErrorText")
            .field(&format_args!("{self}"))
            .finish()
    }
}

#[cfg(test)]
// The borrows choose the tier, as in the generated code.
#[allow(clippy::needless_borrow)]
mod tests {
    use super::__private::*;

    #[derive(Debug)]
    struct Plain;

    struct Opaque;

    #[derive(Debug)]
    struct Kinded;

    impl std::fmt::Display for Kinded {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("kinded failure")
        }
    }

    impl super::ErrorType for Kinded {
        fn error_type(&self) -> &str {
            "kinded"
        }
    }

    #[test]
    fn the_most_specific_description_wins() {
        assert_eq!((&Kind(&Kinded)).__autotel_error_type(), "kinded");
        assert!((&Kind(&Plain)).__autotel_error_type().ends_with("::Plain"));
        assert_eq!(
            (&&Text(&Kinded)).__autotel_error_text().to_string(),
            "kinded failure"
        );
        assert_eq!((&&Text(&Plain)).__autotel_error_text().to_string(), "Plain");
        assert!(
            (&&Text(&Opaque))
                .__autotel_error_text()
                .to_string()
                .ends_with("::Opaque")
        );
    }

    #[test]
    fn io_errors_are_named_by_kind() {
        let error = std::io::Error::from(std::io::ErrorKind::NotFound);
        assert_eq!((&Kind(&error)).__autotel_error_type(), "not_found");
        let other = std::io::Error::other("boom");
        assert_eq!((&Kind(&other)).__autotel_error_type(), "std::io::Error");
    }
}
