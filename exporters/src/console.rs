//! Development output on the console.
