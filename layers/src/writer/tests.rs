//! Unit tests of the non-blocking writer.

use autotel_test_support::writer::Sink;

use super::*;

#[test]
fn flush_within_writes_out_before_the_interval() {
    let chunks = Sink::new();
    let (mut writer, _guard) = NonBlocking::builder()
        .with_flush_interval(Duration::from_secs(3600))
        .build(chunks.clone())
        .unwrap();
    assert!(
        writer.flush_within(Duration::from_secs(1)),
        "nothing to write"
    );
    for i in 0..3 {
        writer.write_all(format!("line {i}\n").as_bytes()).unwrap();
    }
    assert!(writer.flush_within(Duration::from_secs(30)));
    assert_eq!(chunks.text(), "line 0\nline 1\nline 2\n");
    writer.write_all(b"line 3\n").unwrap();
    assert!(writer.flush_within(Duration::from_secs(30)));
    assert!(chunks.text().ends_with("line 3\n"));
}

#[test]
fn drop_writes_out_everything_in_order() {
    let chunks = Sink::new();
    let (writer, guard) = NonBlocking::builder().build(chunks.clone()).unwrap();
    for i in 0..1000 {
        writeln!(&writer, "line {i}").unwrap();
    }
    drop(guard);
    let all = chunks.text();
    let expected: String = (0..1000).map(|i| format!("line {i}\n")).collect();
    assert_eq!(all, expected);
}

#[test]
fn lines_after_the_guard_are_dropped_and_counted() {
    let (mut writer, guard) = NonBlocking::builder().build(io::sink()).unwrap();
    drop(guard);
    writer.write_all(b"late\n").unwrap();
    assert_eq!(writer.dropped(), 1);
}

#[test]
fn a_line_larger_than_the_buffer_is_kept_whole() {
    let chunks = Sink::new();
    let (writer, guard) = NonBlocking::builder()
        .with_buffer_size(8)
        .build(chunks.clone())
        .unwrap();
    (&writer).write_all(b"short\n").unwrap();
    (&writer)
        .write_all(b"a line longer than eight bytes\n")
        .unwrap();
    drop(guard);
    let all = chunks.text();
    assert_eq!(all, "short\na line longer than eight bytes\n");
    assert_eq!(writer.dropped(), 0);
}

struct Broken;

impl Write for Broken {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::other("disk gone"))
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn write_errors_count_the_lines_lost() {
    let (writer, guard) = NonBlocking::builder().build(Broken).unwrap();
    (&writer).write_all(b"one\ntwo\n").unwrap();
    drop(guard);
    assert_eq!(writer.dropped(), 2);
}
