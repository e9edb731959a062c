//! Unit tests of the non-blocking writer.

use std::sync::Mutex;

use super::*;

/// A destination that keeps every chunk it is given.
#[derive(Clone, Default)]
struct Chunks(Arc<Mutex<Vec<Vec<u8>>>>);

impl Write for Chunks {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().push(buf.to_vec());
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn flush_within_writes_out_before_the_interval() {
    let chunks = Chunks::default();
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
    let written: Vec<u8> = chunks.0.lock().unwrap().concat();
    assert_eq!(written, b"line 0\nline 1\nline 2\n");
    writer.write_all(b"line 3\n").unwrap();
    assert!(writer.flush_within(Duration::from_secs(30)));
    assert!(chunks.0.lock().unwrap().concat().ends_with(b"line 3\n"));
}

#[test]
fn drop_writes_out_everything_in_order() {
    let chunks = Chunks::default();
    let (writer, guard) = NonBlocking::builder().build(chunks.clone()).unwrap();
    for i in 0..1000 {
        writeln!(&writer, "line {i}").unwrap();
    }
    drop(guard);
    let all = String::from_utf8(chunks.0.lock().unwrap().concat()).unwrap();
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
    let chunks = Chunks::default();
    let (writer, guard) = NonBlocking::builder()
        .with_buffer_size(8)
        .build(chunks.clone())
        .unwrap();
    (&writer).write_all(b"short\n").unwrap();
    (&writer)
        .write_all(b"a line longer than eight bytes\n")
        .unwrap();
    drop(guard);
    let all = String::from_utf8(chunks.0.lock().unwrap().concat()).unwrap();
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
